import { createLocalJWKSet, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { CODE_MCP, createCodeFlowFixture } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';
import { basic, form } from './support/oauth-fixtures.js';

describe.each(dialects)('sessions from trusted tokens on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let loginApp: CustomerLoginApp;
  let otherApp: CustomerLoginApp;

  const attest = (token: string, organization = 'xcorp') =>
    node.app.inject({ method: 'POST', url: '/v1/sessions/attest', payload: { organization, token } });
  const me = (credential: string) =>
    node.app.inject({ method: 'GET', url: '/v1/sessions/me', headers: { authorization: `Bearer ${credential}` } });
  const sessionCount = async () => (await node.runtime.store.db.selectFrom('sessions').select('id').execute()).length;

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    // The stand-in login app publishes its JWKS over http on loopback.
    node = await startTestNode(db, { config: { devAllowLoopbackFetch: true } });
    loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@xcorp.test', name: 'John' });
    otherApp = await startCustomerLoginApp({ sub: 'u-2', email: 'eve@evil.test', name: 'Eve' });
    await createCodeFlowFixture(node, loginApp);
    await node.app.inject({ method: 'POST', url: '/v1/organizations', payload: { slug: 'strict', name: 'Strict' }, headers: adminHeaders });
    await node.app.inject({
      method: 'POST',
      url: '/v1/organizations/strict/trusted-token-profiles',
      payload: { name: 'Strict app', issuer: loginApp.issuer, audience: 'mandate', jwks_url: loginApp.jwksUrl },
      headers: adminHeaders,
    });
  });
  afterAll(async () => {
    await node?.shutdown();
    await loginApp?.close();
    await otherApp?.close();
    await db?.dispose();
  });

  it('exchanges a trusted token for a session token and a short-lived, verifiable session JWT', async () => {
    const res = await attest(await loginApp.mint({ sub: 'u-1', email: 'John@XCorp.test', name: 'John' }));
    expect(res.statusCode).toBe(201);
    const issued = res.json();
    expect(issued.session_token).toMatch(/^mnd_st_/);
    expect(issued.member.email).toBe('john@xcorp.test');
    const jwks = (await node.app.inject({ method: 'GET', url: '/oauth2/jwks' })).json();
    const { payload, protectedHeader } = await jwtVerify(issued.session_jwt, createLocalJWKSet(jwks), { issuer: 'http://localhost:4000' });
    expect(protectedHeader.typ).toBe('session+jwt');
    expect(payload).toMatchObject({ sub: issued.member.id, amr: ['trusted_token'] });
    expect(Number(payload.exp) - Number(payload.iat)).toBeLessThanOrEqual(300);

    expect((await me(issued.session_token)).json().member.id).toBe(issued.member.id);
    expect((await me(issued.session_jwt)).json().session.id).toBe(issued.session.id);
    const refreshed = await node.app.inject({
      method: 'POST',
      url: '/v1/sessions/refresh',
      headers: { authorization: `Bearer ${issued.session_token}` },
    });
    expect(refreshed.json().session_jwt).toMatch(/^ey/);

    const revoked = await node.app.inject({
      method: 'POST',
      url: '/v1/sessions/revoke',
      headers: { authorization: `Bearer ${issued.session_token}` },
    });
    expect(revoked.statusCode).toBe(204);
    const after = await me(issued.session_token);
    expect(after.statusCode).toBe(401);
    expect(after.json().error_description).toContain('revoked');
    expect((await me(issued.session_jwt)).statusCode).toBe(401);
  });

  it('does not take an access token as a session (explicit JWT typing)', async () => {
    const web = (
      await node.app.inject({
        method: 'POST',
        url: '/v1/organizations/xcorp/clients',
        headers: adminHeaders,
        payload: {
          client_name: 'cc',
          client_type: 'confidential',
          grant_types: ['client_credentials'],
          scope: 'calendar.read',
          resources: [CODE_MCP],
        },
      })
    ).json();
    const at = (
      await node.app.inject({
        method: 'POST',
        url: '/oauth2/token',
        payload: form({ grant_type: 'client_credentials', resource: CODE_MCP }),
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(web.client_id, web.client_secret) },
      })
    ).json().access_token;
    expect((await me(at)).statusCode).toBe(401);
  });

  const refusals: { name: string; token: () => Promise<string>; org?: string; status: number }[] = [
    {
      name: 'a token for another audience',
      token: () => loginApp.mint({ sub: 'u-1', email: 'john@xcorp.test' }, { audience: 'someone-else' }),
      status: 401,
    },
    {
      name: 'a token older than the profile allows',
      token: () => loginApp.mint({ sub: 'u-1', email: 'john@xcorp.test' }, { iatOffsetSeconds: -3600 }),
      status: 401,
    },
    {
      name: 'a token from an issuer the organization does not trust',
      token: () => otherApp.mint({ sub: 'u-2', email: 'eve@xcorp.test' }),
      status: 401,
    },
    {
      name: 'an HS256 token',
      token: () =>
        new SignJWT({ email: 'john@xcorp.test' })
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuer(loginApp.issuer)
          .setAudience('mandate')
          .setSubject('u-1')
          .setIssuedAt()
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode('x'.repeat(32))),
      status: 401,
    },
    { name: 'garbage', token: async () => 'not-a-jwt-at-all', status: 401 },
    { name: 'an unknown organization', token: () => loginApp.mint({ sub: 'u-1', email: 'john@xcorp.test' }), org: 'nowhere', status: 404 },
    {
      name: 'an unknown member where just-in-time provisioning is off',
      token: () => loginApp.mint({ sub: 'u-9', email: 'new@strict.test' }),
      org: 'strict',
      status: 403,
    },
  ];

  it.each(refusals)('refuses $name and creates no session', async ({ token, org, status }) => {
    const before = await sessionCount();
    const res = await attest(await token(), org);
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ error: expect.any(String), request_id: expect.any(String) });
    expect(await sessionCount()).toBe(before);
  });

  it('refuses a suspended member', async () => {
    const members = (
      await node.app.inject({ method: 'GET', url: '/v1/organizations/xcorp/members?email=john@xcorp.test', headers: adminHeaders })
    ).json();
    const id = members.data[0].id;
    await node.app.inject({
      method: 'PATCH',
      url: `/v1/organizations/xcorp/members/${id}`,
      payload: { status: 'suspended' },
      headers: adminHeaders,
    });
    const res = await attest(await loginApp.mint({ sub: 'u-1', email: 'john@xcorp.test' }));
    expect(res.statusCode).toBe(403);
    await node.app.inject({
      method: 'PATCH',
      url: `/v1/organizations/xcorp/members/${id}`,
      payload: { status: 'active' },
      headers: adminHeaders,
    });
  });

  it('accepts a trusted token once: a replayed copy starts no second session, on any organization', async () => {
    const token = await loginApp.mint({ sub: 'u-1', email: 'john@xcorp.test' });
    expect((await attest(token)).statusCode).toBe(201);
    const before = await sessionCount();
    const replay = await attest(token);
    expect(replay.statusCode).toBe(401);
    expect(replay.json().error_description).toMatch(/already used/);
    expect((await attest(token, 'strict')).statusCode).toBe(401);
    expect(await sessionCount()).toBe(before);
  });

  it('verifies trusted tokens against a PEM public key as well as a JWKS URL', async () => {
    const { generateKeyPair, exportSPKI } = await import('jose');
    const keys = await generateKeyPair('RS256', { extractable: true });
    await node.app.inject({
      method: 'POST',
      url: '/v1/organizations',
      payload: { slug: 'pemcorp', name: 'PEM Corp' },
      headers: adminHeaders,
    });
    const profile = await node.app.inject({
      method: 'POST',
      url: '/v1/organizations/pemcorp/trusted-token-profiles',
      payload: {
        name: 'PEM app',
        issuer: 'https://pem.example',
        audience: 'mandate',
        public_key_pem: await exportSPKI(keys.publicKey),
        jit_provisioning: true,
      },
      headers: adminHeaders,
    });
    expect(profile.statusCode).toBe(201);
    const sign = (key: Parameters<SignJWT['sign']>[0]) =>
      new SignJWT({ email: 'pat@pem.example' })
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuer('https://pem.example')
        .setAudience('mandate')
        .setSubject('p-1')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(key);
    expect((await attest(await sign(keys.privateKey), 'pemcorp')).statusCode).toBe(201);
    const other = await generateKeyPair('RS256');
    expect((await attest(await sign(other.privateKey), 'pemcorp')).statusCode).toBe(401);
    const badPem = await node.app.inject({
      method: 'POST',
      url: '/v1/organizations/pemcorp/trusted-token-profiles',
      payload: {
        name: 'Broken',
        issuer: 'https://x.example',
        audience: 'mandate',
        public_key_pem: '-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----',
      },
      headers: adminHeaders,
    });
    expect(badPem.statusCode).toBe(400);
  });
});
