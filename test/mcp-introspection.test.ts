import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CalendarServer, createCalendarServer } from '../examples/mcp-calendar/server.js';
import type { MandateNode } from '../src/node.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startListeningNode, type TestDatabase } from './support/nodes.js';
import { basic, form } from './support/oauth-fixtures.js';
import { freePort } from './support/ports.js';

/**
 * examples/mcp-calendar serving two organizations against a real Mandate: with its resource
 * credential it introspects every token, so a revoked token is refused on the very next call,
 * while local JWT verification keeps accepting it until it expires.
 */
describe.each(dialects)('the calendar MCP server with introspection on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let issuer: string;
  let resource: string;
  let introspecting: CalendarServer;
  let local: CalendarServer;
  const clients: Record<string, { client_id: string; client_secret: string }> = {};

  const admin = async (url: string, payload: object) => {
    const res = await node.app.inject({ method: 'POST', url, payload, headers: adminHeaders });
    expect(res.statusCode).toBe(201);
    return res.json();
  };
  const tokenOf = async (org: string) => {
    const client = clients[org] as { client_id: string; client_secret: string };
    const res = await fetch(`${issuer}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, client.client_secret) },
      body: form({ grant_type: 'client_credentials', resource, scope: 'calendar.read' }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  };
  const listEvents = (url: string, token: string) =>
    fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'list_events', arguments: {} } }),
    });

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    ({ node, issuer } = await startListeningNode(db));
    resource = `http://127.0.0.1:${await freePort()}/mcp`;
    await admin('/v1/resources', {
      identifier: resource,
      name: 'Calendar',
      scopes: [{ name: 'calendar.read', description: 'See your calendar events' }],
    });
    for (const slug of ['acme', 'globex']) {
      await admin('/v1/organizations', { slug, name: slug });
      clients[slug] = await admin(`/v1/organizations/${slug}/clients`, {
        client_name: 'Calendar agent',
        client_type: 'confidential',
        grant_types: ['client_credentials'],
        scope: 'calendar.read',
        resources: [resource],
      });
    }
    const credential = await admin(`/v1/resources/${encodeURIComponent(resource)}/credentials`, { name: 'calendar server' });
    introspecting = await createCalendarServer({
      issuer,
      resource,
      introspection: { clientId: credential.id, clientSecret: credential.secret },
    });
    // The same resource served by local JWT verification only, on another port.
    local = await createCalendarServer({ issuer, resource, port: await freePort() });
  });
  afterAll(async () => {
    await introspecting?.close();
    await local?.close();
    await node?.shutdown();
    await db?.dispose();
  });

  it("admits every organization's live tokens and refuses a revoked one at once", async () => {
    const acme = await tokenOf('acme');
    const globex = await tokenOf('globex');
    expect((await listEvents(introspecting.url, acme)).status).toBe(200);
    expect((await listEvents(introspecting.url, globex)).status).toBe(200);

    const acmeClient = clients.acme as { client_id: string; client_secret: string };
    const revoked = await fetch(`${issuer}/oauth2/revoke`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(acmeClient.client_id, acmeClient.client_secret),
      },
      body: form({ token: acme }),
    });
    expect(revoked.status).toBe(200);

    const refused = await listEvents(introspecting.url, acme);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('invalid_token');
    expect((await listEvents(introspecting.url, globex)).status).toBe(200);
  });

  it('local verification alone cannot see the revocation', async () => {
    const token = await tokenOf('acme');
    const acmeClient = clients.acme as { client_id: string; client_secret: string };
    await fetch(`${issuer}/oauth2/revoke`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(acmeClient.client_id, acmeClient.client_secret),
      },
      body: form({ token }),
    });
    expect((await listEvents(introspecting.url, token)).status).toBe(401);
    // Until the token expires, a signature check alone still admits it.
    expect((await listEvents(local.url, token)).status).toBe(200);
  });
});
