import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { FrozenClock } from './support/clock.js';
import { createXcorp } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';

interface Issued {
  session_token: string;
  session_jwt: string;
  session: { id: string };
  member: { id: string };
}

describe.each(dialects)('session management on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let loginApp: CustomerLoginApp;
  // Made when the suite starts: the stand-in login app signs its tokens with the real time.
  let clock: FrozenClock;
  let johnA: Issued;
  let johnB: Issued;
  let mary: Issued;

  const signIn = async (email: string, userAgent: string): Promise<Issued> => {
    const token = await loginApp.mint(
      { sub: email, email },
      { iatOffsetSeconds: Math.floor(clock.now() / 1000) - Math.floor(Date.now() / 1000) },
    );
    const res = await node.app.inject({
      method: 'POST',
      url: '/v1/sessions/attest',
      payload: { organization: 'xcorp', token },
      headers: { 'user-agent': userAgent },
      remoteAddress: '203.0.113.5',
    });
    if (res.statusCode !== 201) throw new Error(`attest ${email}: ${res.body}`);
    return res.json();
  };
  const as = (credential: string, method: 'GET' | 'DELETE' | 'POST', url: string) =>
    node.app.inject({ method, url, headers: { authorization: `Bearer ${credential}` } });
  const asAdmin = (method: 'GET' | 'DELETE', url: string) => node.app.inject({ method, url, headers: adminHeaders });
  const revokedEvents = async () =>
    (await node.runtime.store.db.selectFrom('audit_events').selectAll().where('kind', '=', 'session.revoked').orderBy('seq').execute()).map(
      (e) => ({ ...e, detail: JSON.parse(e.detail) as Record<string, unknown> }),
    );

  beforeAll(async () => {
    clock = new FrozenClock(Date.now());
    db = await createTestDatabase(dialect);
    node = await startTestNode(db, { clock });
    loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@xcorp.test', name: 'John' });
    await createXcorp(node, loginApp);
    await node.app.inject({ method: 'POST', url: '/v1/organizations', payload: { slug: 'yco', name: 'YCo' }, headers: adminHeaders });
    johnA = await signIn('john@xcorp.test', 'Laptop browser');
    johnB = await signIn('john@xcorp.test', 'Phone browser');
    mary = await signIn('mary@xcorp.test', 'Mary browser');
  });
  afterAll(async () => {
    await node?.shutdown();
    await loginApp?.close();
    await db?.dispose();
  });

  it('lists my own sessions, the current one marked, with where they came from, never their tokens', async () => {
    const res = await as(johnA.session_token, 'GET', '/v1/sessions');
    expect(res.statusCode).toBe(200);
    const listed = res.json().data;
    expect(listed.map((s: { id: string }) => s.id).sort()).toEqual([johnA.session.id, johnB.session.id].sort());
    expect(listed.find((s: { id: string }) => s.id === johnA.session.id)).toMatchObject({
      current: true,
      amr: ['trusted_token'],
      client_ip: '203.0.113.5',
      user_agent: 'Laptop browser',
      impersonator_id: null,
      revoked_at: null,
    });
    expect(listed.find((s: { id: string }) => s.id === johnB.session.id)).toMatchObject({ current: false, user_agent: 'Phone browser' });
    expect(res.body).not.toContain(johnA.session_token);
    expect(res.body).not.toContain('token_hash');
  });

  it('ends one of my sessions, but answers 404 for another member’s', async () => {
    const other = await as(johnA.session_token, 'DELETE', `/v1/sessions/${mary.session.id}`);
    expect(other.statusCode).toBe(404);
    expect((await as(mary.session_token, 'GET', '/v1/sessions/me')).statusCode).toBe(200);

    const mine = await as(johnA.session_token, 'DELETE', `/v1/sessions/${johnB.session.id}`);
    expect(mine.statusCode).toBe(204);
    const ended = await as(johnB.session_token, 'GET', '/v1/sessions/me');
    expect(ended.statusCode).toBe(401);
    expect(ended.json().error_description).toContain('revoked');
    expect((await revokedEvents()).at(-1)).toMatchObject({ actor_id: johnA.member.id, subject_id: johnA.member.id });
    expect((await revokedEvents()).at(-1)?.detail).toMatchObject({ session_id: johnB.session.id, revoked_by: 'member' });

    expect((await as(johnA.session_token, 'GET', '/v1/sessions')).json().data.map((s: { id: string }) => s.id)).toEqual([johnA.session.id]);
    const all = (await as(johnA.session_token, 'GET', '/v1/sessions?include=all')).json().data;
    expect(all.find((s: { id: string }) => s.id === johnB.session.id)?.revoked_at).toBe(new Date(clock.now()).toISOString());
  });

  it('lets an administrator list and end a member’s sessions, one or all, audited', async () => {
    const path = `/v1/organizations/xcorp/members/${johnA.member.id}/sessions`;
    expect((await asAdmin('GET', path)).json().data.map((s: { id: string }) => s.id)).toEqual([johnA.session.id]);
    expect((await asAdmin('GET', `${path}?include=all`)).json().data).toHaveLength(2);
    expect((await node.app.inject({ method: 'GET', url: path })).statusCode).toBe(401);
    expect((await asAdmin('GET', `/v1/organizations/yco/members/${johnA.member.id}/sessions`)).statusCode).toBe(404);
    expect((await asAdmin('GET', '/v1/organizations/xcorp/members/mbr_00000000000000000000000000/sessions')).statusCode).toBe(404);
    expect((await asAdmin('GET', `${path}?include=everything`)).statusCode).toBe(400);

    // Mary's session through John's path is not found, and stays valid.
    expect((await asAdmin('DELETE', `${path}/${mary.session.id}`)).statusCode).toBe(404);
    expect((await asAdmin('DELETE', `${path}/not-a-session`)).statusCode).toBe(400);
    expect((await as(mary.session_token, 'GET', '/v1/sessions/me')).statusCode).toBe(200);

    expect((await asAdmin('DELETE', `${path}/${johnA.session.id}`)).statusCode).toBe(204);
    expect((await as(johnA.session_token, 'GET', '/v1/sessions/me')).statusCode).toBe(401);
    const byAdmin = (await revokedEvents()).at(-1);
    expect(byAdmin).toMatchObject({ subject_id: johnA.member.id });
    expect(byAdmin?.actor_id).toMatch(/^ak_/);
    expect(byAdmin?.detail).toMatchObject({ session_id: johnA.session.id, revoked_by: 'administrator' });

    const mary2 = await signIn('mary@xcorp.test', 'Mary tablet');
    const before = (await revokedEvents()).length;
    expect((await asAdmin('DELETE', `/v1/organizations/xcorp/members/${mary.member.id}/sessions`)).statusCode).toBe(204);
    for (const s of [mary, mary2]) expect((await as(s.session_token, 'GET', '/v1/sessions/me')).statusCode).toBe(401);
    expect((await revokedEvents()).slice(before).map((e) => e.detail.session_id)).toEqual(
      expect.arrayContaining([mary.session.id, mary2.session.id]),
    );
  });

  it('refreshes the session JWT only with the session token: a JWT cannot extend itself', async () => {
    const s = await signIn('john@xcorp.test', 'Laptop browser');
    const withJwt = await as(s.session_jwt, 'POST', '/v1/sessions/refresh');
    expect(withJwt.statusCode).toBe(401);
    expect(withJwt.json().error_description).toContain('a session JWT cannot extend itself');
    const withToken = await as(s.session_token, 'POST', '/v1/sessions/refresh');
    expect(withToken.statusCode).toBe(200);
    expect(withToken.json().session_jwt).toMatch(/^ey/);
    const withCookie = await node.app.inject({
      method: 'POST',
      url: '/v1/sessions/refresh',
      headers: { cookie: `mandate_session=${s.session_token}` },
    });
    expect(withCookie.statusCode).toBe(200);
    expect((await node.app.inject({ method: 'POST', url: '/v1/sessions/refresh' })).statusCode).toBe(401);
  });

  it('fails loudly when a session JWT or the session itself has expired', async () => {
    const s = await signIn('john@xcorp.test', 'Laptop browser');
    clock.advance(301);
    const staleJwt = await as(s.session_jwt, 'GET', '/v1/sessions/me');
    expect(staleJwt.statusCode).toBe(401);
    expect(staleJwt.json().error_description).toContain('the session JWT has expired');
    expect(staleJwt.json().error_description).toContain('/v1/sessions/refresh');
    const fresh = (await as(s.session_token, 'POST', '/v1/sessions/refresh')).json().session_jwt;
    expect((await as(fresh, 'GET', '/v1/sessions/me')).statusCode).toBe(200);

    clock.advance(8 * 3600);
    for (const credential of [s.session_token, fresh]) {
      const res = await as(credential, 'GET', '/v1/sessions/me');
      expect(res.statusCode).toBe(401);
      expect(res.json().error_description).toContain('the session has expired');
    }
    expect((await as(s.session_token, 'POST', '/v1/sessions/refresh')).json().error_description).toContain('the session has expired');
    const tampered = `${fresh.slice(0, -4)}AAAA`;
    expect((await as(tampered, 'GET', '/v1/sessions/me')).json().error_description).toBe('the session JWT is invalid');
  });
});
