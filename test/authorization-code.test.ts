import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { FrozenClock } from './support/clock.js';
import {
  authorizeUrl,
  CODE_MCP,
  type CodeFlowFixture,
  createCodeFlowFixture,
  LOOPBACK_REDIRECT,
  obtainCode,
  pkcePair,
} from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';
import { basic, form } from './support/oauth-fixtures.js';

describe.each(dialects)('authorization code flow on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let loginApp: CustomerLoginApp;
  let fx: CodeFlowFixture;
  const clock = new FrozenClock(Date.now());

  const token = (body: Record<string, string>, authorization?: string) =>
    node.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      payload: form(body),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization && { authorization }) },
    });
  const exchange = (c: { code: string; verifier: string; redirectUri: string }, clientId = fx.publicClient) =>
    token({ grant_type: 'authorization_code', code: c.code, code_verifier: c.verifier, redirect_uri: c.redirectUri, client_id: clientId });
  const introspect = async (t: string) =>
    (
      await node.app.inject({
        method: 'POST',
        url: '/oauth2/introspect',
        payload: form({ token: t }),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: basic(fx.webClient.client_id, fx.webClient.client_secret),
        },
      })
    ).json();
  const issuedCount = async () =>
    (await node.runtime.store.db.selectFrom('audit_events').select('id').where('kind', 'in', ['token.issued', 'token.refreshed']).execute())
      .length;
  const authorize = (params: Record<string, string | undefined>, cookie = true) =>
    node.app.inject({ method: 'GET', url: authorizeUrl(params), headers: cookie ? { cookie: `mandate_session=${fx.sessionToken}` } : {} });
  const valid = () => {
    const { challenge } = pkcePair();
    return {
      response_type: 'code',
      client_id: fx.publicClient,
      redirect_uri: LOOPBACK_REDIRECT,
      scope: 'calendar.read',
      resource: CODE_MCP,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'abc',
    };
  };

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db, { clock });
    loginApp = await startCustomerLoginApp({ sub: 'u-1001', email: 'john@xcorp.test', name: 'John Smith' });
    // The clock was frozen when the suites were collected: catch up, so trusted tokens minted now are not from the future.
    clock.advance((Date.now() - clock.now()) / 1000);
    fx = await createCodeFlowFixture(node, loginApp);
  });
  afterAll(async () => {
    await node?.shutdown();
    await loginApp?.close();
    await db?.dispose();
  });

  it('exchanges a code once, bound to client, redirect URI and verifier', async () => {
    const c = await obtainCode(node, fx);
    const res = await exchange(c);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      token_type: 'Bearer',
      scope: 'calendar.read calendar.write',
      refresh_token: expect.stringMatching(/^mnd_rt_/),
    });
  });

  // Never redirect to an unverified redirect URI (RFC 6749 §4.1.2.1): an error page instead.
  it.each([
    ['a trailing slash', { redirect_uri: 'http://127.0.0.1:50123/callback/' }],
    ['case in the path', { redirect_uri: 'http://127.0.0.1:50123/Callback' }],
    ['another host', { redirect_uri: 'http://attacker.test/callback' }],
    ['an unknown client', { client_id: 'cli_00000000000000000000000000' }],
    ['no redirect_uri', { redirect_uri: undefined }],
    ['a fragment on a loopback redirect (RFC 6749 §3.1.2)', { redirect_uri: 'http://127.0.0.1:50123/callback#frag' }],
  ])('shows an error page, never a redirect, for %s', async (_name, override) => {
    const res = await authorize({ ...valid(), ...override });
    expect(res.statusCode).toBe(400);
    expect(res.headers.location).toBeUndefined();
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  });

  it('refuses a non-loopback redirect that differs only by port', async () => {
    const { challenge } = pkcePair();
    const res = await authorize({
      ...valid(),
      client_id: fx.webClient.client_id,
      redirect_uri: 'https://agent.xcorp.test:8443/cb',
      code_challenge: challenge,
    });
    expect(res.statusCode).toBe(400);
    expect(res.headers.location).toBeUndefined();
  });

  it.each([
    ['missing PKCE', { code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request'],
    ['code_challenge_method=plain', { code_challenge_method: 'plain' }, 'invalid_request'],
    ['an unregistered resource', { resource: 'https://evil.test/' }, 'invalid_target'],
    ['no resource', { resource: undefined }, 'invalid_target'],
    ['a scope beyond the client', { scope: 'calendar.read admin' }, 'invalid_scope'],
    ['response_type=token', { response_type: 'token' }, 'unsupported_response_type'],
    ['an unknown prompt', { prompt: 'select_account' }, 'invalid_request'],
  ])('redirects back with an error for %s, with state and iss', async (_name, override, error) => {
    const res = await authorize({ ...valid(), ...override });
    expect(res.statusCode).toBe(303);
    const location = new URL(String(res.headers.location));
    expect(`${location.origin}${location.pathname}`).toBe(LOOPBACK_REDIRECT);
    expect(location.searchParams.get('error')).toBe(error);
    expect(location.searchParams.get('state')).toBe('abc');
    expect(location.searchParams.get('iss')).toBe('http://localhost:4000');
    expect(location.searchParams.get('code')).toBeNull();
  });

  it('answers login_required to prompt=none without a session, and sends others to the organization login', async () => {
    const none = await authorize({ ...valid(), prompt: 'none' }, false);
    expect(new URL(String(none.headers.location)).searchParams.get('error')).toBe('login_required');
    const login = await authorize(valid(), false);
    const location = new URL(String(login.headers.location));
    expect(`${location.origin}${location.pathname}`).toBe(loginApp.loginUrl);
    expect(location.searchParams.get('return_to')).toBe('http://localhost:4000/oauth2/login');
    expect(location.searchParams.get('mandate_request')).toMatch(/^azr_/);
  });

  it('prompt=login sends a signed-in user back to the organization login', async () => {
    const res = await authorize({ ...valid(), prompt: 'login' });
    const location = new URL(String(res.headers.location));
    expect(`${location.origin}${location.pathname}`).toBe(loginApp.loginUrl);
  });

  it('lets an unused refresh token lapse after its sliding lifetime', async () => {
    const tokens = (await exchange(await obtainCode(node, fx))).json();
    clock.advance(14 * 86_400 + 1);
    try {
      const res = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: fx.publicClient });
      expect(res.json()).toMatchObject({ error: 'invalid_grant', error_description: expect.stringContaining('expired') });
    } finally {
      clock.advance(-(14 * 86_400 + 1));
    }
  });

  const codeRefusals: {
    name: string;
    tamper: (c: { code: string; verifier: string; redirectUri: string }) => ReturnType<typeof exchange>;
  }[] = [
    { name: 'a wrong verifier', tamper: (c) => exchange({ ...c, verifier: pkcePair().verifier }) },
    { name: 'a different redirect_uri', tamper: (c) => exchange({ ...c, redirectUri: 'http://127.0.0.1:50124/callback' }) },
    {
      name: 'another client',
      tamper: (c) =>
        token(
          { grant_type: 'authorization_code', code: c.code, code_verifier: c.verifier, redirect_uri: c.redirectUri },
          basic(fx.webClient.client_id, fx.webClient.client_secret),
        ),
    },
    { name: 'a made-up code', tamper: (c) => exchange({ ...c, code: 'mnd_ac_made_up' }) },
    {
      name: 'an expired code',
      tamper: async (c) => {
        clock.advance(61);
        try {
          return await exchange(c);
        } finally {
          clock.advance(-61);
        }
      },
    },
  ];

  it.each(codeRefusals)('refuses a code with $name and issues nothing', async ({ tamper }) => {
    const c = await obtainCode(node, fx);
    const before = await issuedCount();
    const res = await tamper(c);
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_grant');
    expect(await issuedCount()).toBe(before);
  });

  it('a replayed code fails and revokes the tokens first issued from it', async () => {
    const c = await obtainCode(node, fx);
    const first = (await exchange(c)).json();
    expect((await introspect(first.access_token)).active).toBe(true);
    const replay = await exchange(c);
    expect(replay.json().error).toBe('invalid_grant');
    expect(await introspect(first.access_token)).toEqual({ active: false });
    expect(
      (await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: fx.publicClient })).json().error,
    ).toBe('invalid_grant');
  });

  // RFC 9700 §4.2.4: only a replay proving possession of the code may revoke the grant; anyone
  // else who saw a used code must not be able to take the user's grant down with it.
  it.each(codeRefusals.filter((r) => ['a wrong verifier', 'a different redirect_uri', 'another client'].includes(r.name)))(
    'a used code replayed with $name is refused and the victim’s tokens keep working',
    async ({ tamper }) => {
      const c = await obtainCode(node, fx);
      const first = (await exchange(c)).json();
      const replay = await tamper(c);
      expect(replay.statusCode).toBe(400);
      expect(replay.json().error).toBe('invalid_grant');
      expect((await introspect(first.access_token)).active).toBe(true);
      const refreshed = await token({ grant_type: 'refresh_token', refresh_token: first.refresh_token, client_id: fx.publicClient });
      expect(refreshed.statusCode).toBe(200);
      expect((await introspect(refreshed.json().access_token)).active).toBe(true);
    },
  );

  it('a step-up consent supersedes the older grant: one live grant, old tokens refused', async () => {
    const headers = { authorization: `Bearer ${fx.sessionToken}` };
    const liveGrants = async () =>
      (
        (await node.app.inject({ method: 'GET', url: '/v1/sessions/me/grants', headers })).json().data as {
          id: string;
          client_id: string;
          resource: string;
          scope: string;
          revoked_at: string | null;
          revoked_reason: string | null;
        }[]
      ).filter((g) => g.client_id === fx.publicClient && g.resource === CODE_MCP && g.revoked_at === null);
    const narrow = (await exchange(await obtainCode(node, fx, { scope: 'calendar.read' }))).json();
    const narrowGrant = (await introspect(narrow.access_token)).auth_event_id as string;
    const wide = (await exchange(await obtainCode(node, fx, { scope: 'calendar.write' }))).json();
    const wideGrant = (await introspect(wide.access_token)).auth_event_id as string;
    expect(wideGrant).not.toBe(narrowGrant);

    const live = await liveGrants();
    expect(live.map((g) => g.id)).toEqual([wideGrant]);
    expect(live[0]?.scope).toBe('calendar.read calendar.write');
    expect(await introspect(narrow.access_token)).toEqual({ active: false });
    expect(
      (await token({ grant_type: 'refresh_token', refresh_token: narrow.refresh_token, client_id: fx.publicClient })).json().error,
    ).toBe('invalid_grant');
    const superseded = await node.runtime.store.db.selectFrom('grants').selectAll().where('id', '=', narrowGrant).executeTakeFirst();
    expect(superseded?.revoked_reason).toBe(`superseded by ${wideGrant}`);

    // Revoking the one grant the user sees leaves nothing of the app's access working.
    expect((await node.app.inject({ method: 'DELETE', url: `/v1/sessions/me/grants/${wideGrant}`, headers })).statusCode).toBe(204);
    expect(await liveGrants()).toEqual([]);
    expect(await introspect(wide.access_token)).toEqual({ active: false });
    expect((await token({ grant_type: 'refresh_token', refresh_token: wide.refresh_token, client_id: fx.publicClient })).json().error).toBe(
      'invalid_grant',
    );
  });

  it.each(['/oauth2/token', '/oauth2/introspect', '/oauth2/revoke', '/oauth2/par', '/oauth2/bc-authorize', '/oauth2/register'])(
    'answers other methods than POST at %s with 405, Allow: POST, in the OAuth error shape',
    async (url) => {
      for (const method of ['GET', 'PUT', 'DELETE'] as const) {
        const res = await node.app.inject({ method, url });
        expect(res.statusCode).toBe(405);
        expect(res.headers.allow).toBe('POST');
        expect(res.json()).toEqual({ error: 'invalid_request', error_description: expect.stringContaining('POST') });
      }
    },
  );

  it('narrows scope on refresh and never widens it', async () => {
    const tokens = (await exchange(await obtainCode(node, fx))).json();
    const narrowed = await token({
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
      client_id: fx.publicClient,
      scope: 'calendar.read',
    });
    expect(narrowed.json().scope).toBe('calendar.read');
    const widened = await token({
      grant_type: 'refresh_token',
      refresh_token: narrowed.json().refresh_token,
      client_id: fx.publicClient,
      scope: 'calendar.read admin',
    });
    expect(widened.json().error).toBe('invalid_scope');
    // The rotated-away token is not burnt by a refused request: the newest still works.
    const again = await token({ grant_type: 'refresh_token', refresh_token: narrowed.json().refresh_token, client_id: fx.publicClient });
    expect(again.json().scope).toBe('calendar.read calendar.write');
  });

  it('lets the user list and revoke a grant, killing its tokens at once', async () => {
    const tokens = (await exchange(await obtainCode(node, fx))).json();
    const headers = { authorization: `Bearer ${fx.sessionToken}` };
    const grants = (await node.app.inject({ method: 'GET', url: '/v1/sessions/me/grants', headers })).json().data as {
      id: string;
      revoked_at: string | null;
    }[];
    const grantId = (await introspect(tokens.access_token)).auth_event_id as string;
    expect(grants.map((g) => g.id)).toContain(grantId);
    const revoked = await node.app.inject({ method: 'DELETE', url: `/v1/sessions/me/grants/${grantId}`, headers });
    expect(revoked.statusCode).toBe(204);
    expect(await introspect(tokens.access_token)).toEqual({ active: false });
    expect(
      (await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: fx.publicClient })).json().error,
    ).toBe('invalid_grant');
    const event = await node.runtime.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('kind', '=', 'grant.revoked')
      .where('grant_id', '=', grantId)
      .executeTakeFirst();
    expect(event?.subject_id).toMatch(/^mbr_/);
  });

  it('a refresh token revoked by its client revokes the grant (RFC 7009)', async () => {
    const c = await obtainCode(node, fx, { clientId: fx.webClient.client_id, redirectUri: 'https://agent.xcorp.test/cb' });
    const auth = basic(fx.webClient.client_id, fx.webClient.client_secret);
    const tokens = (
      await token({ grant_type: 'authorization_code', code: c.code, code_verifier: c.verifier, redirect_uri: c.redirectUri }, auth)
    ).json();
    const revoke = await node.app.inject({
      method: 'POST',
      url: '/oauth2/revoke',
      payload: form({ token: tokens.refresh_token, token_type_hint: 'refresh_token' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth },
    });
    expect(revoke.statusCode).toBe(200);
    expect(await introspect(tokens.access_token)).toEqual({ active: false });
  });

  it('keeps grants inside their organization for administrators', async () => {
    await node.app.inject({
      method: 'POST',
      url: '/v1/organizations',
      payload: { slug: 'othercorp', name: 'Other' },
      headers: adminHeaders,
    });
    const tokens = (await exchange(await obtainCode(node, fx))).json();
    const grantId = (await introspect(tokens.access_token)).auth_event_id as string;
    const cross = await node.app.inject({ method: 'DELETE', url: `/v1/organizations/othercorp/grants/${grantId}`, headers: adminHeaders });
    expect(cross.statusCode).toBe(404);
    expect((await introspect(tokens.access_token)).active).toBe(true);
    const own = await node.app.inject({ method: 'DELETE', url: `/v1/organizations/xcorp/grants/${grantId}`, headers: adminHeaders });
    expect(own.statusCode).toBe(204);
    expect((await introspect(tokens.access_token)).active).toBe(false);
  });

  it('offers the same consent headlessly, as JSON, for a custom consent UI', async () => {
    const { challenge } = pkcePair();
    const start = await authorize({ ...valid(), code_challenge: challenge, prompt: 'consent' });
    const requestId = new URL(String(start.headers.location)).searchParams.get('request') as string;
    const headers = { authorization: `Bearer ${fx.sessionToken}` };
    const prompt = await node.app.inject({ method: 'GET', url: `/v1/consent/requests/${requestId}`, headers });
    expect(prompt.json()).toMatchObject({
      request_id: requestId,
      client: { id: fx.publicClient, name: 'Calendar Assistant' },
      organization: { name: 'XCorp' },
      resource: { identifier: CODE_MCP, name: 'XCorp calendar' },
      scopes: [{ name: 'calendar.read', description: 'See your calendar events' }],
      localhost_only: true,
    });
    const forged = await node.app.inject({
      method: 'POST',
      url: `/v1/consent/requests/${requestId}`,
      headers,
      payload: { decision: 'allow', csrf_token: 'mnd_csrf_x' },
    });
    expect(forged.statusCode).toBe(403);
    const answered = await node.app.inject({
      method: 'POST',
      url: `/v1/consent/requests/${requestId}`,
      headers,
      payload: { decision: 'allow', csrf_token: prompt.json().csrf_token },
    });
    const redirect = new URL(answered.json().redirect_to);
    expect(redirect.searchParams.get('code')).toMatch(/^mnd_ac_/);
    expect(redirect.searchParams.get('state')).toBe('abc');
  });

  describe('pushed authorization requests (RFC 9126)', () => {
    const par = (body: Record<string, string>, authorization = basic(fx.webClient.client_id, fx.webClient.client_secret)) =>
      node.app.inject({
        method: 'POST',
        url: '/oauth2/par',
        payload: form(body),
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
      });
    const pushedParams = () => {
      const { challenge } = pkcePair();
      return {
        response_type: 'code',
        redirect_uri: 'https://agent.xcorp.test/cb',
        scope: 'calendar.read',
        resource: CODE_MCP,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state: 'pushed',
        prompt: 'consent',
      };
    };

    it('accepts a pushed request once, through client_id and request_uri only', async () => {
      const pushed = await par(pushedParams());
      expect(pushed.statusCode).toBe(201);
      const { request_uri: requestUri, expires_in: expiresIn } = pushed.json();
      expect(requestUri).toMatch(/^urn:ietf:params:oauth:request_uri:azr_/);
      expect(expiresIn).toBe(60);
      const first = await authorize({ client_id: fx.webClient.client_id, request_uri: requestUri });
      expect(String(first.headers.location)).toContain('/oauth2/consent?request=');
      const again = await authorize({ client_id: fx.webClient.client_id, request_uri: requestUri });
      expect(again.statusCode).toBe(400);
      expect(again.headers.location).toBeUndefined();
    });

    it('refuses a request_uri presented by another client', async () => {
      const { request_uri: requestUri } = (await par(pushedParams())).json();
      const res = await authorize({ client_id: fx.publicClient, request_uri: requestUri });
      expect(res.statusCode).toBe(400);
      expect(res.headers.location).toBeUndefined();
    });

    it.each([
      ['missing PKCE', { code_challenge: '' }, 400, 'invalid_request'],
      ['an unregistered resource', { resource: 'https://evil.test/' }, 400, 'invalid_target'],
      ['an unregistered redirect', { redirect_uri: 'https://evil.test/cb' }, 400, 'invalid_request'],
    ])('answers JSON errors for %s', async (_name, override, status, error) => {
      const res = await par({ ...pushedParams(), ...override });
      expect(res.statusCode).toBe(status);
      expect(res.json()).toEqual({ error, error_description: expect.any(String) });
    });

    it('requires client authentication', async () => {
      const res = await par(pushedParams(), basic(fx.webClient.client_id, 'mnd_cs_wrong'));
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toBe('invalid_client');
    });

    it('holds a client that must push to it', async () => {
      const strict = (
        await node.app.inject({
          method: 'POST',
          url: '/v1/organizations/xcorp/clients',
          headers: adminHeaders,
          payload: {
            client_name: 'Strict app',
            client_type: 'public',
            grant_types: ['authorization_code'],
            redirect_uris: ['http://127.0.0.1/callback'],
            scope: 'calendar.read',
            resources: [CODE_MCP],
            require_pushed_authorization_requests: true,
          },
        })
      ).json();
      const res = await authorize({ ...valid(), client_id: strict.client_id });
      expect(new URL(String(res.headers.location)).searchParams.get('error')).toBe('invalid_request');
    });
  });

  it('binds the consent CSRF token to the session that was shown the page', async () => {
    const mary = await node.app.inject({
      method: 'POST',
      url: '/v1/sessions/attest',
      payload: { organization: 'xcorp', token: await loginApp.mint({ sub: 'u-2002', email: 'mary@xcorp.test', name: 'Mary' }) },
    });
    const maryCookie = `mandate_session=${mary.json().session_token}`;
    const { challenge } = pkcePair();
    const start = await authorize({ ...valid(), code_challenge: challenge, prompt: 'consent' });
    const consentPath = String(start.headers.location).replace(/^https?:\/\/[^/]+/, '');
    const requestId = new URL(String(start.headers.location)).searchParams.get('request') as string;
    const maryPage = await node.app.inject({ method: 'GET', url: consentPath, headers: { cookie: maryCookie } });
    const maryCsrf = /name="csrf_token" value="([^"]+)"/.exec(maryPage.body)?.[1] as string;
    const forged = await node.app.inject({
      method: 'POST',
      url: '/oauth2/consent',
      payload: form({ request: requestId, csrf_token: maryCsrf, decision: 'allow' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `mandate_session=${fx.sessionToken}` },
    });
    expect(forged.statusCode).toBe(403);
    expect(forged.headers.location).toBeUndefined();
  });

  // Last: it ends John's session.
  it('suspending a member ends their sessions, grants and tokens at once', async () => {
    const tokens = (await exchange(await obtainCode(node, fx))).json();
    expect((await introspect(tokens.access_token)).active).toBe(true);
    const member = (
      await node.app.inject({ method: 'GET', url: '/v1/organizations/xcorp/members?email=john@xcorp.test', headers: adminHeaders })
    ).json().data[0];
    const suspended = await node.app.inject({
      method: 'PATCH',
      url: `/v1/organizations/xcorp/members/${member.id}`,
      headers: adminHeaders,
      payload: { status: 'suspended' },
    });
    expect(suspended.statusCode).toBe(200);
    expect(await introspect(tokens.access_token)).toEqual({ active: false });
    expect(
      (await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: fx.publicClient })).json().error,
    ).toBe('invalid_grant');
    const me = await node.app.inject({ method: 'GET', url: '/v1/sessions/me', headers: { authorization: `Bearer ${fx.sessionToken}` } });
    expect(me.statusCode).toBe(401);
    const revokedGrants = await node.runtime.store.db
      .selectFrom('audit_events')
      .select('grant_id')
      .where('kind', '=', 'grant.revoked')
      .where('subject_id', '=', member.id)
      .execute();
    expect(revokedGrants.length).toBeGreaterThan(0);
  });
});
