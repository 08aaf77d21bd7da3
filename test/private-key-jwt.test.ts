import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startListeningNode, type TestDatabase } from './support/nodes.js';
import { createOAuthFixture, form, MCP } from './support/oauth-fixtures.js';

describe.each(dialects)('private_key_jwt client authentication (RFC 7523) on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let issuer: string;
  let clientId: string;
  let keys: Awaited<ReturnType<typeof generateKeyPair>>;
  const ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

  const assertion = (
    claims: { aud?: string; jti?: string; exp?: string; sub?: string } = {},
    key: Parameters<SignJWT['sign']>[0] = keys.privateKey,
    alg = 'ES256',
  ) =>
    new SignJWT({})
      .setProtectedHeader({ alg })
      .setIssuer(clientId)
      .setSubject(claims.sub ?? clientId)
      .setAudience(claims.aud ?? `${issuer}/oauth2/token`)
      .setJti(claims.jti ?? crypto.randomUUID())
      .setIssuedAt()
      .setExpirationTime(claims.exp ?? '60s')
      .sign(key);
  const tokenWith = (clientAssertion: string, extra: Record<string, string> = {}) =>
    node.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      payload: form({
        grant_type: 'client_credentials',
        resource: MCP,
        client_assertion_type: ASSERTION,
        client_assertion: clientAssertion,
        ...extra,
      }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    ({ node, issuer } = await startListeningNode(db));
    await createOAuthFixture(node);
    keys = await generateKeyPair('ES256', { extractable: true });
    const created = await node.app.inject({
      method: 'POST',
      url: '/v1/organizations/acme/clients',
      headers: adminHeaders,
      payload: {
        client_name: 'Key-bound agent',
        client_type: 'confidential',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256' }] },
        grant_types: ['client_credentials'],
        scope: 'calendar.read',
        resources: [MCP],
      },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json().client_secret).toBeUndefined();
    clientId = created.json().client_id;
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it('openid-client authenticates with PrivateKeyJwt and gets a token', async () => {
    const config = await client.discovery(new URL(issuer), clientId, undefined, client.PrivateKeyJwt(keys.privateKey), {
      execute: [client.allowInsecureRequests],
    });
    const tokens = await client.clientCredentialsGrant(config, { resource: MCP, scope: 'calendar.read' });
    expect(tokens.access_token.split('.')).toHaveLength(3);
  });

  it('refuses a replayed assertion (same jti)', async () => {
    const once = await assertion({ jti: 'fixed-jti-1' });
    expect((await tokenWith(once)).statusCode).toBe(200);
    const replay = await tokenWith(once);
    expect(replay.statusCode).toBe(401);
    expect(replay.json().error).toBe('invalid_client');
  });

  it.each([
    ['another audience', () => assertion({ aud: 'https://elsewhere.test/token' })],
    ['a key that is not registered', async () => assertion({}, (await generateKeyPair('ES256')).privateKey)],
    ['a lifetime over five minutes', () => assertion({ exp: '1h' })],
    ['an expired assertion', () => assertion({ exp: '-10s' })],
    ['an HS256 assertion', () => assertion({}, new TextEncoder().encode('s'.repeat(32)), 'HS256')],
    [
      'an aud array holding a non-string next to the token endpoint',
      () =>
        new SignJWT({ aud: [`${issuer}/oauth2/token`, 42] as unknown as string[] })
          .setProtectedHeader({ alg: 'ES256' })
          .setIssuer(clientId)
          .setSubject(clientId)
          .setJti(crypto.randomUUID())
          .setIssuedAt()
          .setExpirationTime('60s')
          .sign(keys.privateKey),
    ],
  ])('refuses %s with invalid_client', async (_name, make) => {
    const res = await tokenWith(await make());
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('invalid_client');
  });

  it('refuses a client assertion that is not a JWT with invalid_client, not a server error', async () => {
    const res = await tokenWith('garbage');
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('invalid_client');
  });

  it('refuses an assertion together with a client secret', async () => {
    const res = await tokenWith(await assertion(), { client_secret: 'x' });
    expect(res.json().error).toBe('invalid_request');
  });

  it('refuses to register private keys as a client JWKS', async () => {
    const res = await node.app.inject({
      method: 'POST',
      url: '/v1/organizations/acme/clients',
      headers: adminHeaders,
      payload: {
        client_name: 'Leaky',
        client_type: 'confidential',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [await exportJWK(keys.privateKey)] },
        grant_types: ['client_credentials'],
        scope: 'calendar.read',
        resources: [MCP],
      },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error_description).toContain('public keys only');
  });
});
