import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog } from '../src/audit/audit-log.js';
import type { MandateNode } from '../src/node.js';
import { SsoProvisioning } from '../src/sso/provisioning.js';
import { launchChromium } from './support/browser.js';
import { type CustomerLoginApp, startCallbackServer, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { type EnterpriseIdp, type IdpAccount, startEnterpriseIdp } from './support/enterprise-idp.js';
import { adminHeaders, createTestDatabase, startListeningNode, type TestDatabase } from './support/nodes.js';

const MCP = 'https://mcp.xcorp.test/';
const LOOPBACK = /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//;
const CALLBACK = /\/sso\/callback\//;

describe.each(dialects)('SSO through OIDC (oidc-provider as the IdP) on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let issuer: string;
  let idp: EnterpriseIdp;
  let browser: Browser;
  let loginApp: CustomerLoginApp;
  let clientCallback: Awaited<ReturnType<typeof startCallbackServer>>;
  let xcorpConnection: { id: string; callback_url: string };
  let strictConnection: { id: string; callback_url: string };
  let engineers: { id: string };
  // Read by the IdP at each login, so a test can change someone's groups.
  const accounts: Record<string, IdpAccount> = {
    alice: { email: 'alice@xcorp.test', name: 'Alice Doe', groups: ['engineering', 'everyone'] },
    bob: { email: 'Bob@XCorp.test', name: 'Bob' },
    carol: { email: 'carol@xcorp.test', groups: [] },
    dave: { email: 'dave@xcorp.test' },
    erin: { email: 'erin@xcorp.test', email_verified: false },
    mallory: { email: 'mallory@evil.test' },
    sam: { email: 'sam@strict.test' },
    tina: { email: 'tina@xcorp.test' },
    ceo: { email: 'ceo@xcorp.test', groups: ['engineering'] },
    root: { email: 'root@xcorp.test' },
    pia: { email: 'pia@partner.test', groups: ['engineering'] },
    ben: { email: 'ben@beta.test' },
    ray: { email: 'ray@xcorp.test' },
  };
  const redirectUris: string[] = [];
  const allowRedirect = async (url: string) => {
    redirectUris.push(url);
    await idp.setRedirectUris(redirectUris);
  };

  const admin = (method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, payload?: object) =>
    node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
  const created = async (url: string, payload: object) => {
    const res = await admin('POST', url, payload);
    if (res.statusCode !== 201) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
    return res.json();
  };
  const db$ = () => node.runtime.store.db;
  const memberOf = async (org: string, email: string) =>
    (await admin('GET', `/v1/organizations/${org}/members?email=${encodeURIComponent(email)}`)).json().data[0];
  const events = async (kind: string) =>
    (await db$().selectFrom('audit_events').selectAll().where('kind', '=', kind).orderBy('id').execute()).map((e) => ({
      ...e,
      detail: JSON.parse(e.detail ?? '{}') as Record<string, unknown>,
    }));
  const sessionsOf = async (memberId: string) => db$().selectFrom('sessions').selectAll().where('member_id', '=', memberId).execute();

  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext();
    // The IdP's dev pages import a web font: nothing leaves loopback.
    await context.route(
      (url) => !LOOPBACK.test(url.href),
      (route) => route.abort(),
    );
    return context;
  }

  /** Types `login` on the IdP's devInteractions login page. */
  async function signInAtIdp(page: Page, login: string): Promise<void> {
    await page.waitForURL((url) => url.href.startsWith(idp.issuer));
    await page.locator('input[name="login"]').fill(login);
    await page.locator('input[name="password"]').fill('any-password');
    await page.locator('button[type="submit"]').click();
  }

  /** Browser from `start` through the IdP; the answer is captured (not delivered) with the browser's SSO cookie. */
  async function captureCallback(start: string, login: string): Promise<{ url: string; cookie: string; context: BrowserContext }> {
    const context = await newContext();
    let captured = '';
    // The login form's answer redirects through the IdP to Mandate: those hops are made here, without the last.
    await context.route(
      (url) => url.href.startsWith(`${idp.issuer}/interaction/`),
      async (route) => {
        if (route.request().method() !== 'POST') return route.continue();
        const response = await route.fetch({ maxRedirects: 0 });
        let location = response.headers().location ?? '';
        for (let hop = 0; location && !CALLBACK.test(location) && hop < 5; hop += 1) {
          const next = await context.request.get(new URL(location, idp.issuer).href, { maxRedirects: 0 });
          location = next.headers().location ?? '';
        }
        if (!CALLBACK.test(location)) return route.fulfill({ response });
        captured = location;
        return route.abort();
      },
    );
    const page = await context.newPage();
    await page.goto(start);
    await signInAtIdp(page, login);
    await expect.poll(() => captured, { timeout: 10_000 }).not.toBe('');
    const cookie = (await context.cookies(`${issuer}/sso/callback/`)).find((c) => c.name === 'mandate_sso')?.value ?? '';
    return { url: captured, cookie, context };
  }

  /** Delivers a captured answer as a browser would, with the given SSO cookie. */
  const deliver = (url: string, cookie?: string) =>
    node.app.inject({ method: 'GET', url: url.replace(issuer, ''), headers: cookie ? { cookie: `mandate_sso=${cookie}` } : {} });

  /** A whole sign-in in a fresh browser, from `start` to the page Mandate shows at the end. */
  async function signIn(start: string, login: string): Promise<{ text: string; url: string; context: BrowserContext }> {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(start);
    await signInAtIdp(page, login);
    await page.waitForURL((url) => url.href.startsWith(issuer));
    return { text: (await page.locator('main').textContent()) ?? '', url: page.url(), context };
  }

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    ({ node, issuer } = await startListeningNode(db, { config: { devAllowLoopbackFetch: true } }));
    idp = await startEnterpriseIdp(accounts, { advertiseAlgorithms: ['none', 'HS256'] });
    loginApp = await startCustomerLoginApp({ sub: 's-1', email: 'sam@strict.test', name: 'Sam' });
    clientCallback = await startCallbackServer();
    await created('/v1/organizations', { slug: 'xcorp', name: 'XCorp' });
    await created('/v1/organizations', { slug: 'strict', name: 'Strict Corp' });
    await created('/v1/organizations', { slug: 'acme', name: 'Acme' });
    await created('/v1/resources', {
      identifier: MCP,
      name: 'XCorp calendar',
      scopes: [{ name: 'calendar.read', description: 'See your calendar events' }],
    });
    engineers = await created('/v1/organizations/xcorp/roles', {
      name: 'Engineers',
      permissions: [{ tool: 'calendar', action: 'read' }],
    });
    expect(
      (await admin('PUT', '/v1/organizations/xcorp/group-role-mappings', { mappings: [{ group: 'engineering', role_id: engineers.id }] }))
        .statusCode,
    ).toBe(200);
    const oidc = {
      issuer: idp.issuer,
      client_id: idp.client.id,
      client_secret: idp.client.secret,
      scopes: ['openid', 'email', 'profile', 'groups'],
    };
    xcorpConnection = await created('/v1/organizations/xcorp/sso-connections', {
      protocol: 'oidc',
      name: 'XCorp IdP',
      domains: ['XCorp.test'],
      jit_provisioning: true,
      oidc,
    });
    strictConnection = await created('/v1/organizations/strict/sso-connections', {
      protocol: 'oidc',
      name: 'Strict IdP',
      domains: ['strict.test'],
      jit_provisioning: true,
      oidc,
    });
    await allowRedirect(xcorpConnection.callback_url);
    await allowRedirect(strictConnection.callback_url);
    await created('/v1/organizations/strict/trusted-token-profiles', {
      name: 'Strict app',
      issuer: loginApp.issuer,
      audience: 'mandate',
      jwks_url: loginApp.jwksUrl,
      login_url: loginApp.loginUrl,
      jit_provisioning: true,
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await node?.shutdown();
    await idp?.close();
    await loginApp?.close();
    await clientCallback?.close();
    await db?.dispose();
  });

  it('manages connections: discovery checked, secret sealed and never shown, domains owned by one organization', async () => {
    const shown = (await admin('GET', `/v1/organizations/xcorp/sso-connections/${xcorpConnection.id}`)).json();
    expect(shown).toMatchObject({
      id: expect.stringMatching(/^sso_/),
      protocol: 'oidc',
      status: 'active',
      domains: ['xcorp.test'],
      jit_provisioning: true,
      client_secret_set: true,
      callback_url: `${issuer}/sso/callback/${xcorpConnection.id}`,
      oidc: {
        issuer: idp.issuer,
        client_id: 'mandate',
        scopes: ['openid', 'email', 'profile', 'groups'],
        claims: { email: 'email', name: 'name', groups: 'groups' },
      },
    });
    expect(JSON.stringify(shown)).not.toContain(idp.client.secret);
    const row = await db$().selectFrom('sso_connections').selectAll().where('id', '=', xcorpConnection.id).executeTakeFirstOrThrow();
    expect(row.secret_ciphertext).toMatch(/^v1\./);
    expect(JSON.stringify(row)).not.toContain(idp.client.secret);
    expect((await admin('GET', '/v1/organizations/xcorp/sso-connections')).json().data).toHaveLength(1);
    const audited = (await events('sso_connection.created')).map((e) => e.detail);
    expect(audited).toContainEqual(expect.objectContaining({ id: xcorpConnection.id, domains: ['xcorp.test'] }));
    expect(JSON.stringify(audited)).not.toContain(idp.client.secret);

    const before = await db$().selectFrom('sso_connections').select('id').execute();
    const base = { protocol: 'oidc', name: 'Another', oidc: { issuer: idp.issuer, client_id: 'mandate' } };
    // Another organization cannot take XCorp's domain.
    const taken = await admin('POST', '/v1/organizations/acme/sso-connections', { ...base, domains: ['xcorp.test'] });
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ error: 'conflict', error_description: expect.stringContaining('xcorp.test') });
    const unreachable = await admin('POST', '/v1/organizations/acme/sso-connections', {
      ...base,
      oidc: { issuer: 'http://127.0.0.1:9/', client_id: 'x' },
    });
    expect(unreachable.statusCode).toBe(400);
    expect(unreachable.json().error_description).toContain('discovery');
    const wrongIssuer = await admin('POST', '/v1/organizations/acme/sso-connections', {
      ...base,
      oidc: { issuer: `${idp.issuer}/tenant`, client_id: 'x' },
    });
    expect(wrongIssuer.statusCode).toBe(400);
    const mixed = await admin('POST', '/v1/organizations/acme/sso-connections', { ...base, saml: { entity_id: 'x' } });
    expect(mixed.statusCode).toBe(400);
    const noSettings = await admin('POST', '/v1/organizations/acme/sso-connections', { protocol: 'oidc', name: 'Bare' });
    expect(noSettings.statusCode).toBe(400);
    const extra = await admin('POST', '/v1/organizations/acme/sso-connections', { ...base, owner: 'me' });
    expect(extra.statusCode).toBe(400);
    const otherOrgs = await admin('GET', `/v1/organizations/acme/sso-connections/${xcorpConnection.id}`);
    expect(otherOrgs.statusCode).toBe(404);
    expect(await db$().selectFrom('sso_connections').select('id').execute()).toEqual(before);
  });

  it('signs a user in for an OAuth client: IdP login, member created just in time, groups as roles, consent, code, token', async () => {
    const publicClient = await created('/v1/organizations/xcorp/clients', {
      client_name: 'Calendar Assistant',
      client_type: 'public',
      grant_types: ['authorization_code'],
      redirect_uris: ['http://127.0.0.1/callback'],
      scope: 'calendar.read',
      resources: [MCP],
    });
    const config = await client.discovery(new URL(issuer), publicClient.client_id, undefined, client.None(), {
      execute: [client.allowInsecureRequests],
    });
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: `http://127.0.0.1:${clientCallback.port}/callback`,
      scope: 'calendar.read',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      resource: MCP,
    });
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(url.href);
    await signInAtIdp(page, 'alice');
    await page.waitForURL(/\/oauth2\/consent/);
    expect(await page.locator('main').textContent()).toContain('Calendar Assistant');
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(/\/callback\?/);
    const callbackUrl = new URL(page.url());
    await context.close();

    const tokens = await client.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: verifier, expectedState: state });
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${issuer}/oauth2/jwks`)), {
      issuer,
      audience: MCP,
    });
    const alice = await memberOf('xcorp', 'alice@xcorp.test');
    expect(alice).toMatchObject({ name: 'Alice Doe', status: 'active' });
    expect(payload).toMatchObject({ sub: alice.id, org_id: alice.org_id, scope: 'calendar.read' });

    // Just in time, linked to the IdP subject, and audited as such.
    expect(await db$().selectFrom('member_identities').selectAll().where('member_id', '=', alice.id).execute()).toEqual([
      expect.objectContaining({ connection_id: xcorpConnection.id, subject: 'alice', org_id: alice.org_id }),
    ]);
    expect((await events('member.created')).map((e) => e.detail)).toContainEqual({
      email: 'alice@xcorp.test',
      provisioned: 'just_in_time',
      connection: xcorpConnection.id,
    });
    const [session] = await sessionsOf(alice.id);
    expect(session).toMatchObject({ amr: '["sso"]', connection_id: xcorpConnection.id });
    expect((await events('session.created')).at(-1)?.detail).toMatchObject({
      amr: ['sso'],
      connection: xcorpConnection.id,
      idp_subject: 'alice',
    });

    // The `engineering` group claim became the Engineers role (an `idp` binding), and it decides.
    expect(await db$().selectFrom('role_bindings').select(['role_id', 'source']).where('principal_id', '=', alice.id).execute()).toEqual([
      { role_id: engineers.id, source: 'idp' },
    ]);
    const decision = await admin('POST', '/v1/authz/check', {
      organization: 'xcorp',
      member_id: alice.id,
      tool: 'calendar',
      action: 'read',
      context: { environment: 'prod', classification: 'internal' },
    });
    expect(decision.json().decision).toBe('allow');
  });

  it('routes the hosted sign-in page by email domain and by organization, to the page asked for', async () => {
    const byEmail = await newContext();
    const page = await byEmail.newPage();
    await page.goto(`${issuer}/login?return_to=/sso/signed-in`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Sign in');
    await page.locator('input[name="email"]').fill('bob@xcorp.test');
    await page.getByRole('button', { name: 'Continue' }).click();
    await signInAtIdp(page, 'bob');
    await page.waitForURL(`${issuer}/sso/signed-in`);
    expect(await page.locator('main').textContent()).toContain('Signed in as bob@xcorp.test to XCorp');
    await byEmail.close();
    // Bob's email came back mixed-case and he sent no groups claim: a lower-cased member, no idp bindings.
    const bob = await memberOf('xcorp', 'bob@xcorp.test');
    expect(bob.email).toBe('bob@xcorp.test');

    const byOrg = await newContext();
    const orgPage = await byOrg.newPage();
    await orgPage.goto(`${issuer}/login`);
    await orgPage.locator('input[name="organization"]').fill('XCorp');
    await orgPage.getByRole('button', { name: 'Continue' }).click();
    await signInAtIdp(orgPage, 'carol');
    await orgPage.waitForURL(`${issuer}/sso/signed-in`);
    expect(await orgPage.locator('main').textContent()).toContain('carol@xcorp.test');
    await byOrg.close();

    const unknown = await node.app.inject({ method: 'GET', url: '/sso/start?email=someone@nowhere.test' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toContain('No organization signs in with nowhere.test addresses');
    const headers = (await node.app.inject({ method: 'GET', url: '/login' })).headers;
    expect(headers['content-security-policy']).toContain("default-src 'none'");
    expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
  });

  it('follows the IdP groups at each login, keeps manual bindings, and leaves bindings alone without a groups claim', async () => {
    const alice = await memberOf('xcorp', 'alice@xcorp.test');
    const readers = await created('/v1/organizations/xcorp/roles', {
      name: 'Readers',
      permissions: [{ tool: 'calendar', action: 'read' }],
    });
    expect((await admin('POST', `/v1/organizations/xcorp/roles/${readers.id}/bindings`, { member_id: alice.id })).statusCode).toBe(204);
    const bindings = async () =>
      (await db$().selectFrom('role_bindings').select(['role_id', 'source']).where('principal_id', '=', alice.id).execute()).sort((a, b) =>
        a.role_id.localeCompare(b.role_id),
      );
    const signInAlice = async () => {
      const { text, context } = await signIn(`${issuer}/sso/start?email=alice@xcorp.test`, 'alice');
      await context.close();
      expect(text).toContain('Signed in as alice@xcorp.test');
    };

    accounts.alice = { ...accounts.alice, groups: ['everyone'] } as IdpAccount;
    await signInAlice();
    expect(await bindings()).toEqual([{ role_id: readers.id, source: 'manual' }]);
    expect((await events('role.unbound')).at(-1)?.detail).toMatchObject({ role_id: engineers.id, principal_id: alice.id, source: 'idp' });

    accounts.alice = { ...accounts.alice, groups: ['engineering'] } as IdpAccount;
    await signInAlice();
    const both = [
      { role_id: readers.id, source: 'manual' },
      { role_id: engineers.id, source: 'idp' },
    ].sort((a, b) => a.role_id.localeCompare(b.role_id));
    expect(await bindings()).toEqual(both);

    const { groups: _dropped, ...withoutGroups } = accounts.alice as IdpAccount;
    accounts.alice = withoutGroups;
    await signInAlice();
    expect(await bindings()).toEqual(both);
    expect(await db$().selectFrom('member_identities').selectAll().where('member_id', '=', alice.id).execute()).toHaveLength(1);
  });

  it('refuses a replayed answer, an answer in another browser, a tampered or expired state, each audited', async () => {
    const first = await captureCallback(`${issuer}/sso/start?email=tina@xcorp.test`, 'tina');
    await first.context.close();
    const refusedBefore = (await events('sso.login_refused')).length;

    const elsewhere = await deliver(first.url);
    expect(elsewhere.statusCode).toBe(403);
    expect(elsewhere.body).toContain('did not start in this browser');
    expect((await deliver(first.url, 'A'.repeat(43))).statusCode).toBe(403);
    const tampered = new URL(first.url);
    tampered.searchParams.set('state', `${tampered.searchParams.get('state')}x`);
    const forged = await deliver(tampered.href, first.cookie);
    expect(forged.statusCode).toBe(403);
    expect(forged.body).toContain('unknown login state');
    expect(await memberOf('xcorp', 'tina@xcorp.test')).toBeUndefined();

    // The refused attempts did not use the state up: the right browser still signs in, once.
    const ok = await deliver(first.url, first.cookie);
    expect(ok.statusCode).toBe(303);
    expect(ok.headers.location).toBe(`${issuer}/sso/signed-in`);
    expect(String(ok.headers['set-cookie'])).toMatch(/mandate_session=mnd_st_[^;]+;.*HttpOnly.*SameSite=Lax/);
    const tina = await memberOf('xcorp', 'tina@xcorp.test');
    expect(await sessionsOf(tina.id)).toHaveLength(1);
    const replay = await deliver(first.url, first.cookie);
    expect(replay.statusCode).toBe(403);
    expect(replay.body).toContain('already used');
    expect(await sessionsOf(tina.id)).toHaveLength(1);

    const late = await captureCallback(`${issuer}/sso/start?email=tina@xcorp.test`, 'tina');
    await late.context.close();
    await db$().updateTable('sso_login_states').set({ expires_at: '2000-01-01T00:00:00.000Z' }).where('consumed_at', 'is', null).execute();
    const expired = await deliver(late.url, late.cookie);
    expect(expired.statusCode).toBe(403);
    expect(expired.body).toContain('expired');
    expect(await sessionsOf(tina.id)).toHaveLength(1);

    // RFC 9207: the IdP advertises `iss` in its answers; another issuer's answer is refused.
    const mixUp = await captureCallback(`${issuer}/sso/start?email=tina@xcorp.test`, 'tina');
    await mixUp.context.close();
    const otherIssuer = new URL(mixUp.url);
    expect(otherIssuer.searchParams.get('iss')).toBe(idp.issuer);
    otherIssuer.searchParams.set('iss', 'https://idp.evil.test');
    const mixed = await deliver(otherIssuer.href, mixUp.cookie);
    expect(mixed.statusCode).toBe(403);
    expect(await sessionsOf(tina.id)).toHaveLength(1);

    const refused = (await events('sso.login_refused')).slice(refusedBefore);
    expect(refused.map((e) => e.detail.reason)).toEqual([
      'the login did not start in this browser',
      'the login did not start in this browser',
      'unknown login state',
      'the login state was already used',
      'the login state has expired',
      'unexpected "iss" (issuer) response parameter value',
    ]);
    expect(refused.every((e) => e.detail.connection === xcorpConnection.id && e.result === 'failure')).toBe(true);
    expect(JSON.stringify(refused)).not.toContain(new URL(first.url).searchParams.get('code') as string);
  });

  it.each([
    ['another audience', { sign: 'idp', claims: (c: Record<string, unknown>) => ({ ...c, aud: 'someone-else' }) }, '"aud"'],
    ['a wrong nonce', { sign: 'idp', claims: (c: Record<string, unknown>) => ({ ...c, nonce: 'attacker-nonce' }) }, '"nonce"'],
    // The IdP's metadata lists none and HS256: the signature check against its JWKS still refuses them.
    ['no signature (alg none)', { sign: 'none' }, 'unsupported JWS "alg"'],
    ['HS256 keyed with the client secret', { sign: 'HS256' }, 'unsupported JWS algorithm'],
    ['an expired ID token', { sign: 'idp', claims: (c: Record<string, unknown>) => ({ ...c, exp: 1_000_000_000 }) }, '"exp"'],
  ] as const)('refuses an ID token with %s', async (_label, rule, check) => {
    const refusedBefore = (await events('sso.login_refused')).length;
    idp.tamper(rule);
    try {
      const { text, context } = await signIn(`${issuer}/sso/start?email=dave@xcorp.test`, 'dave');
      await context.close();
      expect(text).toContain('Sign-in refused');
    } finally {
      idp.tamper(undefined);
    }
    expect(await memberOf('xcorp', 'dave@xcorp.test')).toBeUndefined();
    const [refused] = (await events('sso.login_refused')).slice(refusedBefore);
    expect(String(refused?.detail.reason)).toContain(check);
  });

  it('refuses an unverified email, an email outside the connection’s domains, and a suspended member', async () => {
    const refusedBefore = (await events('sso.login_refused')).length;
    const unverified = await signIn(`${issuer}/sso/start?organization=xcorp`, 'erin');
    await unverified.context.close();
    expect(unverified.text).toContain('not verified');
    const outside = await signIn(`${issuer}/sso/start?organization=xcorp`, 'mallory');
    await outside.context.close();
    expect(outside.text).toContain('outside the domains');
    expect(await memberOf('xcorp', 'erin@xcorp.test')).toBeUndefined();
    expect(await memberOf('xcorp', 'mallory@evil.test')).toBeUndefined();

    const suspended = await created('/v1/organizations/xcorp/members', { email: 'dave@xcorp.test', status: 'suspended' });
    const refused = await signIn(`${issuer}/sso/start?email=dave@xcorp.test`, 'dave');
    await refused.context.close();
    expect(refused.text).toContain('the member is suspended');
    expect(await sessionsOf(suspended.id)).toHaveLength(0);
    expect(await db$().selectFrom('member_identities').selectAll().where('member_id', '=', suspended.id).execute()).toEqual([]);
    expect((await events('sso.login_refused')).slice(refusedBefore).map((e) => e.detail.reason)).toEqual([
      'the identity provider says the email address is not verified',
      'the identity provider asserted an email outside the domains of this connection',
      'the member is suspended',
    ]);
  });

  it('never touches a same-email member of another organization', async () => {
    const acmeCarol = await created('/v1/organizations/acme/members', { email: 'carol@xcorp.test', name: 'Acme Carol' });
    const xcorpCarol = await memberOf('xcorp', 'carol@xcorp.test');
    const { text, context } = await signIn(`${issuer}/sso/start?email=carol@xcorp.test`, 'carol');
    await context.close();
    expect(text).toContain('to XCorp');
    expect(await sessionsOf(acmeCarol.id)).toHaveLength(0);
    expect(await db$().selectFrom('member_identities').selectAll().where('member_id', '=', acmeCarol.id).execute()).toEqual([]);
    expect((await admin('GET', `/v1/organizations/acme/members/${acmeCarol.id}`)).json()).toMatchObject({
      name: 'Acme Carol',
      status: 'active',
    });
    expect((await sessionsOf(xcorpCarol.id)).length).toBeGreaterThanOrEqual(2);
  });

  it('asks for the email when an organization has several identity providers, and follows disabling and deletion', async () => {
    const oidc = { issuer: idp.issuer, client_id: idp.client.id, client_secret: 'first-secret' };
    const a = await created('/v1/organizations/acme/sso-connections', {
      protocol: 'oidc',
      name: 'Acme staff',
      domains: ['acme-a.test'],
      oidc,
    });
    const b = await created('/v1/organizations/acme/sso-connections', {
      protocol: 'oidc',
      name: 'Acme partners',
      domains: ['acme-b.test'],
      oidc,
    });
    const asked = await node.app.inject({ method: 'GET', url: '/sso/start?organization=acme' });
    expect(asked.statusCode).toBe(200);
    expect(asked.body).toContain('Sign in to Acme');
    expect(asked.body).toContain('name="organization" value="acme"');
    const toB = await node.app.inject({ method: 'GET', url: '/sso/start?organization=acme&email=pat@ACME-B.test' });
    expect(toB.statusCode).toBe(303);
    const authorization = new URL(String(toB.headers.location));
    expect(authorization.origin).toBe(idp.issuer);
    expect(authorization.searchParams.get('redirect_uri')).toBe(b.callback_url);
    expect(authorization.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorization.searchParams.get('nonce')).toBeTruthy();
    expect(authorization.searchParams.get('scope')).toBe('openid email profile');
    // Only the state's hash is stored.
    const state = authorization.searchParams.get('state') as string;
    expect(JSON.stringify(await db$().selectFrom('sso_login_states').selectAll().execute())).not.toContain(state);
    const wrongOrg = await node.app.inject({ method: 'GET', url: '/sso/start?organization=xcorp&email=pat@acme-b.test' });
    expect(wrongOrg.statusCode).toBe(404);

    const rotated = await admin('PATCH', `/v1/organizations/acme/sso-connections/${b.id}`, {
      oidc: { ...oidc, client_secret: 'second-secret' },
    });
    expect(rotated.statusCode).toBe(200);
    expect((await events('sso_connection.updated')).at(-1)?.detail).toMatchObject({ id: b.id, changed: ['settings', 'client_secret'] });
    expect(JSON.stringify(await events('sso_connection.updated'))).not.toContain('second-secret');
    expect((await admin('PATCH', `/v1/organizations/acme/sso-connections/${b.id}`, { status: 'disabled' })).json().status).toBe('disabled');
    expect((await node.app.inject({ method: 'GET', url: '/sso/start?email=pat@acme-b.test' })).statusCode).toBe(404);
    expect((await node.app.inject({ method: 'GET', url: `/sso/start?connection=${b.id}` })).statusCode).toBe(404);
    // One active connection left: the organization name alone picks it.
    const toA = await node.app.inject({ method: 'GET', url: '/sso/start?organization=acme' });
    expect(new URL(String(toA.headers.location)).searchParams.get('redirect_uri')).toBe(a.callback_url);
    expect((await admin('DELETE', `/v1/organizations/acme/sso-connections/${b.id}`)).statusCode).toBe(204);
    expect((await admin('GET', `/v1/organizations/acme/sso-connections/${b.id}`)).statusCode).toBe(404);
    expect((await events('sso_connection.deleted')).at(-1)?.detail).toMatchObject({ id: b.id });
    // The domain is free again.
    expect(
      (await admin('PATCH', `/v1/organizations/acme/sso-connections/${a.id}`, { domains: ['acme-a.test', 'acme-b.test'] })).statusCode,
    ).toBe(200);
    expect((await admin('DELETE', `/v1/organizations/acme/sso-connections/${a.id}`)).statusCode).toBe(204);
  });

  it('sends the authorization flow to SSO when the organization has it and its policy allows it', async () => {
    const strictClient = await created('/v1/organizations/strict/clients', {
      client_name: 'Strict Assistant',
      client_type: 'public',
      grant_types: ['authorization_code'],
      redirect_uris: ['http://127.0.0.1/callback'],
      scope: 'calendar.read',
      resources: [MCP],
    });
    const authorize = () =>
      node.app.inject({
        method: 'GET',
        url: `/oauth2/authorize?${new URLSearchParams({
          response_type: 'code',
          client_id: strictClient.client_id,
          redirect_uri: 'http://127.0.0.1:50123/callback',
          scope: 'calendar.read',
          resource: MCP,
          code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          code_challenge_method: 'S256',
        })}`,
      });
    const toSso = await authorize();
    const location = new URL(String(toSso.headers.location));
    expect(`${location.origin}${location.pathname}`).toBe(`${issuer}/oauth2/sso`);
    const loginCookie = /mandate_login=([^;]+)/.exec(String(toSso.headers['set-cookie']))?.[1] as string;
    const ssoPath = `${location.pathname}${location.search}`;
    const foreign = await node.app.inject({ method: 'GET', url: ssoPath });
    expect(foreign.statusCode).toBe(403);
    const started = await node.app.inject({ method: 'GET', url: ssoPath, headers: { cookie: `mandate_login=${loginCookie}` } });
    expect(started.statusCode).toBe(303);
    expect(new URL(String(started.headers.location)).searchParams.get('redirect_uri')).toBe(strictConnection.callback_url);

    // A policy without SSO sends the user to the organization's own login page instead.
    await admin('PATCH', '/v1/organizations/strict', { settings: { allowed_auth_methods: ['trusted_token'] } });
    const toApp = await authorize();
    expect(String(toApp.headers.location)).toContain(`${loginApp.issuer}/login`);
    const refused = await node.app.inject({ method: 'GET', url: `/sso/start?email=sam@strict.test` });
    expect(refused.statusCode).toBe(403);
    expect(refused.body).toContain('does not allow sso login');
    await admin('PATCH', '/v1/organizations/strict', { settings: null });
  });

  it('requires SSO: refused with no connection, then trusted tokens are refused, SSO works, and the last connection cannot go', async () => {
    const empty = await created('/v1/organizations', { slug: 'empty', name: 'Empty' });
    const refused = await admin('PATCH', `/v1/organizations/${empty.id}`, { settings: { sso_required: true } });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error_description).toContain('no active SSO connection');

    const token = await loginApp.mint({ sub: 's-1', email: 'sam@strict.test', name: 'Sam' });
    const attest = () => node.app.inject({ method: 'POST', url: '/v1/sessions/attest', payload: { organization: 'strict', token } });
    expect((await attest()).statusCode).toBe(201);

    expect((await admin('PATCH', '/v1/organizations/strict', { settings: { sso_required: true } })).statusCode).toBe(200);
    const attested = await attest();
    expect(attested.statusCode).toBe(403);
    expect(attested.json().error_description).toContain('requires SSO');

    const { text, context } = await signIn(`${issuer}/sso/start?email=sam@strict.test`, 'sam');
    await context.close();
    expect(text).toContain('Signed in as sam@strict.test to Strict Corp');

    const disable = await admin('PATCH', `/v1/organizations/strict/sso-connections/${strictConnection.id}`, { status: 'disabled' });
    expect(disable.statusCode).toBe(409);
    expect(disable.json().error_description).toContain('nobody could log in');
    expect((await admin('DELETE', `/v1/organizations/strict/sso-connections/${strictConnection.id}`)).statusCode).toBe(409);
    expect((await admin('GET', `/v1/organizations/strict/sso-connections/${strictConnection.id}`)).json().status).toBe('active');

    const renamed = await admin('PATCH', `/v1/organizations/strict/sso-connections/${strictConnection.id}`, {
      name: 'Strict IdP (renamed)',
    });
    expect(renamed.json()).toMatchObject({ name: 'Strict IdP (renamed)', status: 'active' });
    expect((await events('sso_connection.updated')).at(-1)?.detail).toMatchObject({ id: strictConnection.id, changed: ['name'] });
  });

  it('lets a connection vouch only for emails of its own domains, and never re-link a member another way in', async () => {
    const ceo = await created('/v1/organizations/xcorp/members', { email: 'ceo@xcorp.test', name: 'The CEO' });
    const root = await created('/v1/organizations/xcorp/members', { email: 'root@xcorp.test' });
    const partners = await created('/v1/organizations/xcorp/sso-connections', {
      protocol: 'oidc',
      name: 'Partners',
      jit_provisioning: true,
      oidc: { issuer: idp.issuer, client_id: idp.client.id, client_secret: idp.client.secret, scopes: ['openid', 'email', 'groups'] },
    });
    await allowRedirect(partners.callback_url);
    const refusedBefore = (await events('sso.login_refused')).length;
    const attempt = async (connectionId: string, login: string) => {
      const { text, context } = await signIn(`${issuer}/sso/start?connection=${connectionId}`, login);
      await context.close();
      return text;
    };
    const untouched = async (memberId: string) => {
      expect(await sessionsOf(memberId)).toHaveLength(0);
      expect(await db$().selectFrom('member_identities').selectAll().where('member_id', '=', memberId).execute()).toEqual([]);
      expect(await db$().selectFrom('role_bindings').selectAll().where('principal_id', '=', memberId).execute()).toEqual([]);
    };

    // A connection without domains vouches for nobody: not the CEO, not a newcomer.
    expect(await attempt(partners.id, 'ceo')).toContain('Sign-in refused');
    await untouched(ceo.id);
    expect(await attempt(partners.id, 'pia')).toContain('Sign-in refused');
    expect(await memberOf('xcorp', 'pia@partner.test')).toBeUndefined();
    // With its own domain, it still cannot claim the CEO; it provisions its own people.
    await admin('PATCH', `/v1/organizations/xcorp/sso-connections/${partners.id}`, { domains: ['partner.test'] });
    expect(await attempt(partners.id, 'ceo')).toContain('outside the domains');
    await untouched(ceo.id);
    expect(await attempt(partners.id, 'pia')).toContain('Signed in as pia@partner.test');

    // A member holding a break-glass account is linked by an administrator, not by email.
    const at = new Date().toISOString();
    await db$()
      .insertInto('break_glass_accounts')
      .values({
        member_id: root.id,
        org_id: root.org_id,
        password_hash: 'x',
        totp_ciphertext: 'x',
        totp_confirmed_at: at,
        last_totp_step: null,
        failed_attempts: 0,
        locked_until: null,
        created_at: at,
        updated_at: at,
      })
      .execute();
    expect(await attempt(xcorpConnection.id, 'root')).toContain('break-glass');
    await untouched(root.id);
    // An administrator links the member's IdP subject; from then on SSO signs them in.
    const link = { connection_id: xcorpConnection.id, subject: 'root' };
    expect((await admin('POST', `/v1/organizations/xcorp/members/${root.id}/identities`, link)).statusCode).toBe(201);
    expect((await admin('POST', `/v1/organizations/xcorp/members/${ceo.id}/identities`, link)).statusCode).toBe(409);
    expect((await admin('POST', `/v1/organizations/beta-none/members/${root.id}/identities`, link)).statusCode).toBe(404);
    expect(await attempt(xcorpConnection.id, 'root')).toContain('Signed in as root@xcorp.test');
    expect((await admin('GET', `/v1/organizations/xcorp/members/${root.id}/identities`)).json().data).toMatchObject([link]);

    // The domain moves to another connection: its IdP cannot take over the member linked at the first.
    await admin('PATCH', `/v1/organizations/xcorp/sso-connections/${partners.id}`, { domains: [] });
    const partners2 = await created('/v1/organizations/xcorp/sso-connections', {
      protocol: 'oidc',
      name: 'Partners 2',
      domains: ['partner.test'],
      oidc: { issuer: idp.issuer, client_id: idp.client.id, client_secret: idp.client.secret },
    });
    await allowRedirect(partners2.callback_url);
    expect(await attempt(partners2.id, 'pia')).toContain('another identity provider');
    const pia = await memberOf('xcorp', 'pia@partner.test');
    expect(await db$().selectFrom('member_identities').select('connection_id').where('member_id', '=', pia.id).execute()).toEqual([
      { connection_id: partners.id },
    ]);

    expect((await events('sso.login_refused')).slice(refusedBefore).map((e) => e.detail.reason)).toEqual([
      'this connection lists no email domains, so it cannot vouch for an email: an administrator must link the member',
      'this connection lists no email domains, so it cannot vouch for an email: an administrator must link the member',
      'the identity provider asserted an email outside the domains of this connection',
      'this member holds a break-glass account: an administrator must link the member',
      'this member signs in through another identity provider: an administrator must link the member',
    ]);
    expect((await admin('DELETE', `/v1/organizations/xcorp/sso-connections/${partners2.id}`)).statusCode).toBe(204);
    expect((await admin('DELETE', `/v1/organizations/xcorp/sso-connections/${partners.id}`)).statusCode).toBe(204);
  }, 60_000);

  it('ends the sessions a connection started when it is disabled or deleted', async () => {
    await created('/v1/organizations', { slug: 'beta', name: 'Beta' });
    const beta = await created('/v1/organizations/beta/sso-connections', {
      protocol: 'oidc',
      name: 'Beta IdP',
      domains: ['beta.test'],
      jit_provisioning: true,
      oidc: { issuer: idp.issuer, client_id: idp.client.id, client_secret: idp.client.secret },
    });
    await allowRedirect(beta.callback_url);
    const signInBen = async () => {
      const { text, context } = await signIn(`${issuer}/sso/start?email=ben@beta.test`, 'ben');
      const token = (await context.cookies(issuer)).find((c) => c.name === 'mandate_session')?.value as string;
      await context.close();
      expect(text).toContain('Signed in as ben@beta.test');
      expect(token).toMatch(/^mnd_st_/);
      return token;
    };
    const me = (token: string) => node.app.inject({ method: 'GET', url: '/v1/sessions/me', headers: { authorization: `Bearer ${token}` } });

    const first = await signInBen();
    expect((await me(first)).statusCode).toBe(200);
    expect((await admin('PATCH', `/v1/organizations/beta/sso-connections/${beta.id}`, { status: 'disabled' })).statusCode).toBe(200);
    expect((await me(first)).statusCode).toBe(401);
    const ben = await memberOf('beta', 'ben@beta.test');
    expect((await events('session.revoked')).at(-1)).toMatchObject({
      subject_id: ben.id,
      detail: { revoked_by: 'sso_connection', connection: beta.id },
    });

    expect((await admin('PATCH', `/v1/organizations/beta/sso-connections/${beta.id}`, { status: 'active' })).statusCode).toBe(200);
    const second = await signInBen();
    expect((await me(second)).statusCode).toBe(200);
    expect((await admin('DELETE', `/v1/organizations/beta/sso-connections/${beta.id}`)).statusCode).toBe(204);
    expect((await me(second)).statusCode).toBe(401);
    expect((await sessionsOf(ben.id)).every((session) => session.revoked_at !== null)).toBe(true);
  });

  it('answers two concurrent first logins of one person with one member and two sessions', async () => {
    const [a, b] = await Promise.all([
      captureCallback(`${issuer}/sso/start?email=ray@xcorp.test`, 'ray'),
      captureCallback(`${issuer}/sso/start?email=ray@xcorp.test`, 'ray'),
    ]);
    await Promise.all([a.context.close(), b.context.close()]);
    const answers = await Promise.all([deliver(a.url, a.cookie), deliver(b.url, b.cookie)]);
    expect(answers.map((answer) => answer.statusCode)).toEqual([303, 303]);
    const ray = await memberOf('xcorp', 'ray@xcorp.test');
    expect(await db$().selectFrom('member_identities').selectAll().where('member_id', '=', ray.id).execute()).toHaveLength(1);
    expect(await sessionsOf(ray.id)).toHaveLength(2);
  });

  it('provisions one member when a second first login waits on the first one’s insert', async () => {
    const { store, clock } = node.runtime;
    const provisioning = new SsoProvisioning({ audit: new AuditLog({ dialect: store.dialect, clock }), clock, dialect: store.dialect });
    const org = await db$().selectFrom('organizations').selectAll().where('slug', '=', 'xcorp').executeTakeFirstOrThrow();
    const connection = await db$().selectFrom('sso_connections').selectAll().where('id', '=', xcorpConnection.id).executeTakeFirstOrThrow();
    const identity = { subject: 'quinn', email: 'quinn@xcorp.test', groups: [], detail: {} };
    let releaseFirst = () => {};
    const held = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    const first = db$()
      .transaction()
      .execute(async (trx) => {
        const provisioned = await provisioning.provisionWithin(trx, org, connection, identity, {});
        await held;
        return provisioned;
      });
    // The first transaction holds its new member uncommitted while the second one runs into it.
    const second = db$()
      .transaction()
      .execute((trx) => provisioning.provisionWithin(trx, org, connection, identity, {}));
    await new Promise((resolve) => setTimeout(resolve, 200));
    releaseFirst();
    const [one, two] = await Promise.all([first, second]);
    // Whichever commits first creates the member; the other takes the linked path to the same one.
    expect([one.matched, two.matched].sort()).toEqual(['identity', 'just_in_time']);
    expect(two.member.id).toBe(one.member.id);
    expect(await db$().selectFrom('members').select('id').where('email', '=', 'quinn@xcorp.test').execute()).toHaveLength(1);
  });

  it('keeps return_to on Mandate itself', async () => {
    for (const target of ['//evil.test/x', 'https://evil.test/', '/\\evil.test', 'javascript:alert(1)', '/ok path']) {
      const res = await node.app.inject({ method: 'GET', url: `/sso/start?organization=xcorp&return_to=${encodeURIComponent(target)}` });
      expect(res.statusCode, target).toBe(400);
    }
    const res = await node.app.inject({ method: 'GET', url: '/sso/start?organization=xcorp&return_to=/v1/sessions/me' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toContain(idp.issuer);
    expect(String(res.headers['set-cookie'])).toMatch(/mandate_sso=[A-Za-z0-9_-]{43};.*Path=\/sso;.*HttpOnly;.*Secure;.*SameSite=None/);
  });
});
