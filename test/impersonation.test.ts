import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../src/crypto/secret-token.js';
import type { MandateNode } from '../src/node.js';
import { FrozenClock } from './support/clock.js';
import { type CodeFlowFixture, createCodeFlowFixture, obtainCode } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';

describe.each(dialects)('impersonation on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let loginApp: CustomerLoginApp;
  let fx: CodeFlowFixture;
  // Made when the suite starts: the stand-in login app signs its tokens with the real time.
  let clock: FrozenClock;
  const ids: Record<string, string> = {};
  const sessions: Record<string, string> = {};

  const admin = async (method: 'POST' | 'PATCH', url: string, payload: object) => {
    const res = await node.app.inject({ method, url, payload, headers: adminHeaders });
    if (res.statusCode >= 300) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
    return res.body ? res.json() : undefined;
  };
  /** A session for `email` through XCorp's trusted-token login, its token issued at Mandate's (frozen) time. */
  const signIn = async (email: string) => {
    const token = await loginApp.mint(
      { sub: email, email },
      { iatOffsetSeconds: Math.floor(clock.now() / 1000) - Math.floor(Date.now() / 1000) },
    );
    const res = await node.app.inject({ method: 'POST', url: '/v1/sessions/attest', payload: { organization: 'xcorp', token } });
    if (res.statusCode !== 201) throw new Error(`attest ${email}: ${res.body}`);
    return res.json();
  };
  const requestToken = (credential: string, payload: object) =>
    node.app.inject({ method: 'POST', url: '/v1/impersonation/tokens', payload, headers: { authorization: `Bearer ${credential}` } });
  const exchange = (token: string) => node.app.inject({ method: 'POST', url: '/v1/impersonation/authenticate', payload: { token } });
  const me = (credential: string) =>
    node.app.inject({ method: 'GET', url: '/v1/sessions/me', headers: { authorization: `Bearer ${credential}` } });
  const events = async (kind: string) =>
    (await node.runtime.store.db.selectFrom('audit_events').selectAll().where('kind', '=', kind).orderBy('seq').execute()).map((e) => ({
      ...e,
      detail: JSON.parse(e.detail) as Record<string, unknown>,
    }));
  const tokenRows = async () => (await node.runtime.store.db.selectFrom('impersonation_tokens').select('id').execute()).length;
  const forJohn = { member_id: '', reason: 'ticket SUP-42: calendar sync broken' };

  beforeAll(async () => {
    clock = new FrozenClock(Date.now());
    db = await createTestDatabase(dialect);
    node = await startTestNode(db, { clock });
    loginApp = await startCustomerLoginApp({ sub: 'u-1001', email: 'john@xcorp.test', name: 'John Smith' });
    fx = await createCodeFlowFixture(node, loginApp);
    ids.john = (await me(fx.sessionToken)).json().member.id;
    forJohn.member_id = ids.john as string;
    const role = await admin('POST', '/v1/organizations/xcorp/roles', {
      name: 'Support',
      permissions: [{ tool: 'mandate.members', action: 'impersonate' }],
    });
    for (const name of ['alice', 'bob', 'sue']) {
      const issued = await signIn(`${name}@xcorp.test`);
      ids[name] = issued.member.id;
      sessions[name] = issued.session_token;
    }
    await admin('POST', `/v1/organizations/xcorp/roles/${role.id}/bindings`, { member_id: ids.alice });
    await admin('PATCH', `/v1/organizations/xcorp/members/${ids.sue}`, { status: 'suspended' });
    await admin('POST', '/v1/organizations', { slug: 'yco', name: 'YCo' });
    ids.eve = (await admin('POST', '/v1/organizations/yco/members', { email: 'eve@yco.test' })).id;
  });
  afterAll(async () => {
    await node?.shutdown();
    await loginApp?.close();
    await db?.dispose();
  });

  it('issues a single-use, one-minute token stored only as its SHA-256, audited with the reason', async () => {
    const res = await requestToken(sessions.alice as string, forJohn);
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const issued = res.json();
    expect(issued.token).toMatch(/^mnd_imp_[A-Za-z0-9_-]{43}$/);
    expect(issued).toMatchObject({ member_id: ids.john, expires_at: new Date(clock.now() + 60_000).toISOString() });
    const row = await node.runtime.store.db
      .selectFrom('impersonation_tokens')
      .selectAll()
      .where('id', '=', issued.token_id)
      .executeTakeFirstOrThrow();
    expect(row.token_hash).toBe(hashSecret(issued.token));
    expect(JSON.stringify(row)).not.toContain(issued.token);
    const created = (await events('impersonation.token_created')).at(-1);
    expect(created).toMatchObject({ actor_id: ids.alice, subject_id: ids.john });
    expect(created?.detail).toMatchObject({ token_id: issued.token_id, reason: forJohn.reason, impersonator_id: ids.alice });
    expect(JSON.stringify(created)).not.toContain(issued.token);
  });

  it('exchanges the token once for a one-hour session whose JWT names the impersonator in act', async () => {
    const { token } = (await requestToken(sessions.alice as string, forJohn)).json();
    const res = await exchange(token);
    expect(res.statusCode).toBe(201);
    const issued = res.json();
    expect(issued.session).toMatchObject({ member_id: ids.john, amr: ['impersonation'], impersonator_id: ids.alice });
    expect(issued.member.email).toBe('john@xcorp.test');
    expect(Date.parse(issued.expires_at) - clock.now()).toBe(3600 * 1000);
    const jwks = (await node.app.inject({ method: 'GET', url: '/oauth2/jwks' })).json();
    const { payload } = await jwtVerify(issued.session_jwt, createLocalJWKSet(jwks), {
      issuer: 'http://localhost:4000',
      currentDate: new Date(clock.now()),
    });
    expect(payload).toMatchObject({ sub: ids.john, amr: ['impersonation'], act: { sub: ids.alice } });

    const started = (await events('impersonation.started')).at(-1);
    expect(started).toMatchObject({ actor_id: ids.alice, subject_id: ids.john });
    expect(started?.detail).toMatchObject({
      impersonator_id: ids.alice,
      member_id: ids.john,
      session_id: issued.session.id,
      reason: forJohn.reason,
    });
    expect((await events('session.created')).at(-1)?.detail).toMatchObject({ session_id: issued.session.id, impersonated_by: ids.alice });

    const again = await exchange(token);
    expect(again.statusCode).toBe(401);
    expect(again.json().error_description).toContain('already used');
    expect((await events('impersonation.started')).filter((e) => e.detail.session_id !== undefined)).toHaveLength(1);
  });

  it('refuses an expired token (401)', async () => {
    const { token } = (await requestToken(sessions.alice as string, forJohn)).json();
    clock.advance(61);
    const res = await exchange(token);
    expect(res.statusCode).toBe(401);
    expect(res.json().error_description).toContain('expired');
  });

  it('refuses, audits and stores nothing for: no permission, yourself, another organization, a suspended or unknown member', async () => {
    const cases: { name: string; credential: string; member: string; status: number; says: string }[] = [
      {
        name: 'no permission',
        credential: sessions.bob as string,
        member: ids.john as string,
        status: 403,
        says: 'mandate.members:impersonate',
      },
      { name: 'yourself', credential: sessions.alice as string, member: ids.alice as string, status: 400, says: 'yourself' },
      { name: 'another organization', credential: sessions.alice as string, member: ids.eve as string, status: 404, says: 'not found' },
      { name: 'suspended', credential: sessions.alice as string, member: ids.sue as string, status: 409, says: 'suspended' },
      { name: 'unknown', credential: sessions.alice as string, member: 'mbr_00000000000000000000000000', status: 404, says: 'not found' },
    ];
    const before = await tokenRows();
    const refusedBefore = (await events('impersonation.refused')).length;
    for (const c of cases) {
      const res = await requestToken(c.credential, { member_id: c.member, reason: 'looking around' });
      expect(res.statusCode, c.name).toBe(c.status);
      expect(res.json().error_description, c.name).toContain(c.says);
    }
    expect(await tokenRows()).toBe(before);
    const refused = (await events('impersonation.refused')).slice(refusedBefore);
    expect(refused).toHaveLength(cases.length);
    expect(refused[0]).toMatchObject({ actor_id: ids.bob, result: 'failure' });
    expect(refused[0]?.detail).toMatchObject({ requested_member_id: ids.john, refused_because: expect.stringContaining('permission') });
  });

  it('an impersonation session cannot start another impersonation', async () => {
    const { token } = (await requestToken(sessions.alice as string, { member_id: ids.bob, reason: 'check bob' })).json();
    const asBob = (await exchange(token)).json();
    const res = await requestToken(asBob.session_token, forJohn);
    expect(res.statusCode).toBe(403);
    expect(res.json().error_description).toContain('impersonation session cannot start another');
  });

  it('token types cannot be swapped, in either direction', async () => {
    const { token } = (await requestToken(sessions.alice as string, forJohn)).json();
    const asSession = await me(token);
    expect(asSession.statusCode).toBe(401);
    expect(asSession.json().error_description).toContain('impersonation token is not a session');
    const refresh = await node.app.inject({ method: 'POST', url: '/v1/sessions/refresh', headers: { authorization: `Bearer ${token}` } });
    expect(refresh.statusCode).toBe(401);

    const alice = await signIn('alice@xcorp.test');
    const withSessionToken = await exchange(alice.session_token);
    expect(withSessionToken.statusCode).toBe(401);
    expect(withSessionToken.json().error_description).toContain('session token, not an impersonation token');
    const withSessionJwt = await exchange(alice.session_jwt);
    expect(withSessionJwt.statusCode).toBe(401);
    expect(withSessionJwt.json().error_description).toContain('JWT, not an impersonation token');

    // The refused presentations did not consume the token.
    expect((await exchange(token)).statusCode).toBe(201);
  });

  it('audits every action under the impersonation session as the impersonator’s, on the member’s behalf', async () => {
    await obtainCode(node, fx);
    const grants = (
      await node.app.inject({ method: 'GET', url: '/v1/sessions/me/grants', headers: { authorization: `Bearer ${fx.sessionToken}` } })
    ).json().data;
    const grant = grants.find((g: { revoked_at: string | null }) => g.revoked_at === null);
    expect(grant).toBeDefined();

    const { token } = (await requestToken(sessions.alice as string, forJohn)).json();
    const asJohn = (await exchange(token)).json();
    const revoked = await node.app.inject({
      method: 'DELETE',
      url: `/v1/sessions/me/grants/${grant.id}`,
      headers: { authorization: `Bearer ${asJohn.session_jwt}` },
    });
    expect(revoked.statusCode).toBe(204);
    const event = (await events('grant.revoked')).find((e) => e.grant_id === grant.id);
    expect(event).toMatchObject({ actor_id: ids.alice, subject_id: ids.john });
    expect(event?.detail).toMatchObject({ impersonated_by: ids.alice, reason: 'revoked by the user' });
  });

  it('an impersonation session cannot decide approvals, ask for elevations or authorize apps for the member', async () => {
    const asJohn = (await exchange((await requestToken(sessions.alice as string, forJohn)).json().token)).json();
    const bearer = { authorization: `Bearer ${asJohn.session_token}` };
    const approvals = await node.app.inject({ method: 'GET', url: '/v1/approvals', headers: bearer });
    expect(approvals.statusCode).toBe(403);
    expect(approvals.json().error_description).toMatch(/impersonation session cannot decide approvals/);
    const elevation = await node.app.inject({
      method: 'POST',
      url: '/v1/elevations',
      headers: bearer,
      payload: { tool: 'payments', action: 'approve', duration_seconds: 600, justification: 'month end' },
    });
    expect(elevation.statusCode).toBe(403);
    const consent = await node.app.inject({ method: 'GET', url: '/v1/consent/requests/azr_00000000000000000000000000', headers: bearer });
    expect(consent.statusCode).toBe(403);
    const authorize = await node.app.inject({
      method: 'GET',
      url: `/oauth2/authorize?${new URLSearchParams({
        response_type: 'code',
        client_id: fx.publicClient,
        redirect_uri: 'http://127.0.0.1:50123/callback',
        scope: 'calendar.read',
        resource: 'https://mcp.xcorp.test/',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
        state: 's',
      })}`,
      headers: { cookie: `mandate_session=${asJohn.session_token}` },
    });
    expect(authorize.statusCode).toBe(403);
    expect(authorize.body).toContain('impersonation session cannot authorize');
  });

  it('cannot gain privileges: a member holding a permission the impersonator lacks cannot be impersonated', async () => {
    const approver = await admin('POST', '/v1/organizations/xcorp/roles', {
      name: 'Approver',
      permissions: [{ tool: 'payments', action: 'approve' }],
    });
    await admin('POST', `/v1/organizations/xcorp/roles/${approver.id}/bindings`, { member_id: ids.bob });
    const before = await tokenRows();
    const res = await requestToken(sessions.alice as string, { member_id: ids.bob, reason: 'look at bob' });
    expect(res.statusCode).toBe(403);
    expect(res.json().error_description).toMatch(/payments:approve.*cannot gain privileges/);
    expect(await tokenRows()).toBe(before);
    expect(JSON.stringify((await events('impersonation.refused')).at(-1)?.detail)).toContain('cannot gain privileges');
  });

  it('ends with the impersonator: suspending them ends their unused tokens and their impersonation sessions', async () => {
    const live = (await exchange((await requestToken(sessions.alice as string, forJohn)).json().token)).json();
    expect((await me(live.session_token)).statusCode).toBe(200);
    const { token } = (await requestToken(sessions.alice as string, forJohn)).json();
    const count = async () =>
      (
        await node.runtime.store.db
          .selectFrom('sessions')
          .select('id')
          .where('impersonator_id', '=', ids.alice as string)
          .execute()
      ).length;
    const before = await count();
    await admin('PATCH', `/v1/organizations/xcorp/members/${ids.alice}`, { status: 'suspended' });
    const res = await exchange(token);
    // The departure itself ends the impersonator's unused tokens and their impersonation sessions.
    expect(res.statusCode).toBe(401);
    expect(await count()).toBe(before);
    const stale = await me(live.session_token);
    expect(stale.statusCode).toBe(401);
    expect(stale.json().error_description).toContain('revoked');
  });
});
