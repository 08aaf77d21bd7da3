import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpCode } from '../src/break-glass/totp.js';
import type { MandateNode } from '../src/node.js';
import { launchChromium } from './support/browser.js';
import { FrozenClock } from './support/clock.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startListeningNode, startTestNode, type TestDatabase } from './support/nodes.js';

const PASSWORD = 'correct horse battery staple 42';
const GENERIC = 'the email, password or code is wrong, or the account is locked after repeated failures';

/** A loopback webhook receiver that keeps what it was sent. */
async function startReceiver(): Promise<{ url: string; alerts: Record<string, unknown>[]; close(): Promise<void> }> {
  const alerts: Record<string, unknown>[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      alerts.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/alerts`, alerts, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function until<T>(probe: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(dialects)('break-glass accounts on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  const clock = new FrozenClock();
  const logLines: string[] = [];
  const members: Record<string, string> = {};
  const secrets: Record<string, string> = {};
  let ip = 0;

  const inject = (method: 'GET' | 'POST' | 'DELETE' | 'PATCH', url: string, payload?: object) =>
    node.app.inject({ method, url, ...(payload && { payload }), headers: adminHeaders });
  const login = (email: string, password: string, code: string, organization = 'acme', remoteAddress = `198.51.100.${++ip}`) =>
    node.app.inject({
      method: 'POST',
      url: '/v1/break-glass/login',
      payload: { organization, email, password, code },
      remoteAddress,
      headers: { 'user-agent': 'break-glass-test' },
    });
  const events = async (kind: string) =>
    (await node.runtime.store.db.selectFrom('audit_events').selectAll().where('kind', '=', kind).orderBy('seq').execute()).map((e) => ({
      ...e,
      detail: JSON.parse(e.detail) as Record<string, unknown>,
    }));
  const account = (name: string) =>
    node.runtime.store.db
      .selectFrom('break_glass_accounts')
      .selectAll()
      .where('member_id', '=', members[name] as string)
      .executeTakeFirstOrThrow();
  /** Enrols and confirms `name`, keeping the TOTP secret the way the person's authenticator would. */
  const enrolConfirmed = async (name: string) => {
    const enrolled = await inject('POST', `/v1/organizations/acme/members/${members[name]}/break-glass`, { password: PASSWORD });
    expect(enrolled.statusCode).toBe(201);
    secrets[name] = enrolled.json().totp.secret;
    const confirmed = await inject('POST', `/v1/organizations/acme/members/${members[name]}/break-glass/confirm`, {
      code: totpCode(secrets[name] as string, clock.now()),
    });
    expect(confirmed.statusCode).toBe(200);
    clock.advance(30);
  };
  const code = (name: string) => totpCode(secrets[name] as string, clock.now());

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db, {
      clock,
      config: { devAllowLoopbackFetch: true },
      logDestination: { write: (line: string) => void logLines.push(line) },
    });
    receiver = await startReceiver();
    await inject('POST', '/v1/organizations', {
      slug: 'acme',
      name: 'Acme',
      settings: { security_alert_webhook_url: receiver.url, session_ttl_seconds: 8 * 3600 },
    });
    await inject('POST', '/v1/organizations', { slug: 'other', name: 'Other' });
    for (const name of ['ops', 'sre', 'lock', 'a', 'b', 'c', 'd']) {
      members[name] = (await inject('POST', '/v1/organizations/acme/members', { email: `${name}@acme.test`, name })).json().id;
    }
    members.outsider = (await inject('POST', '/v1/organizations/other/members', { email: 'outsider@other.test' })).json().id;
  });
  afterAll(async () => {
    await node?.shutdown();
    await receiver?.close();
    await db?.dispose();
  });

  it('enrols a member: the TOTP secret is shown once, stored sealed, and the password only as scrypt', async () => {
    const short = await inject('POST', `/v1/organizations/acme/members/${members.ops}/break-glass`, { password: 'too short pw' });
    expect(short.statusCode).toBe(400);
    expect(short.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('at least 16 characters') });

    const res = await inject('POST', `/v1/organizations/acme/members/${members.ops}/break-glass`, { password: PASSWORD });
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body).toMatchObject({ member_id: members.ops, confirmed: false, totp: { algorithm: 'SHA1', digits: 6, period: 30 } });
    expect(body.totp.secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(body.totp.uri).toMatch(/^otpauth:\/\/totp\/.*secret=/);
    secrets.ops = body.totp.secret;

    const row = await account('ops');
    expect(row.password_hash).toMatch(/^scrypt\$32768\$8\$3\$/);
    expect(row.password_hash).not.toContain(PASSWORD);
    expect(row.totp_ciphertext).toMatch(/^v1\./);
    expect(row.totp_ciphertext).not.toContain(secrets.ops);

    const listed = await inject('GET', '/v1/organizations/acme/break-glass');
    expect(listed.json().data).toEqual([expect.objectContaining({ member_id: members.ops, email: 'ops@acme.test', confirmed: false })]);
    expect(listed.body).not.toContain(secrets.ops);
    expect(listed.body).not.toContain('scrypt');

    expect((await inject('POST', `/v1/organizations/acme/members/${members.ops}/break-glass`, { password: PASSWORD })).statusCode).toBe(
      409,
    );
    expect((await events('break_glass.enrolled')).map((e) => e.subject_id)).toEqual([members.ops]);
  });

  it('refuses enrolling a member of another organization or an unknown one (404), changing nothing', async () => {
    for (const member of [members.outsider, 'mbr_00000000000000000000000000']) {
      const res = await inject('POST', `/v1/organizations/acme/members/${member}/break-glass`, { password: PASSWORD });
      expect(res.statusCode).toBe(404);
    }
    expect((await inject('GET', '/v1/organizations/other/break-glass')).json().data).toEqual([]);
    expect((await inject('POST', '/v1/organizations/nope/members/x/break-glass', { password: PASSWORD })).statusCode).toBe(404);
  });

  it('an unconfirmed account cannot log in, with the same answer as any failure', async () => {
    const res = await login('ops@acme.test', PASSWORD, code('ops'));
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: 'unauthorized', error_description: GENERIC });
    expect((await events('break_glass.failed')).at(-1)?.detail).toMatchObject({ reason: 'unconfirmed', member_id: members.ops });
  });

  it('confirms the enrolment only with a current code, once', async () => {
    const url = `/v1/organizations/acme/members/${members.ops}/break-glass/confirm`;
    const wrong = await inject('POST', url, { code: totpCode(secrets.ops as string, clock.now() - 300_000) });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error_description).toContain('code is wrong or expired');
    expect((await account('ops')).totp_confirmed_at).toBeNull();

    const ok = await inject('POST', url, { code: code('ops') });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ member_id: members.ops, confirmed: true });
    expect((await inject('POST', url, { code: code('ops') })).statusCode).toBe(409);
    expect(await events('break_glass.confirmed')).toHaveLength(1);
    clock.advance(30);
  });

  it('logs in with password and code: a one-hour break_glass session, audited, logged and alerted', async () => {
    const before = logLines.length;
    const res = await login('OPS@acme.test', PASSWORD, code('ops'), 'acme', '203.0.113.9');
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const issued = res.json();
    expect(issued.session_token).toMatch(/^mnd_st_/);
    expect(issued.session.amr).toEqual(['break_glass', 'pwd', 'otp']);
    // The organization allows 8-hour sessions; a break-glass session is capped at one hour.
    expect(Date.parse(issued.expires_at) - clock.now()).toBe(3600 * 1000);
    const jwks = (await node.app.inject({ method: 'GET', url: '/oauth2/jwks' })).json();
    const { payload } = await jwtVerify(issued.session_jwt, createLocalJWKSet(jwks), {
      issuer: 'http://localhost:4000',
      currentDate: new Date(clock.now()),
    });
    expect(payload).toMatchObject({ sub: members.ops, amr: ['break_glass', 'pwd', 'otp'] });

    const used = (await events('break_glass.used')).at(-1);
    expect(used).toMatchObject({ actor_id: members.ops, subject_id: members.ops, client_ip: '203.0.113.9' });
    expect(used?.detail).toMatchObject({ session_id: issued.session.id, client_ip: '203.0.113.9' });
    expect((await events('session.created')).at(-1)?.detail).toMatchObject({ amr: ['break_glass', 'pwd', 'otp'] });

    const alert = await until(() => receiver.alerts.at(-1));
    expect(alert).toMatchObject({
      kind: 'break_glass.used',
      organization: { slug: 'acme' },
      member: { id: members.ops, email: 'ops@acme.test' },
      client_ip: '203.0.113.9',
      session_id: issued.session.id,
      event_id: used?.id,
      at: new Date(clock.now()).toISOString(),
    });
    const warned = logLines.slice(before).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(warned).toContainEqual(expect.objectContaining({ level: 40, alert: 'break_glass.used', member: members.ops }));
    const metrics = await node.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toContain('mandate_security_alerts_total{kind="break_glass.used"} 1');

    const me = await node.app.inject({
      method: 'GET',
      url: '/v1/sessions/me',
      headers: { authorization: `Bearer ${issued.session_token}` },
    });
    expect(me.json().session.amr).toEqual(['break_glass', 'pwd', 'otp']);
  });

  it('accepts a code once: the same code again is refused (RFC 6238 §5.2)', async () => {
    clock.advance(30);
    const fresh = code('ops');
    expect((await login('ops@acme.test', PASSWORD, fresh)).statusCode).toBe(201);
    const replay = await login('ops@acme.test', PASSWORD, fresh);
    expect(replay.statusCode).toBe(401);
    expect(replay.json().error_description).toBe(GENERIC);
  });

  it('answers every failure the same: wrong password, wrong code, unknown email, unknown organization', async () => {
    clock.advance(30);
    await enrolConfirmed('sre');
    const answers = [
      await login('sre@acme.test', 'not the password at all', code('sre')),
      await login('sre@acme.test', PASSWORD, '000000'),
      await login('nobody@acme.test', PASSWORD, code('sre')),
      await login('a@acme.test', PASSWORD, code('sre')),
      await login('sre@acme.test', PASSWORD, code('sre'), 'no-such-org'),
    ];
    for (const res of answers) {
      expect(res.statusCode).toBe(401);
      const { request_id: _ignored, ...body } = res.json();
      expect(body).toEqual({ error: 'unauthorized', error_description: GENERIC });
    }
    const reasons = (await events('break_glass.failed')).slice(-4).map((e) => e.detail.reason);
    expect(reasons).toEqual(['password', 'code', 'unknown_account', 'unknown_account']);
    // Only the failure with the right password counts toward the account-wide lock.
    expect((await account('sre')).failed_attempts).toBe(1);
    // A success resets the count.
    expect((await login('sre@acme.test', PASSWORD, code('sre'))).statusCode).toBe(201);
    expect((await account('sre')).failed_attempts).toBe(0);
  });

  it('a stranger’s 5 wrong tries throttle only their address for that account: the owner still logs in from another', async () => {
    clock.advance(30);
    await enrolConfirmed('lock');
    const attacker = '203.0.113.7';
    for (let i = 0; i < 5; i++) {
      expect((await login('lock@acme.test', `wrong password number ${i}`, code('lock'), 'acme', attacker)).statusCode).toBe(401);
    }
    const lockedUntil = new Date(clock.now() + 15 * 60 * 1000).toISOString();
    expect((await events('break_glass.failed')).at(-1)?.detail).toMatchObject({
      reason: 'password',
      source_failed_attempts: 5,
      source_locked_until: lockedUntil,
      client_ip: attacker,
    });
    expect(await account('lock')).toMatchObject({ locked_until: null, failed_attempts: 0 });

    // The attacker's address is throttled, even with the right credentials.
    const throttled = await login('lock@acme.test', PASSWORD, code('lock'), 'acme', attacker);
    expect(throttled.statusCode).toBe(401);
    expect(throttled.json().error_description).toBe(GENERIC);
    expect((await events('break_glass.failed')).at(-1)?.detail.reason).toBe('source_locked');

    const owner = await login('lock@acme.test', PASSWORD, code('lock'), 'acme', '198.51.100.250');
    expect(owner.statusCode).toBe(201);

    // An IPv6 attacker cannot step through their /64 for more tries.
    clock.advance(30);
    for (let i = 0; i < 5; i++) {
      expect((await login('lock@acme.test', `wrong password number ${i}`, code('lock'), 'acme', `2001:db8:1:2::${i + 1}`)).statusCode).toBe(
        401,
      );
    }
    const sixth = await login('lock@acme.test', PASSWORD, code('lock'), 'acme', '2001:db8:1:2:ffff::9');
    expect(sixth.statusCode).toBe(401);
    expect((await events('break_glass.failed')).at(-1)?.detail.reason).toBe('source_locked');
  });

  it('5 failures with the right password lock the whole account for 15 minutes; an administrator unlocks it (audited)', async () => {
    clock.advance(30);
    for (let i = 0; i < 5; i++) expect((await login('lock@acme.test', PASSWORD, '000000')).statusCode).toBe(401);
    const row = await account('lock');
    expect(row.locked_until).toBe(new Date(clock.now() + 15 * 60 * 1000).toISOString());
    expect((await events('break_glass.failed')).at(-1)?.detail).toMatchObject({
      reason: 'code',
      failed_attempts: 5,
      locked_until: row.locked_until,
    });
    expect((await inject('GET', '/v1/organizations/acme/break-glass')).json().data).toContainEqual(
      expect.objectContaining({ member_id: members.lock, locked_until: row.locked_until }),
    );
    const locked = await login('lock@acme.test', PASSWORD, code('lock'));
    expect(locked.statusCode).toBe(401);
    expect(locked.json().error_description).toBe(GENERIC);
    expect((await events('break_glass.failed')).at(-1)?.detail.reason).toBe('locked');

    expect((await inject('POST', `/v1/organizations/other/members/${members.lock}/break-glass/unlock`)).statusCode).toBe(404);
    const unlocked = await inject('POST', `/v1/organizations/acme/members/${members.lock}/break-glass/unlock`);
    expect(unlocked.statusCode).toBe(200);
    expect(unlocked.json()).toMatchObject({ member_id: members.lock, locked_until: null });
    const [event] = (await events('break_glass.unlocked')).slice(-1);
    expect(event).toMatchObject({ subject_id: members.lock, actor_id: expect.stringMatching(/^ak_/) });
    expect(event?.detail).toMatchObject({ member_id: members.lock, was_locked_until: row.locked_until, locked_sources: 2 });
    clock.advance(30);
    expect((await login('lock@acme.test', PASSWORD, code('lock'))).statusCode).toBe(201);
    expect(await account('lock')).toMatchObject({ failed_attempts: 0, locked_until: null });
  });

  it('50 wrong passwords sprayed from 50 addresses raise a security alert, and never lock the owner out', async () => {
    clock.advance(30);
    for (let i = 0; i < 50; i++) {
      expect(
        (await login('lock@acme.test', `guess ${i} of a distributed attack`, code('lock'), 'acme', `192.0.2.${i + 1}`)).statusCode,
      ).toBe(401);
    }
    const alert = await until(() => receiver.alerts.find((a) => a.kind === 'break_glass.password_spray'));
    expect(alert).toMatchObject({ kind: 'break_glass.password_spray', organization: { slug: 'acme' } });
    expect((await account('lock')).locked_until).toBeNull();
    // Strangers without the password cannot lock the organization out: the owner gets in at once.
    expect((await login('lock@acme.test', PASSWORD, code('lock'), 'acme', '198.51.100.251')).statusCode).toBe(201);
  }, 120_000); // 50 scrypt verifications

  it('never writes a password or a code to the log', async () => {
    const text = logLines.join('\n');
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain('wrong password number');
    for (const secret of Object.values(secrets)) expect(text).not.toContain(secret);
  });

  it('holds at most 5 break-glass members per organization (409)', async () => {
    for (const name of ['a', 'b']) {
      expect((await inject('POST', `/v1/organizations/acme/members/${members[name]}/break-glass`, { password: PASSWORD })).statusCode).toBe(
        201,
      );
    }
    const sixth = await inject('POST', `/v1/organizations/acme/members/${members.c}/break-glass`, { password: PASSWORD });
    expect(sixth.statusCode).toBe(409);
    expect(sixth.json().error_description).toContain('at most 5');
    expect((await inject('GET', '/v1/organizations/acme/break-glass')).json().data).toHaveLength(5);
  });

  it('removes an account (audited); a removed account cannot log in', async () => {
    const res = await inject('DELETE', `/v1/organizations/acme/members/${members.sre}/break-glass`);
    expect(res.statusCode).toBe(204);
    expect((await inject('DELETE', `/v1/organizations/acme/members/${members.sre}/break-glass`)).statusCode).toBe(404);
    expect((await events('break_glass.removed')).at(-1)?.subject_id).toBe(members.sre);
    clock.advance(30);
    expect((await login('sre@acme.test', PASSWORD, code('sre'))).statusCode).toBe(401);
  });

  it('a suspended member cannot use their account', async () => {
    clock.advance(30);
    expect((await inject('PATCH', `/v1/organizations/acme/members/${members.ops}`, { status: 'suspended' })).statusCode).toBe(200);
    expect((await login('ops@acme.test', PASSWORD, code('ops'))).statusCode).toBe(401);
    expect((await events('break_glass.failed')).at(-1)?.detail.reason).toBe('member_inactive');
    await inject('PATCH', `/v1/organizations/acme/members/${members.ops}`, { status: 'active' });
  });

  it('refuses break-glass login where the organization does not allow it (403)', async () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const profile = await inject('POST', '/v1/organizations/other/trusted-token-profiles', {
      name: 'Other app',
      issuer: 'https://login.other.test',
      audience: 'mandate',
      public_key_pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    });
    expect(profile.statusCode).toBe(201);
    const policy = await inject('PATCH', '/v1/organizations/other', { settings: { allowed_auth_methods: ['sso', 'trusted_token'] } });
    expect(policy.statusCode).toBe(200);
    const res = await login('outsider@other.test', PASSWORD, '123456', 'other');
    expect(res.statusCode).toBe(403);
    expect(res.json().error_description).toContain('does not allow break-glass login');
  });

  it('rate limits logins per client address (429)', async () => {
    const from = (remoteAddress: string) => node.app.inject({ method: 'POST', url: '/v1/break-glass/login', payload: {}, remoteAddress });
    for (let i = 0; i < 30; i++) expect((await from('192.0.2.77')).statusCode).toBe(400);
    const limited = await login('ops@acme.test', PASSWORD, code('ops'), 'acme', '192.0.2.77');
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error).toBe('rate_limited');
    expect(limited.headers['retry-after']).toBeDefined();
    expect((await from('192.0.2.78')).statusCode).toBe(400);
  });
});

describe('the hosted break-glass page, in Chromium', () => {
  let db: TestDatabase;
  let node: MandateNode;
  let issuer: string;
  let browser: Browser;
  let secret: string;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    ({ node, issuer } = await startListeningNode(db));
    const admin = async (url: string, payload: object) => {
      const res = await node.app.inject({ method: 'POST', url, payload, headers: adminHeaders });
      if (res.statusCode >= 300) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
      return res.json();
    };
    await admin('/v1/organizations', { slug: 'acme', name: 'Acme' });
    const member = await admin('/v1/organizations/acme/members', { email: 'ops@acme.test', name: 'Ops' });
    secret = (await admin(`/v1/organizations/acme/members/${member.id}/break-glass`, { password: PASSWORD })).totp.secret;
    const previousStep = Date.now() - 30_000;
    await admin(`/v1/organizations/acme/members/${member.id}/break-glass/confirm`, { code: totpCode(secret, previousStep) });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await node?.shutdown();
    await db?.dispose();
  });

  it('signs in with the form: wrong credentials get the generic message, right ones a session cookie', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${issuer}/login/break-glass?organization=acme`);
    expect(await page.inputValue('#organization')).toBe('acme');
    await page.fill('#email', 'ops@acme.test');
    await page.fill('#password', 'a wrong password, long enough');
    await page.fill('#code', totpCode(secret, Date.now()));
    await page.click('button[type=submit]');
    await page.waitForLoadState();
    expect(await page.textContent('[role=alert]')).toContain('The email, password or code is wrong');
    expect(await page.inputValue('#email')).toBe('ops@acme.test');
    expect(await page.inputValue('#password')).toBe('');

    await page.fill('#password', PASSWORD);
    await page.fill('#code', totpCode(secret, Date.now()));
    await page.click('button[type=submit]');
    await page.waitForLoadState();
    expect(await page.textContent('h1')).toContain('Signed in with break-glass access');
    const cookie = (await context.cookies()).find((c) => c.name === 'mandate_session');
    expect(cookie?.value).toMatch(/^mnd_st_/);
    expect(cookie?.httpOnly).toBe(true);
    const me = await page.request.get(`${issuer}/v1/sessions/me`);
    expect((await me.json()).session.amr).toEqual(['break_glass', 'pwd', 'otp']);
    await context.close();
  });

  it('refuses a form posted without the page’s CSRF cookie (a cross-site login attempt)', async () => {
    const failures = () => node.runtime.store.db.selectFrom('audit_events').select('id').where('kind', 'like', 'break_glass.%').execute();
    const before = (await failures()).length;
    const res = await fetch(`${issuer}/login/break-glass`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        organization: 'acme',
        email: 'ops@acme.test',
        password: PASSWORD,
        code: totpCode(secret, Date.now()),
        csrf_token: 'forged',
      }),
      redirect: 'manual',
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('set-cookie') ?? '').not.toContain('mandate_session=mnd_st_');
    expect(await res.text()).toContain('did not come from this page');
    expect(await failures()).toHaveLength(before);
  });

  it('returns to a same-server path after login, never to another site', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${issuer}/login/break-glass?organization=acme&return_to=//evil.example/phish`);
    expect(await page.inputValue('input[name=return_to]')).toBe('');
    await page.goto(`${issuer}/login/break-glass?organization=acme&return_to=/v1/sessions/me`);
    await page.fill('#email', 'ops@acme.test');
    await page.fill('#password', PASSWORD);
    // The first login used the current step; the next one (within the ±1 step window) is still unused.
    await page.fill('#code', totpCode(secret, Date.now() + 30_000));
    await page.click('button[type=submit]');
    await page.waitForURL(`${issuer}/v1/sessions/me`);
    expect(await page.textContent('body')).toContain('break_glass');
    await context.close();
  });
});
