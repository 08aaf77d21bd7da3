import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { launchChromium } from './support/browser.js';
import { CODE_MCP, type CodeFlowFixture, createCodeFlowFixture, obtainUserTokens } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startListeningNode, type TestDatabase } from './support/nodes.js';
import { startThirdPartyProvider, type ThirdPartyProvider } from './support/third-party-provider.js';
import { completeAuthorizationInBrowser } from './support/vault-browser.js';

const GITHUB_SCOPES = 'github.read github.write github.export github.admin';
const LOOPBACK = /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//;

/**
 * Reconnecting an account at a provider that revokes the whole grant when one of its tokens is
 * revoked (RFC 7009 §2.1; oidc-provider does, as Google does), and that issues the new
 * authorization under the grant the user already gave (the same browser session at the provider).
 */
describe.each(dialects)('token vault reconnect on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let issuer: string;
  let loginApp: CustomerLoginApp;
  let fx: CodeFlowFixture;
  let provider: ThirdPartyProvider;
  let browser: Browser;
  let context: BrowserContext;
  let johnId: string;
  let token: string;

  const admin = async (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
    node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
  const asAgent = (method: 'GET' | 'POST', url: string, payload?: object) =>
    node.app.inject({ method, url, headers: { authorization: `Bearer ${token}` }, ...(payload && { payload }) });
  /** The provider's own answer to its access token: GET /api/user. */
  const atProvider = async (accessToken: string) =>
    (await fetch(`${provider.apiBaseUrl}/user`, { headers: { authorization: `Bearer ${accessToken}` } })).status;
  const connect = async () => {
    const { link } = (await asAgent('POST', '/v1/connected-accounts/authorization-link', { connection: 'github' })).json();
    const cookies = [{ name: 'mandate_session', value: fx.sessionToken, url: issuer }];
    expect(await completeAuthorizationInBrowser(link, 'john', { context, cookies })).toContain('Account connected');
  };
  const liveToken = async () => {
    const res = await asAgent('GET', `/v1/connected-accounts/github/${johnId}`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json().access_token as string;
  };

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    ({ node, issuer } = await startListeningNode(db, { config: { devAllowLoopbackFetch: true } }));
    provider = await startThirdPartyProvider({
      redirectUri: 'http://127.0.0.1/vault/callback/unset',
      accessTokenTtlSeconds: 300,
      tokenEndpointAuthMethod: 'client_secret_post',
    });
    browser = await launchChromium();
    // One browser context for both authorizations: the provider keeps John's session and grant.
    context = await browser.newContext();
    await context.route(
      (url) => !LOOPBACK.test(url.href),
      (route) => route.abort(),
    );
    loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@xcorp.test', name: 'John' });
    fx = await createCodeFlowFixture(node, loginApp);
    johnId = (await admin('GET', '/v1/organizations/xcorp/members?email=john@xcorp.test')).json().data[0].id;
    await admin('POST', '/v1/resources', {
      identifier: `${issuer}/vault`,
      name: 'Mandate token vault',
      scopes: ['read', 'write', 'export', 'admin'].map((action) => ({ name: `github.${action}`, description: `GitHub: ${action}` })),
    });
    const patched = await admin('PATCH', `/v1/organizations/xcorp/clients/${fx.publicClient}`, {
      scope: `calendar.read calendar.write ${GITHUB_SCOPES}`,
      resources: [CODE_MCP, `${issuer}/vault`],
    });
    expect(patched.statusCode, patched.body).toBe(200);
    const role = (
      await admin('POST', '/v1/organizations/xcorp/roles', {
        name: 'Engineer',
        permissions: ['read', 'write', 'export', 'admin'].map((action) => ({ tool: 'github', action })),
      })
    ).json();
    await admin('POST', `/v1/organizations/xcorp/roles/${role.id}/bindings`, { member_id: johnId });
    const connection = await admin('POST', '/v1/organizations/xcorp/connections', {
      name: 'github',
      provider: 'github',
      client_id: provider.client.id,
      client_secret: provider.client.secret,
      scopes: ['repo', 'read:user'],
      endpoints: {
        authorization_url: provider.authorizationUrl,
        token_url: provider.tokenUrl,
        revocation_url: provider.revocationUrl,
        api_base_url: provider.apiBaseUrl,
      },
    });
    expect(connection.statusCode, connection.body).toBe(201);
    await provider.setRedirectUri(`${issuer}/vault/callback/${connection.json().id}`);
    token = (await obtainUserTokens(node, fx, { scope: GITHUB_SCOPES, resource: `${issuer}/vault` })).access_token;
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await node?.shutdown();
    await provider?.close();
    await loginApp?.close();
    await db?.dispose();
  });

  it('revokes the replaced tokens without killing the new ones', async () => {
    await connect();
    const first = await liveToken();
    expect(await atProvider(first)).toBe(200);

    await connect();
    const second = await liveToken();
    expect(second).not.toBe(first);
    // The new tokens work at the provider, through the vault and directly; the old ones do not.
    expect(await atProvider(second)).toBe(200);
    const proxied = await asAgent('POST', `/v1/connected-accounts/github/${johnId}/proxy`, { method: 'GET', path: '/user' });
    expect(proxied.json()).toMatchObject({ status: 200, body: { login: 'john' } });
    expect(await atProvider(first)).toBe(401);
    expect(provider.revokedTokens()).toContain(first);
  });
});
