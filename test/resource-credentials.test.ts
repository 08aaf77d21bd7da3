import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { FrozenClock } from './support/clock.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startListeningNode, type TestDatabase } from './support/nodes.js';
import { basic, createOAuthFixture, form, MCP, type OAuthFixture } from './support/oauth-fixtures.js';

const OTHER = 'https://reports.acme.test/';

describe.each(dialects)('a multi-tenant resource server introspects with its own credential on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let fx: OAuthFixture;
  let otherClient: { client_id: string; client_secret: string };
  const clock = new FrozenClock(Date.now());

  const post = (path: string, body: string, authorization?: string) =>
    node.app.inject({
      method: 'POST',
      url: path,
      payload: body,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization && { authorization }) },
    });
  const admin = (method: 'POST' | 'GET' | 'DELETE', url: string, payload?: object) =>
    node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
  const tokenFor = async (client: { client_id: string; client_secret: string }, resource = MCP) => {
    const res = await post(
      '/oauth2/token',
      form({ grant_type: 'client_credentials', resource }),
      basic(client.client_id, client.client_secret),
    );
    expect(res.statusCode).toBe(200);
    return res.json().access_token as string;
  };
  const createCredential = async (resource = MCP) => {
    const res = await admin('POST', `/v1/resources/${encodeURIComponent(resource)}/credentials`, { name: 'MCP server' });
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    return res.json() as { id: string; secret: string };
  };

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    ({ node } = await startListeningNode(db, { clock }));
    fx = await createOAuthFixture(node);
    expect(
      (
        await admin('POST', '/v1/resources', {
          identifier: OTHER,
          name: 'Reports',
          scopes: [{ name: 'reports.read', description: 'Read reports' }],
        })
      ).statusCode,
    ).toBe(201);
    const created = await admin('POST', '/v1/organizations/acme/clients', {
      client_name: 'Reports agent',
      client_type: 'confidential',
      grant_types: ['client_credentials'],
      scope: 'reports.read',
      resources: [OTHER],
    });
    otherClient = created.json();
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it('reads the tokens of every organization whose aud is the resource, and nothing else', async () => {
    const credential = await createCredential();
    expect(credential.id).toMatch(/^rsc_/);
    expect(credential.secret).toMatch(/^mnd_rs_/);
    const auth = basic(credential.id, credential.secret);

    const acmeToken = await tokenFor(fx.agentClient);
    const globexToken = await tokenFor(fx.globexClient);
    const acme = await post('/oauth2/introspect', form({ token: acmeToken }), auth);
    expect(acme.statusCode).toBe(200);
    expect(acme.json()).toMatchObject({ active: true, aud: MCP, org_id: fx.acme.id });
    expect((await post('/oauth2/introspect', form({ token: globexToken }), auth)).json()).toMatchObject({
      active: true,
      aud: MCP,
      org_id: fx.globex.id,
    });

    // A token for another resource, even of the same organization: nothing leaks (RFC 7662 §2.2).
    const otherToken = await tokenFor(otherClient, OTHER);
    expect((await post('/oauth2/introspect', form({ token: otherToken }), auth)).json()).toEqual({ active: false });

    // A revoked token reads inactive at once.
    const revoke = await post('/oauth2/revoke', form({ token: acmeToken }), basic(fx.agentClient.client_id, fx.agentClient.client_secret));
    expect(revoke.statusCode).toBe(200);
    expect((await post('/oauth2/introspect', form({ token: acmeToken }), auth)).json()).toEqual({ active: false });

    // Client-based introspection keeps working as before.
    const sameOrg = await post(
      '/oauth2/introspect',
      form({ token: otherToken }),
      basic(fx.agentClient.client_id, fx.agentClient.client_secret),
    );
    expect(sameOrg.json().active).toBe(true);
    expect(
      (
        await post('/oauth2/introspect', form({ token: globexToken }), basic(fx.agentClient.client_id, fx.agentClient.client_secret))
      ).json(),
    ).toEqual({ active: false });
  });

  it('refuses a wrong, foreign or revoked credential with 401 invalid_client; rotation overlaps', async () => {
    const token = await tokenFor(fx.agentClient);
    const first = await createCredential();
    const other = await createCredential(OTHER);
    const refused = async (authorization: string) => {
      const res = await post('/oauth2/introspect', form({ token }), authorization);
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toBe('invalid_client');
      expect(res.headers['www-authenticate']).toMatch(/^Basic/);
    };
    await refused(basic(first.id, other.secret));
    await refused(basic(first.id, `${first.secret}x`));
    await refused(basic('rsc_01jqz5x3m4c5d6e7f8g9h0jkmn', first.secret));

    // Rotation: a second credential, then the first revoked; only the second still works.
    const second = await createCredential();
    const listed = await admin('GET', `/v1/resources/${encodeURIComponent(MCP)}/credentials`);
    expect(listed.body).not.toContain('mnd_rs_');
    expect(listed.json().data.map((c: { id: string }) => c.id)).toEqual(expect.arrayContaining([first.id, second.id]));
    expect((await admin('DELETE', `/v1/resources/${encodeURIComponent(MCP)}/credentials/${first.id}`)).statusCode).toBe(204);
    await refused(basic(first.id, first.secret));
    expect((await post('/oauth2/introspect', form({ token }), basic(second.id, second.secret))).json().active).toBe(true);

    // A credential is revoked through its own resource only.
    expect((await admin('DELETE', `/v1/resources/${encodeURIComponent(MCP)}/credentials/${other.id}`)).statusCode).toBe(404);
    expect((await admin('POST', '/v1/resources/https%3A%2F%2Fnope.test%2F/credentials', { name: 'x' })).statusCode).toBe(404);
  });
});
