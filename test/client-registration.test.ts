import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { authorizeUrl, CODE_MCP, createCodeFlowFixture, pkcePair } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';

const nativeClient = {
  application_type: 'native',
  client_name: 'Desktop MCP client',
  redirect_uris: ['http://127.0.0.1/callback'],
  grant_types: ['authorization_code', 'refresh_token'],
  token_endpoint_auth_method: 'none',
  scope: 'calendar.read',
};

describe.each(dialects)('dynamic client registration on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let loginApp: CustomerLoginApp;

  const register = (payload: unknown, headers: Record<string, string> = {}) =>
    node.app.inject({
      method: 'POST',
      url: '/oauth2/register',
      payload: payload as object,
      headers: { 'content-type': 'application/json', ...headers },
    });

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db);
    loginApp = await startCustomerLoginApp({ sub: 'u-1001', email: 'john@xcorp.test', name: 'John Smith' });
    await createCodeFlowFixture(node, loginApp);
  });
  afterAll(async () => {
    await node?.shutdown();
    await loginApp?.close();
    await db?.dispose();
  });

  it('registers a public native client and manages it with its registration access token (RFC 7592)', async () => {
    const res = await register(nativeClient);
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const client = res.json();
    expect(client).toMatchObject({
      client_id: expect.stringMatching(/^cli_/),
      token_endpoint_auth_method: 'none',
      application_type: 'native',
    });
    expect(client.client_secret).toBeUndefined();
    const auth = { authorization: `Bearer ${client.registration_access_token}` };
    const path = new URL(client.registration_client_uri).pathname;

    expect((await node.app.inject({ method: 'GET', url: path, headers: auth })).json().redirect_uris).toEqual([
      'http://127.0.0.1/callback',
    ]);
    const wrong = await node.app.inject({ method: 'GET', url: path, headers: { authorization: 'Bearer mnd_rat_wrong' } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().error).toBe('invalid_token');
    expect(wrong.headers['www-authenticate']).toContain('invalid_token');

    const updated = await node.app.inject({
      method: 'PUT',
      url: path,
      headers: auth,
      payload: { ...nativeClient, client_id: client.client_id, redirect_uris: ['http://127.0.0.1/cb2'] },
    });
    expect(updated.json().redirect_uris).toEqual(['http://127.0.0.1/cb2']);
    expect((await node.app.inject({ method: 'DELETE', url: path, headers: auth })).statusCode).toBe(204);
    expect((await node.app.inject({ method: 'GET', url: path, headers: auth })).statusCode).toBe(401);
  });

  it('issues a secret to a confidential web client', async () => {
    const res = await register({
      ...nativeClient,
      application_type: 'web',
      redirect_uris: ['https://app.example/cb'],
      token_endpoint_auth_method: 'client_secret_basic',
    });
    expect(res.json()).toMatchObject({ client_secret: expect.stringMatching(/^mnd_cs_/), client_secret_expires_at: 0 });
  });

  // OpenID Connect DCR 1.0 §2: application_type may be omitted, as the MCP SDK does.
  it.each([
    ['http://127.0.0.1/callback', 'native'],
    ['http://[::1]:8080/callback', 'native'],
    ['http://localhost/callback', 'native'],
    ['com.example.desktop:/oauth', 'native'],
    ['https://app.example/cb', 'web'],
  ])('registers a client without application_type redirecting to %s as %s', async (uri, type) => {
    const res = await register({ ...nativeClient, application_type: undefined, redirect_uris: [uri] });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({ application_type: type, redirect_uris: [uri] });
  });

  it.each([
    ['an unknown application_type', { ...nativeClient, application_type: 'desktop' }, 'invalid_client_metadata'],
    [
      'http to a remote host without application_type',
      { ...nativeClient, application_type: undefined, redirect_uris: ['http://app.example/cb'] },
      'invalid_redirect_uri',
    ],
    [
      'a private-use scheme for an explicit web app',
      { ...nativeClient, application_type: 'web', redirect_uris: ['com.example.app:/cb'] },
      'invalid_redirect_uri',
    ],
    [
      'a fragment without application_type',
      { ...nativeClient, application_type: undefined, redirect_uris: ['http://[::1]/cb#x'] },
      'invalid_redirect_uri',
    ],
    ['client_credentials', { ...nativeClient, grant_types: ['client_credentials'] }, 'invalid_client_metadata'],
    ['an implicit response type', { ...nativeClient, response_types: ['token'] }, 'invalid_client_metadata'],
    [
      'http to a remote host for a web app',
      { ...nativeClient, application_type: 'web', redirect_uris: ['http://app.example/cb'] },
      'invalid_redirect_uri',
    ],
    ['a fragment', { ...nativeClient, redirect_uris: ['http://127.0.0.1/cb#x'] }, 'invalid_redirect_uri'],
    ['no redirect URIs', { ...nativeClient, redirect_uris: [] }, 'invalid_redirect_uri'],
    ['a control character in the name', { ...nativeClient, client_name: 'Evil\u0007' }, 'invalid_client_metadata'],
  ])('refuses %s and registers nothing', async (_name, payload, error) => {
    const before = (await node.runtime.store.db.selectFrom('clients').select('id').execute()).length;
    const res = await register(payload);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error, error_description: expect.any(String) });
    expect((await node.runtime.store.db.selectFrom('clients').select('id').execute()).length).toBe(before);
  });

  it('sends the user of a self-registered client to choose an organization, then to its login, then to consent', async () => {
    const client = (await register(nativeClient)).json();
    const { challenge } = pkcePair();
    const start = await node.app.inject({
      method: 'GET',
      url: authorizeUrl({
        response_type: 'code',
        client_id: client.client_id,
        redirect_uri: 'http://127.0.0.1:40404/callback',
        resource: CODE_MCP,
        scope: 'calendar.read',
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state: 's',
      }),
    });
    const picker = new URL(String(start.headers.location));
    expect(picker.pathname).toBe('/oauth2/organization');
    const requestId = picker.searchParams.get('request') as string;
    const page = await node.app.inject({ method: 'GET', url: `${picker.pathname}${picker.search}` });
    expect(page.body).toContain('Which organization do you sign in with?');

    const chosen = await node.app.inject({
      method: 'POST',
      url: '/oauth2/organization',
      payload: new URLSearchParams({ request: requestId, organization: 'XCorp' }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const login = new URL(String(chosen.headers.location));
    expect(`${login.origin}${login.pathname}`).toBe(loginApp.loginUrl);

    const loginBody = new URLSearchParams({
      mandate_request: requestId,
      token: await loginApp.mint({ sub: 'u-1001', email: 'john@xcorp.test' }),
    }).toString();
    // Login CSRF: a login return without the nonce cookie of the browser that started it is refused.
    const foreign = await node.app.inject({
      method: 'POST',
      url: '/oauth2/login',
      payload: loginBody,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(foreign.statusCode).toBe(403);
    expect(foreign.headers['set-cookie']).toBeUndefined();
    const nonce = String(start.headers['set-cookie']).split(';')[0] as string;
    expect(nonce).toMatch(/^mandate_login=/);
    expect(String(start.headers['set-cookie'])).toMatch(/HttpOnly.*Secure.*SameSite=None|SameSite=None.*Secure/i);
    const back = await node.app.inject({
      method: 'POST',
      url: '/oauth2/login',
      payload: loginBody,
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: nonce },
    });
    expect(String(back.headers.location)).toContain('/oauth2/consent?request=');
    expect([back.headers['set-cookie']].flat().join('\n')).toMatch(/mandate_session=mnd_st_[^;]+;.*HttpOnly/);

    const unknown = await node.app.inject({
      method: 'POST',
      url: '/oauth2/organization',
      payload: new URLSearchParams({ request: requestId, organization: 'nope' }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(unknown.statusCode).toBe(404);
  });
});

describe('registration policies', () => {
  it('off: no registration endpoint; initial_access_token: only with the token', async () => {
    const db = await createTestDatabase('sqlite');
    try {
      const off = await startTestNode(db, { config: { registrationPolicy: 'off' } });
      const metadata = (await off.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' })).json();
      expect(metadata.registration_endpoint).toBeUndefined();
      expect((await off.app.inject({ method: 'POST', url: '/oauth2/register', payload: nativeClient })).statusCode).toBe(404);
      await off.shutdown();

      const iat = 'i'.repeat(40);
      const gated = await startTestNode(db, {
        config: { registrationPolicy: 'initial_access_token', registrationInitialAccessToken: iat },
      });
      const refused = await gated.app.inject({ method: 'POST', url: '/oauth2/register', payload: nativeClient });
      expect(refused.statusCode).toBe(401);
      expect(refused.json().error).toBe('invalid_token');
      const allowed = await gated.app.inject({
        method: 'POST',
        url: '/oauth2/register',
        payload: nativeClient,
        headers: { authorization: `Bearer ${iat}` },
      });
      expect(allowed.statusCode).toBe(201);
      await gated.shutdown();
    } finally {
      await db.dispose();
    }
  });
});
