import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { launchChromium } from './support/browser.js';
import { createXcorp } from './support/code-flow.js';
import { type CustomerLoginApp, startCallbackServer, startCustomerLoginApp } from './support/customer-login-app.js';
import { adminHeaders, createTestDatabase, startListeningNode, type TestDatabase } from './support/nodes.js';
import { basic, form } from './support/oauth-fixtures.js';

const MCP = 'https://mcp.xcorp.test/';

describe('authorization code + PKCE through the hosted consent page, in Chromium', () => {
  let db: TestDatabase;
  let node: MandateNode;
  let issuer: string;
  let loginApp: CustomerLoginApp;
  let callback: Awaited<ReturnType<typeof startCallbackServer>>;
  let browser: Browser;
  let config: client.Configuration;
  let publicClientId: string;
  let introspector: { client_id: string; client_secret: string };
  const redirectUri = () => `http://127.0.0.1:${callback.port}/callback`;

  const admin = async (url: string, payload: object) => {
    const res = await node.app.inject({ method: 'POST', url, payload, headers: adminHeaders });
    if (res.statusCode !== 201) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
    return res.json();
  };
  const introspect = async (token: string) =>
    (
      await node.app.inject({
        method: 'POST',
        url: '/oauth2/introspect',
        payload: form({ token }),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: basic(introspector.client_id, introspector.client_secret),
        },
      })
    ).json();

  /** Runs the browser from the authorization URL to the callback; `act` clicks through the pages. */
  async function authorize(extra: Record<string, string>, act: (page: import('playwright-core').Page) => Promise<void>) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri(),
      scope: 'calendar.read calendar.write',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      resource: MCP,
      ...extra,
    });
    const page = await context.newPage();
    const before = callback.received().length;
    await page.goto(url.href);
    await act(page);
    await page.waitForURL(/\/callback/);
    await page.close();
    const received = callback
      .received()
      .slice(before)
      .filter((u) => u.pathname === '/callback');
    expect(received).toHaveLength(1);
    return { callbackUrl: received[0] as URL, verifier, state };
  }
  let context: import('playwright-core').BrowserContext;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    ({ node, issuer } = await startListeningNode(db));
    loginApp = await startCustomerLoginApp({ sub: 'u-1001', email: 'john@xcorp.test', name: 'John Smith' });
    callback = await startCallbackServer();

    await createXcorp(node, loginApp, MCP);
    publicClientId = (
      await admin('/v1/organizations/xcorp/clients', {
        client_name: 'Calendar Assistant',
        client_type: 'public',
        grant_types: ['authorization_code', 'refresh_token'],
        redirect_uris: ['http://127.0.0.1/callback'],
        scope: 'calendar.read calendar.write',
        resources: [MCP],
      })
    ).client_id;
    introspector = await admin('/v1/organizations/xcorp/clients', {
      client_name: 'Calendar MCP server',
      client_type: 'confidential',
      grant_types: ['client_credentials'],
      scope: 'calendar.read',
      resources: [MCP],
    });
    config = await client.discovery(new URL(issuer), publicClientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    browser = await launchChromium();
    context = await browser.newContext();
  });
  afterAll(async () => {
    await browser?.close();
    await node?.shutdown();
    await loginApp?.close();
    await callback?.close();
    await db?.dispose();
  });

  it('logs in at the organization app, consents, and gets tokens that verify, refresh and die on reuse', async () => {
    let consentText = '';
    const { callbackUrl, verifier, state } = await authorize({}, async (page) => {
      await page.getByRole('button', { name: 'Sign in as John Smith' }).click();
      await page.waitForURL(/\/oauth2\/consent/);
      consentText = (await page.locator('main').textContent()) ?? '';
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain('Calendar Assistant');
      await page.getByRole('button', { name: 'Allow' }).click();
    });
    expect(consentText).toContain('XCorp');
    expect(consentText).toContain('See your calendar events');
    expect(consentText).toContain('Create and change calendar events');
    expect(consentText).toContain('a program running on this computer');
    expect(callbackUrl.searchParams.get('iss')).toBe(issuer);

    const tokens = await client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: verifier, expectedState: state });
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${issuer}/oauth2/jwks`)), {
      issuer,
      audience: MCP,
      typ: 'at+jwt',
    });
    expect(protectedHeader.alg).toBe('ES256');
    const member = (
      await node.app.inject({ method: 'GET', url: '/v1/organizations/xcorp/members?email=john@xcorp.test', headers: adminHeaders })
    ).json().data[0];
    expect(payload).toMatchObject({ sub: member.id, client_id: publicClientId, scope: 'calendar.read calendar.write' });
    expect(payload.auth_event_id).toMatch(/^grt_/);
    expect(payload.org_id).toBe(member.org_id);

    const refreshToken = tokens.refresh_token as string;
    expect(refreshToken).toMatch(/^mnd_rt_/);
    const refreshed = await client.refreshTokenGrant(config, refreshToken);
    expect(refreshed.refresh_token).not.toBe(refreshToken);
    expect((await introspect(refreshed.access_token)).active).toBe(true);

    // Within the reuse window, the previous token (its successor unused) gets that same successor.
    const retried = await client.refreshTokenGrant(config, refreshToken);
    expect(retried.refresh_token).toBe(refreshed.refresh_token);
    expect(retried.access_token).toBe(refreshed.access_token);
    // RFC 9700 §4.14.2: once the successor was used, replaying the older token fails and kills the newest too.
    const newest = await client.refreshTokenGrant(config, refreshed.refresh_token as string);
    const replay = await client.refreshTokenGrant(config, refreshToken).catch((error: unknown) => error);
    expect(replay).toBeInstanceOf(client.ResponseBodyError);
    expect((replay as client.ResponseBodyError).error).toBe('invalid_grant');
    const after = await client.refreshTokenGrant(config, newest.refresh_token as string).catch((error: unknown) => error);
    expect((after as client.ResponseBodyError).error).toBe('invalid_grant');
    expect(await introspect(newest.access_token)).toEqual({ active: false });
    expect(await introspect(refreshed.access_token)).toEqual({ active: false });
    expect(await introspect(tokens.access_token)).toEqual({ active: false });
  });

  it('remembers consent: the next authorization skips the page unless prompt=consent', async () => {
    // The browser context still holds the Mandate session cookie; consent was given above, but
    // that grant was revoked by the reuse, so consent is asked again once, then remembered.
    const first = await authorize({}, async (page) => {
      await page.waitForURL(/\/oauth2\/consent/);
      await page.getByRole('button', { name: 'Allow' }).click();
    });
    expect(first.callbackUrl.searchParams.get('code')).toBeTruthy();
    const remembered = await authorize({}, async () => {});
    expect(remembered.callbackUrl.searchParams.get('code')).toBeTruthy();

    const asked = await authorize({ prompt: 'consent' }, async (page) => {
      await page.waitForURL(/\/oauth2\/consent/);
      await page.getByRole('button', { name: 'Deny' }).click();
    });
    expect(asked.callbackUrl.searchParams.get('error')).toBe('access_denied');
    expect(asked.callbackUrl.searchParams.get('state')).toBe(asked.state);
    expect(asked.callbackUrl.searchParams.get('iss')).toBe(issuer);
  });

  it('serves the consent page unframeable, without scripts, and refuses a forged form post', async () => {
    const page = await context.newPage();
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri(),
      scope: 'calendar.read',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      resource: MCP,
      prompt: 'consent',
    });
    await page.goto(url.href);
    await page.waitForURL(/\/oauth2\/consent/);
    const consent = await page.request.get(page.url());
    expect(consent.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(consent.headers()['content-security-policy']).toContain("default-src 'none'");
    expect(consent.headers()['x-frame-options']).toBe('DENY');
    const requestId = new URL(page.url()).searchParams.get('request') as string;
    const forged = await page.request.post(`${issuer}/oauth2/consent`, {
      form: { request: requestId, csrf_token: 'mnd_csrf_forged', decision: 'allow' },
      maxRedirects: 0,
    });
    expect(forged.status()).toBe(403);
    await page.close();
  });
});
