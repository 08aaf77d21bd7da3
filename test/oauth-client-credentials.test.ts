import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { FrozenClock } from './support/clock.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startListeningNode, type TestDatabase } from './support/nodes.js';
import { basic, createOAuthFixture, form, MCP, type OAuthFixture } from './support/oauth-fixtures.js';

describe.each(dialects)('client_credentials, introspection and revocation on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let issuer: string;
  let fx: OAuthFixture;
  const clock = new FrozenClock(Date.now());

  const post = (path: string, body: string, authorization?: string) =>
    node.app.inject({
      method: 'POST',
      url: path,
      payload: body,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization && { authorization }) },
    });
  const agentAuth = () => basic(fx.agentClient.client_id, fx.agentClient.client_secret);
  const issueToken = async (extra: Record<string, string> = {}) => {
    const res = await post('/oauth2/token', form({ grant_type: 'client_credentials', resource: MCP, ...extra }), agentAuth());
    expect(res.statusCode).toBe(200);
    return res.json().access_token as string;
  };
  const introspect = async (token: string, auth = agentAuth()) => (await post('/oauth2/introspect', form({ token }), auth)).json();
  const issuedCount = async () =>
    (await node.runtime.store.db.selectFrom('audit_events').select('id').where('kind', '=', 'token.issued').execute()).length;

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    ({ node, issuer } = await startListeningNode(db, { clock }));
    fx = await createOAuthFixture(node);
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it('openid-client obtains an RFC 9068 token that verifies with jose against the JWKS', async () => {
    const config = await client.discovery(
      new URL(issuer),
      fx.agentClient.client_id,
      undefined,
      client.ClientSecretBasic(fx.agentClient.client_secret),
      { execute: [client.allowInsecureRequests] },
    );
    const tokens = await client.clientCredentialsGrant(config, { scope: 'calendar.read', resource: MCP });
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.expires_in).toBe(600);
    expect(tokens.scope).toBe('calendar.read');

    const jwks = (await node.app.inject({ method: 'GET', url: '/oauth2/jwks' })).json();
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, createLocalJWKSet(jwks), {
      issuer,
      audience: MCP,
      typ: 'at+jwt',
      currentDate: new Date(clock.now()),
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload).toMatchObject({
      sub: fx.agentClient.client_id,
      client_id: fx.agentClient.client_id,
      org_id: fx.acme.id,
      scope: 'calendar.read',
    });
    expect(Number(payload.exp) - Number(payload.iat)).toBe(600);
    expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('grants every allowed scope when none is asked for, and accepts client_secret_post', async () => {
    const res = await post(
      '/oauth2/token',
      form({
        grant_type: 'client_credentials',
        resource: MCP,
        client_id: fx.postClient.client_id,
        client_secret: fx.postClient.client_secret,
      }),
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.json().scope).toBe('calendar.read calendar.write');
  });

  it('writes a durable token.issued audit event before answering', async () => {
    const token = await issueToken({ scope: 'calendar.write' });
    const { jti } = decodeJwt(token);
    const event = await node.runtime.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('jti', '=', String(jti))
      .executeTakeFirstOrThrow();
    expect(event).toMatchObject({ kind: 'token.issued', org_id: fx.acme.id, actor_id: fx.agentClient.client_id, scope: 'calendar.write' });
    expect(JSON.parse(event.detail)).toMatchObject({ grant_type: 'client_credentials', aud: MCP });
  });

  it('introspects for the same organization only', async () => {
    const token = await issueToken();
    const mine = await introspect(token);
    expect(mine).toMatchObject({ active: true, client_id: fx.agentClient.client_id, aud: MCP, org_id: fx.acme.id, token_type: 'Bearer' });
    const sameOrg = await post(
      '/oauth2/introspect',
      form({ token, client_id: fx.postClient.client_id, client_secret: fx.postClient.client_secret }),
    );
    expect(sameOrg.json().active).toBe(true);
    // Another tenant's client learns nothing.
    expect(await introspect(token, basic(fx.globexClient.client_id, fx.globexClient.client_secret))).toEqual({ active: false });
    const publicCaller = await post('/oauth2/introspect', form({ token, client_id: fx.publicClient.client_id }));
    expect(publicCaller.statusCode).toBe(401);
    expect(publicCaller.json().error).toBe('invalid_client');
  });

  it('answers inactive for tampered, unsigned, foreign-issuer and expired tokens', async () => {
    const token = await issueToken();
    const [h, p, s] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    const widened = Buffer.from(JSON.stringify({ ...claims, scope: 'calendar.read calendar.write admin' })).toString('base64url');
    expect(await introspect(`${h}.${widened}.${s}`)).toEqual({ active: false });
    const none = Buffer.from(JSON.stringify({ ...decodeProtectedHeader(token), alg: 'none' })).toString('base64url');
    expect(await introspect(`${none}.${p}.`)).toEqual({ active: false });
    expect(await introspect('not-a-jwt')).toEqual({ active: false });

    const shortLived = await issueToken();
    clock.advance(601);
    try {
      expect(await introspect(shortLived)).toEqual({ active: false });
    } finally {
      clock.advance(-601);
    }
  });

  it('revokes an access token for its own client only (RFC 7009)', async () => {
    const token = await issueToken();
    const foreign = await post('/oauth2/revoke', form({ token }), basic(fx.globexClient.client_id, fx.globexClient.client_secret));
    expect(foreign.statusCode).toBe(200);
    expect((await introspect(token)).active).toBe(true);

    const own = await post('/oauth2/revoke', form({ token, token_type_hint: 'access_token' }), agentAuth());
    expect(own.statusCode).toBe(200);
    expect(await introspect(token)).toEqual({ active: false });
    const event = await node.runtime.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('kind', '=', 'token.revoked')
      .where('jti', '=', String(decodeJwt(token).jti))
      .executeTakeFirst();
    expect(event?.org_id).toBe(fx.acme.id);
    // Unknown tokens still answer 200 (RFC 7009 §2.2).
    expect((await post('/oauth2/revoke', form({ token: 'garbage' }), agentAuth())).statusCode).toBe(200);
  });

  it('takes a disabled client’s tokens down and refuses it new ones', async () => {
    const created = await node.app.inject({
      method: 'POST',
      url: '/v1/organizations/acme/clients',
      headers: adminHeaders,
      payload: {
        client_name: 'Temp',
        client_type: 'confidential',
        grant_types: ['client_credentials'],
        scope: 'calendar.read',
        resources: [MCP],
      },
    });
    const temp = created.json();
    const auth = basic(temp.client_id, temp.client_secret);
    const token = (await post('/oauth2/token', form({ grant_type: 'client_credentials', resource: MCP }), auth)).json().access_token;
    expect((await introspect(token)).active).toBe(true);
    await node.app.inject({
      method: 'PATCH',
      url: `/v1/organizations/acme/clients/${temp.client_id}`,
      headers: adminHeaders,
      payload: { status: 'disabled' },
    });
    expect(await introspect(token)).toEqual({ active: false });
    const refused = await post('/oauth2/token', form({ grant_type: 'client_credentials', resource: MCP }), auth);
    expect(refused.json().error).toBe('invalid_client');
  });

  it('rotates a client secret with an overlap window', async () => {
    const rotated = await node.app.inject({
      method: 'POST',
      url: `/v1/organizations/acme/clients/${fx.postClient.client_id}/secrets`,
      headers: adminHeaders,
      payload: { overlap_seconds: 60 },
    });
    expect(rotated.statusCode).toBe(201);
    const { client_secret: fresh } = rotated.json();
    const tokenWith = (secret: string) =>
      post(
        '/oauth2/token',
        form({ grant_type: 'client_credentials', resource: MCP, client_id: fx.postClient.client_id, client_secret: secret }),
      );
    expect((await tokenWith(fx.postClient.client_secret)).statusCode).toBe(200);
    expect((await tokenWith(fresh)).statusCode).toBe(200);
    clock.advance(61);
    try {
      expect((await tokenWith(fx.postClient.client_secret)).json().error).toBe('invalid_client');
      expect((await tokenWith(fresh)).statusCode).toBe(200);
    } finally {
      clock.advance(-61);
    }
  });

  // Every refusal answers RFC 6749 §5.2 JSON and issues nothing.
  const refusals: { name: string; body: () => string; auth?: () => string | undefined; status: number; error: string }[] = [
    {
      name: 'wrong client secret',
      body: () => form({ grant_type: 'client_credentials', resource: MCP }),
      auth: () => basic(fx.agentClient.client_id, 'mnd_cs_wrong'),
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'unknown client',
      body: () => form({ grant_type: 'client_credentials', resource: MCP }),
      auth: () => basic('cli_00000000000000000000000000', 'x'),
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'two authentication methods',
      body: () => form({ grant_type: 'client_credentials', resource: MCP, client_secret: fx.agentClient.client_secret }),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'secret_post for a secret_basic client',
      body: () =>
        form({
          grant_type: 'client_credentials',
          resource: MCP,
          client_id: fx.agentClient.client_id,
          client_secret: fx.agentClient.client_secret,
        }),
      auth: () => undefined,
      status: 401,
      error: 'invalid_client',
    },
    { name: 'missing grant_type', body: () => form({ resource: MCP }), status: 400, error: 'invalid_request' },
    {
      name: 'unsupported grant_type',
      body: () => form({ grant_type: 'password', username: 'a', password: 'b' }),
      status: 400,
      error: 'unsupported_grant_type',
    },
    { name: 'missing resource', body: () => form({ grant_type: 'client_credentials' }), status: 400, error: 'invalid_target' },
    {
      name: 'unregistered resource',
      body: () => form({ grant_type: 'client_credentials', resource: 'https://evil.test/' }),
      status: 400,
      error: 'invalid_target',
    },
    {
      name: 'resource differing by a trailing slash',
      body: () => form({ grant_type: 'client_credentials', resource: 'https://mcp.acme.test' }),
      status: 400,
      error: 'invalid_target',
    },
    {
      name: 'two resources',
      body: () => form({ grant_type: 'client_credentials', resource: [MCP, 'https://other.test/'] }),
      status: 400,
      error: 'invalid_target',
    },
    {
      name: 'scope beyond the client',
      body: () => form({ grant_type: 'client_credentials', resource: MCP, scope: 'calendar.read admin' }),
      status: 400,
      error: 'invalid_scope',
    },
    {
      name: 'repeated parameter',
      body: () => `${form({ grant_type: 'client_credentials', resource: MCP, scope: 'calendar.read' })}&scope=calendar.write`,
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'public client asking for client_credentials',
      body: () => form({ grant_type: 'client_credentials', resource: MCP, client_id: fx.publicClient.client_id }),
      auth: () => undefined,
      status: 400,
      error: 'unauthorized_client',
    },
  ];

  it.each(refusals)('refuses $name with $error and issues nothing', async ({ body, auth, status, error }) => {
    const before = await issuedCount();
    const res = await post('/oauth2/token', body(), auth ? auth() : agentAuth());
    expect(res.statusCode).toBe(status);
    expect(res.json()).toEqual({ error, error_description: expect.any(String) });
    expect(res.headers['cache-control']).toBe('no-store');
    if (error === 'invalid_client' && auth?.()?.startsWith('Basic')) expect(res.headers['www-authenticate']).toMatch(/^Basic/);
    expect(await issuedCount()).toBe(before);
  });

  it('refuses a JSON body at the token endpoint with invalid_request', async () => {
    const res = await node.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      payload: { grant_type: 'client_credentials' },
      headers: { authorization: agentAuth() },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_request');
  });

  it('refuses a resource the organization may not use', async () => {
    await node.app.inject({
      method: 'POST',
      url: '/v1/resources',
      headers: adminHeaders,
      payload: {
        identifier: 'https://acme-only.test/',
        name: 'Acme only',
        scopes: [{ name: 'x.read', description: 'x' }],
        org_ids: [fx.acme.id],
      },
    });
    const res = await node.app.inject({
      method: 'POST',
      url: '/v1/organizations/globex/clients',
      headers: adminHeaders,
      payload: {
        client_name: 'Sneaky',
        client_type: 'confidential',
        grant_types: ['client_credentials'],
        scope: 'x.read',
        resources: ['https://acme-only.test/'],
      },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error_description).toContain('not registered for this organization');
  });

  it('never returns or stores a client secret after creation', async () => {
    const listed = await node.app.inject({ method: 'GET', url: '/v1/organizations/acme/clients', headers: adminHeaders });
    expect(listed.body).not.toContain(fx.agentClient.client_secret);
    expect(listed.body).not.toContain('client_secret"');
    const rows = await node.runtime.store.db.selectFrom('client_secrets').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(fx.agentClient.client_secret);
    const other = await node.app.inject({
      method: 'GET',
      url: `/v1/organizations/globex/clients/${fx.agentClient.client_id}`,
      headers: adminHeaders,
    });
    expect(other.statusCode).toBe(404);
  });
});
