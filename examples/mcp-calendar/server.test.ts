/**
 * The calendar example end to end, without a Mandate server: a tiny node:http server plays the
 * issuer by publishing a JWKS at `/oauth2/jwks`, tokens are minted locally as Mandate would mint
 * them (RFC 9068), and the real MCP SDK client talks to the example over Streamable HTTP.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type CryptoKey, createLocalJWKSet, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CalendarEvent, type CalendarServer, createCalendarServer, requiredScopesOf } from './server.js';

const KID = 'test-key-1';
const BOTH_SCOPES = 'calendar.read calendar.write';

let privateKey: CryptoKey;
let publicJwk: JWK;
let jwksServer: Server;
let issuer: string;
let resource: string;
let calendar: CalendarServer;
const clients: Client[] = [];

/** A free loopback port, so the resource identifier can name the port the server will listen on. */
async function freePort(): Promise<number> {
  const probe = createNetServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

interface TokenOptions {
  sub?: string;
  orgId?: string;
  scope?: string;
  aud?: string;
  iss?: string;
}

/** Mints an RFC 9068 access token the way Mandate does. */
function mint({ sub = 'user-a', orgId = 'org-1', scope = BOTH_SCOPES, aud = resource, iss = issuer }: TokenOptions = {}): Promise<string> {
  return new SignJWT({ client_id: 'agent-client', scope, org_id: orgId })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: KID })
    .setIssuer(iss)
    .setSubject(sub)
    .setAudience(aud)
    .setIssuedAt()
    .setExpirationTime('5m')
    .setJti(randomUUID())
    .sign(privateKey);
}

/** A connected MCP SDK client presenting `token`. */
async function connect(token: string, url = calendar.url): Promise<Client> {
  const client = new Client({ name: 'calendar-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  clients.push(client);
  return client;
}

function eventsOf(result: Awaited<ReturnType<Client['callTool']>>): CalendarEvent[] {
  return (result.structuredContent as { events: CalendarEvent[] }).events;
}

/** The JSON-RPC POST an MCP client sends to call a tool. */
function rawToolCall(name: string, args: Record<string, unknown>, token?: string): Promise<Response> {
  return fetch(calendar.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(token && { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }),
  });
}

beforeAll(async () => {
  const keys = await generateKeyPair('ES256');
  privateKey = keys.privateKey;
  publicJwk = { ...(await exportJWK(keys.publicKey)), kid: KID, alg: 'ES256', use: 'sig' };

  jwksServer = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/oauth2/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [publicJwk] }));
    } else {
      res.writeHead(404).end();
    }
  }).listen(0, '127.0.0.1');
  await once(jwksServer, 'listening');
  issuer = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;

  resource = `http://127.0.0.1:${await freePort()}/mcp`;
  calendar = await createCalendarServer({ issuer, resource });
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

afterAll(async () => {
  await calendar?.close();
  jwksServer?.closeAllConnections();
  await new Promise((resolve) => jwksServer?.close(resolve));
});

