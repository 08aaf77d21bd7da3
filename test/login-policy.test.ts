import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../src/break-glass/totp.js';
import type { MandateNode } from '../src/node.js';
import { FrozenClock } from './support/clock.js';
import { authorizeUrl, CODE_MCP, createXcorp, LOOPBACK_REDIRECT, pkcePair } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';

const PASSWORD = 'a break-glass passphrase for emergencies';

/** An authorization request waiting for the user to come back from the organization's login page. */
interface PendingLogin {
  requestId: string;
  loginCookie: string;
}

describe.each(dialects)('organization login policy on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let loginApp: CustomerLoginApp;
  // Made when the suite starts: the stand-in login app signs its tokens with the real time.
  let clock: FrozenClock;
  const members: Record<string, string> = {};
  const secrets: Record<string, string> = {};
  const pending: PendingLogin[] = [];

  const admin = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
    node.app.inject({ method, url, ...(payload && { payload }), headers: adminHeaders });
  const setPolicy = (settings: object) => admin('PATCH', '/v1/organizations/xcorp', { settings });
  const settingsNow = async () => (await admin('GET', '/v1/organizations/xcorp')).json().settings;
  const trustedToken = () =>
    loginApp.mint(
      { sub: 'u-1', email: 'john@xcorp.test' },
      { iatOffsetSeconds: Math.floor(clock.now() / 1000) - Math.floor(Date.now() / 1000) },
    );
  const attest = async () =>
    node.app.inject({ method: 'POST', url: '/v1/sessions/attest', payload: { organization: 'xcorp', token: await trustedToken() } });
  const hostedLogin = async (login: PendingLogin) =>
    node.app.inject({
      method: 'POST',
      url: '/oauth2/login',
      payload: new URLSearchParams({ mandate_request: login.requestId, token: await trustedToken() }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `mandate_login=${login.loginCookie}` },
    });
  const sessionCount = async () => (await node.runtime.store.db.selectFrom('sessions').select('id').execute()).length;
  const enrol = async (name: string) => {
    const res = await admin('POST', `/v1/organizations/xcorp/members/${members[name]}/break-glass`, { password: PASSWORD });
    expect(res.statusCode).toBe(201);
    secrets[name] = res.json().totp.secret;
  };
  const confirm = async (name: string) => {
    const res = await admin('POST', `/v1/organizations/xcorp/members/${members[name]}/break-glass/confirm`, {
      code: totpCode(secrets[name] as string, clock.now()),
    });
    expect(res.statusCode).toBe(200);
    clock.advance(30);
  };

  /** Starts an authorization request while the policy still sends users to the organization's login page. */
  const startAuthorization = async (clientId: string): Promise<PendingLogin> => {
    const { challenge } = pkcePair();
    const res = await node.app.inject({
      method: 'GET',
      url: authorizeUrl({
        response_type: 'code',
        client_id: clientId,
        redirect_uri: LOOPBACK_REDIRECT,
        scope: 'calendar.read',
        resource: CODE_MCP,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        state: 's',
      }),
    });
    expect(res.statusCode).toBe(303);
    const requestId = new URL(String(res.headers.location)).searchParams.get('mandate_request') as string;
    const loginCookie = /mandate_login=([^;]+)/.exec(String(res.headers['set-cookie']))?.[1] as string;
    expect(requestId && loginCookie).toBeTruthy();
    return { requestId, loginCookie };
  };

  beforeAll(async () => {
    clock = new FrozenClock(Date.now());
    db = await createTestDatabase(dialect);
    node = await startTestNode(db, { clock });
    loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@xcorp.test', name: 'John' });
    await createXcorp(node, loginApp);
    const client = (
      await admin('POST', '/v1/organizations/xcorp/clients', {
        client_name: 'Calendar Assistant',
        client_type: 'public',
        grant_types: ['authorization_code'],
        redirect_uris: ['http://127.0.0.1/callback'],
        scope: 'calendar.read',
        resources: [CODE_MCP],
      })
    ).json();
    for (const name of ['ops', 'oncall']) {
      members[name] = (await admin('POST', '/v1/organizations/xcorp/members', { email: `${name}@xcorp.test` })).json().id;
    }
    pending.push(await startAuthorization(client.client_id), await startAuthorization(client.client_id));
  });
  afterAll(async () => {
    await node?.shutdown();
    await loginApp?.close();
    await db?.dispose();
  });

  it('refuses to require SSO while nobody could log in (no SSO connection, no break-glass member), saying why', async () => {
    const res = await setPolicy({ sso_required: true });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({
      error: 'conflict',
      error_description: expect.stringContaining('no active SSO connection and no break-glass member, so nobody could log in'),
    });
    expect(await settingsNow()).toEqual({});
    expect((await attest()).statusCode).toBe(201);
  });

  it('does not count an unconfirmed break-glass account as a way in', async () => {
    await enrol('ops');
    const res = await setPolicy({ sso_required: true });
    expect(res.statusCode).toBe(409);
    expect(res.json().error_description).toContain('no break-glass member');
    expect((await setPolicy({ allowed_auth_methods: ['sso', 'break_glass'] })).statusCode).toBe(409);
  });

  it('allowed_auth_methods without trusted_token refuses /v1/sessions/attest and the hosted /oauth2/login (403)', async () => {
    await confirm('ops');
    expect((await setPolicy({ allowed_auth_methods: ['sso', 'break_glass'] })).statusCode).toBe(200);
    const before = await sessionCount();

    const api = await attest();
    expect(api.statusCode).toBe(403);
    expect(api.json()).toMatchObject({ error: 'forbidden', error_description: 'this organization does not allow trusted-token login' });

    const hosted = await hostedLogin(pending[0] as PendingLogin);
    expect(hosted.statusCode).toBe(403);
    expect(hosted.headers['content-type']).toContain('text/html');
    expect(hosted.body).toContain('does not allow trusted-token login');
    expect(hosted.headers['set-cookie'] ?? '').not.toContain('mandate_session=');
    expect(await sessionCount()).toBe(before);
  });

  it('accepts SSO required once a confirmed break-glass member exists; trusted tokens are refused, break-glass works', async () => {
    const res = await setPolicy({ allowed_auth_methods: null, sso_required: true });
    expect(res.statusCode).toBe(200);
    expect(res.json().settings).toEqual({ sso_required: true });
    const before = await sessionCount();

    const api = await attest();
    expect(api.statusCode).toBe(403);
    expect(api.json().error_description).toContain('requires SSO');
    const hosted = await hostedLogin(pending[1] as PendingLogin);
    expect(hosted.statusCode).toBe(403);
    expect(hosted.body).toContain('requires SSO');
    expect(await sessionCount()).toBe(before);

    const breakGlass = await node.app.inject({
      method: 'POST',
      url: '/v1/break-glass/login',
      payload: { organization: 'xcorp', email: 'ops@xcorp.test', password: PASSWORD, code: totpCode(secrets.ops as string, clock.now()) },
    });
    expect(breakGlass.statusCode).toBe(201);
    expect(breakGlass.json().session.amr).toEqual(['break_glass', 'pwd', 'otp']);
    expect(await sessionCount()).toBe(before + 1);
  });

  it('merges settings (RFC 7396): the README’s retention PATCH keeps SSO required and the security webhook; null removes one', async () => {
    const webhook = 'https://hooks.xcorp.test/security';
    expect((await setPolicy({ security_alert_webhook_url: webhook })).json().settings).toEqual({
      sso_required: true,
      security_alert_webhook_url: webhook,
    });
    const retention = await setPolicy({ audit_retention_days: 365 });
    expect(retention.statusCode).toBe(200);
    expect(retention.json().settings).toEqual({ sso_required: true, security_alert_webhook_url: webhook, audit_retention_days: 365 });
    expect((await attest()).json().error_description).toContain('requires SSO');

    // Nested objects merge too; arrays and scalars replace.
    await setPolicy({ anomaly_responses: { rate_spike: 'suspend', bulk_export: 'alert' } });
    const nested = await setPolicy({ anomaly_responses: { rate_spike: null, denied_burst: 'downscope' } });
    expect(nested.json().settings.anomaly_responses).toEqual({ bulk_export: 'alert', denied_burst: 'downscope' });

    const removed = await setPolicy({ audit_retention_days: null, anomaly_responses: null });
    expect(removed.statusCode).toBe(200);
    expect(removed.json().settings).toEqual({ sso_required: true, security_alert_webhook_url: webhook });
    expect(await settingsNow()).toEqual({ sso_required: true, security_alert_webhook_url: webhook });

    // The audit event records the whole settings before and after, not just the patch.
    const [event] = await node.runtime.store.db
      .selectFrom('audit_events')
      .select('detail')
      .where('kind', '=', 'organization.updated')
      .orderBy('seq', 'desc')
      .limit(1)
      .execute();
    expect(JSON.parse(event?.detail ?? '{}')).toMatchObject({
      changed: { settings: { audit_retention_days: null, anomaly_responses: null } },
      settings: {
        before: {
          sso_required: true,
          security_alert_webhook_url: webhook,
          anomaly_responses: { bulk_export: 'alert', denied_burst: 'downscope' },
        },
        after: { sso_required: true, security_alert_webhook_url: webhook },
      },
    });
  });

  it('judges the merged settings: a merge that would lock everyone out, or invalid settings, is refused and changes nothing', async () => {
    const before = await settingsNow();
    const count = async () =>
      (await node.runtime.store.db.selectFrom('audit_events').select('id').where('kind', '=', 'organization.updated').execute()).length;
    const events = await count();
    // Without "SSO required", SSO alone is no way in: there is no connection.
    const locked = await setPolicy({ sso_required: null, allowed_auth_methods: ['sso'] });
    expect(locked.statusCode).toBe(409);
    expect(locked.json().error_description).toContain('nobody could log in');
    expect(await settingsNow()).toEqual(before);
    expect(await count()).toBe(events);

    // A setting stored earlier that is no longer valid makes any result invalid, until it is removed.
    const tampered = JSON.stringify({ ...before, retired_setting: true });
    await node.runtime.store.db.updateTable('organizations').set({ settings: tampered }).where('slug', '=', 'xcorp').execute();
    const invalid = await setPolicy({ audit_retention_days: 30 });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('retired_setting') });
    const row = await node.runtime.store.db.selectFrom('organizations').select('settings').where('slug', '=', 'xcorp').executeTakeFirst();
    expect(row?.settings).toBe(tampered);
    expect((await setPolicy({ retired_setting: null })).json().settings).toEqual(before);
    // A value null only removes: unknown settings cannot be added.
    expect((await setPolicy({ retired_setting: true })).statusCode).toBe(400);
  });

  it('refuses removing the last break-glass account under SSO required without an SSO connection (409)', async () => {
    await enrol('oncall');
    await confirm('oncall');
    expect((await admin('DELETE', `/v1/organizations/xcorp/members/${members.oncall}/break-glass`)).statusCode).toBe(204);

    const last = await admin('DELETE', `/v1/organizations/xcorp/members/${members.ops}/break-glass`);
    expect(last.statusCode).toBe(409);
    expect(last.json().error_description).toContain('nobody could log in');
    const listed = (await admin('GET', '/v1/organizations/xcorp/break-glass')).json().data;
    expect(listed).toEqual([expect.objectContaining({ member_id: members.ops, confirmed: true })]);
    const removed = await node.runtime.store.db
      .selectFrom('audit_events')
      .select('subject_id')
      .where('kind', '=', 'break_glass.removed')
      .execute();
    expect(removed.map((e) => e.subject_id)).toEqual([members.oncall]);

    // Turning the requirement off makes the account removable again.
    expect((await setPolicy({ sso_required: null })).statusCode).toBe(200);
    expect((await admin('DELETE', `/v1/organizations/xcorp/members/${members.ops}/break-glass`)).statusCode).toBe(204);
  });

  it('does not count a locked break-glass account as a way in until an administrator unlocks it', async () => {
    await enrol('oncall');
    await confirm('oncall');
    // Five failures with the right password lock the account itself.
    for (let i = 0; i < 5; i++) {
      const res = await node.app.inject({
        method: 'POST',
        url: '/v1/break-glass/login',
        payload: { organization: 'xcorp', email: 'oncall@xcorp.test', password: PASSWORD, code: '000000' },
      });
      expect(res.statusCode).toBe(401);
    }
    const refused = await setPolicy({ sso_required: true });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error_description).toContain('no break-glass member');
    expect((await settingsNow()).sso_required).toBeUndefined();

    expect((await admin('POST', `/v1/organizations/xcorp/members/${members.oncall}/break-glass/unlock`)).statusCode).toBe(200);
    expect((await setPolicy({ sso_required: true })).statusCode).toBe(200);
  });
});