describe('mcp-calendar example', () => {
  it('listens on the resource URL and serves its RFC 9728 metadata', async () => {
    expect(calendar.url).toBe(resource);
    const response = await fetch(new URL('/.well-known/oauth-protected-resource/mcp', resource));
    expect(response.status).toBe(200);
    const metadata = (await response.json()) as Record<string, unknown>;
    expect(metadata.resource).toBe(resource);
    expect(metadata.authorization_servers).toEqual([issuer]);
    expect(metadata.scopes_supported).toEqual(['calendar.read', 'calendar.write']);
  });

  it('lists both tools', async () => {
    const client = await connect(await mint());
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(['create_event', 'list_events']);
  });

  it('creates an event, then lists it', async () => {
    const client = await connect(await mint({ sub: 'user-create' }));
    await client.listTools(); // caches the output schemas, so the client validates structuredContent
    const created = await client.callTool({ name: 'create_event', arguments: { title: 'Standup', start: '2030-01-01T09:00:00Z' } });
    expect(created.isError).toBeFalsy();
    const listed = await client.callTool({ name: 'list_events', arguments: {} });
    expect(eventsOf(listed)).toEqual([expect.objectContaining({ title: 'Standup', start: '2030-01-01T09:00:00Z' })]);
  });

  it('refuses create_event to a calendar.read token with 403 insufficient_scope', async () => {
    const token = await mint({ sub: 'user-reader', scope: 'calendar.read' });
    const client = await connect(token);
    await expect(client.callTool({ name: 'list_events', arguments: {} })).resolves.toMatchObject({ structuredContent: { events: [] } });
    await expect(
      client.callTool({ name: 'create_event', arguments: { title: 'Nope', start: '2030-01-01T09:00:00Z' } }),
    ).rejects.toMatchObject({
      code: 403,
    });

    const response = await rawToolCall('create_event', { title: 'Nope', start: '2030-01-01T09:00:00Z' }, token);
    expect(response.status).toBe(403);
    const challenge = response.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="calendar.write"');
    expect(challenge).toContain(`resource_metadata="http://127.0.0.1:${new URL(resource).port}/.well-known/oauth-protected-resource/mcp"`);
    expect(await response.json()).toMatchObject({ error: 'insufficient_scope' });
  });

  it('answers a plain JSON-RPC tools/call without an MCP session (stateless), as in the README', async () => {
    const token = await mint({ sub: 'user-curl' });
    const created = await rawToolCall('create_event', { title: 'From curl', start: '2030-03-01T08:00:00Z' }, token);
    expect(created.status).toBe(200);
    expect(await created.json()).toMatchObject({ jsonrpc: '2.0', id: 1, result: { structuredContent: { event: { title: 'From curl' } } } });
    const listed = await rawToolCall('list_events', {}, token);
    expect(await listed.json()).toMatchObject({ result: { structuredContent: { events: [{ title: 'From curl' }] } } });
  });

  it('refuses list_events to a calendar.write token', async () => {
    const response = await rawToolCall('list_events', {}, await mint({ scope: 'calendar.write' }));
    expect(response.status).toBe(403);
    expect(response.headers.get('www-authenticate')).toContain('scope="calendar.read"');
  });

  it('answers 401 with resource_metadata when there is no token', async () => {
    const response = await rawToolCall('list_events', {});
    expect(response.status).toBe(401);
    const challenge = response.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain('resource_metadata="');
    await expect(fetch(calendar.url)).resolves.toMatchObject({ status: 401 });
  });

  it('answers 401 invalid_token to a token for another audience', async () => {
    const response = await rawToolCall('list_events', {}, await mint({ aud: 'http://127.0.0.1:1/other-mcp' }));
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
    await expect(connect(await mint({ aud: 'https://elsewhere.example.com/mcp' }))).rejects.toMatchObject({ code: 401 });
  });

  it('keeps calendars apart across users and organizations', async () => {
    const alice = await connect(await mint({ sub: 'alice', orgId: 'org-1' }));
    await alice.callTool({ name: 'create_event', arguments: { title: "Alice's dentist", start: '2030-02-01T10:00:00+01:00' } });

    const bob = await connect(await mint({ sub: 'bob', orgId: 'org-1' }));
    const aliceElsewhere = await connect(await mint({ sub: 'alice', orgId: 'org-2' }));
    for (const other of [bob, aliceElsewhere]) {
      expect(eventsOf(await other.callTool({ name: 'list_events', arguments: {} }))).toEqual([]);
    }
    expect(eventsOf(await alice.callTool({ name: 'list_events', arguments: {} }))).toHaveLength(1);
  });

  it('rejects a start that is not an ISO 8601 date-time', async () => {
    const client = await connect(await mint({ sub: 'user-invalid' }));
    const result = await client.callTool({ name: 'create_event', arguments: { title: 'Soon', start: 'next tuesday' } });
    expect(result.isError).toBe(true);
    expect(eventsOf(await client.callTool({ name: 'list_events', arguments: {} }))).toEqual([]);
  });

  it('has no GET stream or DELETE session in stateless mode', async () => {
    const authorization = `Bearer ${await mint()}`;
    for (const method of ['GET', 'DELETE']) {
      const response = await fetch(calendar.url, { method, headers: { authorization } });
      expect(response.status).toBe(405);
    }
  });

  it('authenticates before parsing, then answers malformed JSON with a JSON-RPC parse error', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(calendar.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: '{"jsonrpc": "2.0",',
      });
    expect((await post({})).status).toBe(401);
    const response = await post({ authorization: `Bearer ${await mint()}` });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 }, id: null });
  });

  it('gates every tools/call of a batch', () => {
    expect(requiredScopesOf({ jsonrpc: '2.0', id: 1, method: 'tools/list' })).toEqual([]);
    expect(requiredScopesOf({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'constructor' } })).toEqual([]);
    const batch = [
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'list_events' } },
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'create_event' } },
    ];
    expect(requiredScopesOf(batch).sort()).toEqual(['calendar.read', 'calendar.write']);
  });

  it('accepts a jwks override instead of fetching the issuer JWKS', async () => {
    // This issuer publishes no JWKS anywhere: only the override can verify its tokens.
    const offlineIssuer = 'https://auth.example.invalid';
    const otherResource = `http://127.0.0.1:${await freePort()}/calendar/mcp`;
    const jwks = createLocalJWKSet({ keys: [publicJwk] });
    const server = await createCalendarServer({ issuer: offlineIssuer, resource: otherResource, jwks });
    try {
      const client = await connect(await mint({ iss: offlineIssuer, aud: otherResource }), server.url);
      const { tools } = await client.listTools();
      expect(tools).toHaveLength(2);
      await expect(fetch(new URL('/.well-known/oauth-protected-resource/calendar/mcp', otherResource))).resolves.toMatchObject({
        status: 200,
      });
    } finally {
      await Promise.all(clients.splice(0).map((client) => client.close()));
      await server.close();
    }
  });
});
