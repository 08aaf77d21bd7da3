import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplayCache } from '../src/crypto/replay-cache.js';
import type { MandateNode } from '../src/node.js';
import { samlReplayNamespace } from '../src/sso/saml.js';
import { launchChromium } from './support/browser.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startListeningNode, type TestDatabase } from './support/nodes.js';
import { type AssertionOptions, createTestIdp, readRedirectRequest, startIdpServer, type TestIdp } from './support/saml-idp.js';

const LOOPBACK = /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\//;

describe.each(dialects)('SSO through SAML 2.0 on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let issuer: string;
  let idp: TestIdp;
  let xcorp: { id: string; callback_url: string; saml: Record<string, unknown> };
  let acme: { id: string; callback_url: string };
  let engineers: { id: string };

  const admin = (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, payload?: object) =>
    node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
  const created = async (url: string, payload: object) => {
    const res = await admin('POST', url, payload);
    if (res.statusCode !== 201) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
    return res.json();
  };
  const db$ = () => node.runtime.store.db;
  const events = async (kind: string) =>
    (await db$().selectFrom('audit_events').selectAll().where('kind', '=', kind).orderBy('id').execute()).map(
      (e) => JSON.parse(e.detail ?? '{}') as Record<string, unknown>,
    );
  const sessionCount = async () => (await db$().selectFrom('sessions').select('id').execute()).length;

  /** `/sso/start` as a browser calls it: the AuthnRequest it is sent to the IdP with, and its binding cookie. */
  async function start(connectionId: string) {
    const res = await node.app.inject({ method: 'GET', url: `/sso/start?connection=${connectionId}` });
    expect(res.statusCode).toBe(303);
    const cookie = /mandate_sso=([^;]+)/.exec(String(res.headers['set-cookie']))?.[1] ?? '';
    const request = readRedirectRequest(String(res.headers.location));
    return { ...request, cookie };
  }
  type Started = Awaited<ReturnType<typeof start>>;
  const answer = (started: Started, overrides: Partial<AssertionOptions> = {}): AssertionOptions => ({
    acsUrl: started.acsUrl ?? '',
    audience: started.issuer ?? '',
    inResponseTo: started.id,
    nameId: 'alice@xcorp.test',
    attributes: { displayName: ['Alice Doe'], groups: ['engineering', 'everyone'] },
    ...overrides,
  });
  /** The IdP's auto-submitted form arriving at the ACS URL, with the browser's cookie. */
  const post = (connectionId: string, started: Started, samlResponse: string) =>
    node.app.inject({
      method: 'POST',
      url: `/sso/callback/${connectionId}`,
      headers: { cookie: `mandate_sso=${started.cookie}`, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ SAMLResponse: samlResponse, RelayState: started.relayState ?? '' }).toString(),
    });
  async function refused(res: Awaited<ReturnType<typeof post>>, reason: RegExp, sessionsBefore: number): Promise<void> {
    expect(res.statusCode).toBe(403);
    expect(res.body).toContain('Sign-in refused');
    expect(res.headers['set-cookie'] ?? '').not.toContain('mandate_session');
    expect(await sessionCount()).toBe(sessionsBefore);
    expect((await events('sso.login_refused')).at(-1)).toMatchObject({ protocol: 'saml', reason: expect.stringMatching(reason) });
  }

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    ({ node, issuer } = await startListeningNode(db, { config: { devAllowLoopbackFetch: true } }));
    idp = createTestIdp({ entityId: 'https://idp.xcorp.test/saml', ssoUrl: 'https://idp.xcorp.test/sso' });
    await created('/v1/organizations', { slug: 'xcorp', name: 'XCorp' });
    await created('/v1/organizations', { slug: 'acme', name: 'Acme' });
    engineers = await created('/v1/organizations/xcorp/roles', { name: 'Engineers', permissions: [{ tool: 'calendar', action: 'read' }] });
    const mapped = await admin('PUT', '/v1/organizations/xcorp/group-role-mappings', {
      mappings: [{ group: 'engineering', role_id: engineers.id }],
    });
    expect(mapped.statusCode).toBe(200);
    xcorp = await created('/v1/organizations/xcorp/sso-connections', {
      protocol: 'saml',
      name: 'XCorp SAML',
      domains: ['xcorp.test'],
      jit_provisioning: true,
      saml: { metadata_xml: idp.metadataXml() },
    });
    // Another tenant trusting the same IdP: its answers for XCorp must not open Acme.
    acme = await created('/v1/organizations/acme/sso-connections', {
      protocol: 'saml',
      name: 'Acme SAML',
      domains: ['acme.test'],
      jit_provisioning: true,
      saml: { metadata_xml: idp.metadataXml() },
    });
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it('creates a connection from IdP metadata and shows what the IdP administrator needs', async () => {
    expect(xcorp).toMatchObject({
      id: expect.stringMatching(/^sso_/),
      callback_url: `${issuer}/sso/callback/${xcorp.id}`,
      client_secret_set: false,
      saml: {
        idp_entity_id: 'https://idp.xcorp.test/saml',
        idp_sso_url: 'https://idp.xcorp.test/sso',
        idp_sso_binding: 'redirect',
        sp_entity_id: `${issuer}/sso/saml/${xcorp.id}`,
        acs_url: `${issuer}/sso/callback/${xcorp.id}`,
        sp_metadata_url: `${issuer}/sso/saml/${xcorp.id}/metadata`,
      },
    });
    expect((xcorp.saml.idp_certificates as unknown[]).length).toBe(1);
    expect((await events('sso_connection.created')).map((e) => e.protocol)).toEqual(['saml', 'saml']);

    const before = await db$().selectFrom('sso_connections').select('id').execute();
    const bad = async (saml: object) => {
      const res = await admin('POST', '/v1/organizations/acme/sso-connections', { protocol: 'saml', name: 'Bad', saml });
      expect(res.statusCode).toBe(400);
      return res.json();
    };
    expect((await bad({ metadata_xml: 'not xml' })).error).toBe('invalid_request');
    expect((await bad({ metadata_xml: idp.metadataXml().replace('use="signing"', 'use="encryption"') })).error_description).toMatch(
      /no signing certificate/,
    );
    expect(
      (await bad({ idp_entity_id: 'urn:x', idp_sso_url: 'http://idp.example/sso', idp_certificates: [idp.certificatePem] }))
        .error_description,
    ).toMatch(/https/);
    expect((await bad({ metadata_xml: idp.metadataXml(), client_secret: 'x' })).error_description).toMatch(/OIDC/);
    expect(await db$().selectFrom('sso_connections').select('id').execute()).toEqual(before);
  });

  it('serves the SP metadata of a SAML connection, publicly', async () => {
    const res = await node.app.inject({ method: 'GET', url: `/sso/saml/${xcorp.id}/metadata` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/samlmetadata\+xml/);
    expect(res.body).toContain(`entityID="${issuer}/sso/saml/${xcorp.id}"`);
    expect(res.body).toContain(`Location="${xcorp.callback_url}"`);
    expect(res.body).toContain('WantAssertionsSigned="true"');
    const atEntityId = await node.app.inject({ method: 'GET', url: `/sso/saml/${xcorp.id}` });
    expect(atEntityId.body).toContain(`entityID="${issuer}/sso/saml/${xcorp.id}"`);
    expect((await node.app.inject({ method: 'GET', url: '/sso/saml/sso_00000000000000000000000000/metadata' })).statusCode).toBe(404);
    expect((await node.app.inject({ method: 'GET', url: '/sso/saml/nope/metadata' })).statusCode).toBe(400);
  });

  it('signs a person in: AuthnRequest, signed assertion at the ACS URL, member just in time, groups as roles, session', async () => {
    const started = await start(xcorp.id);
    expect(started).toMatchObject({ acsUrl: xcorp.callback_url, issuer: `${issuer}/sso/saml/${xcorp.id}` });
    expect(started.cookie).not.toBe('');
    const res = await post(xcorp.id, started, idp.response(answer(started)));
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe(`${issuer}/sso/signed-in`);
    const sessionToken = /mandate_session=([^;]+)/.exec(String(res.headers['set-cookie']))?.[1];
    expect(sessionToken).toMatch(/^mnd_st_/);

    const me = (
      await node.app.inject({ method: 'GET', url: '/v1/sessions/me', headers: { authorization: `Bearer ${sessionToken}` } })
    ).json();
    expect(me.member).toMatchObject({ email: 'alice@xcorp.test', name: 'Alice Doe' });
    const alice = me.member as { id: string };
    expect(await db$().selectFrom('member_identities').selectAll().where('member_id', '=', alice.id).execute()).toEqual([
      expect.objectContaining({ connection_id: xcorp.id, subject: 'alice@xcorp.test' }),
    ]);
    expect(await db$().selectFrom('role_bindings').select(['role_id', 'source']).where('principal_id', '=', alice.id).execute()).toEqual([
      { role_id: engineers.id, source: 'idp' },
    ]);
    const session = await db$().selectFrom('sessions').selectAll().where('member_id', '=', alice.id).executeTakeFirstOrThrow();
    expect(session).toMatchObject({ amr: '["sso"]', connection_id: xcorp.id });
    const audited = (await events('session.created')).at(-1);
    expect(audited).toMatchObject({ connection: xcorp.id, idp_subject: 'alice@xcorp.test', assertion_id: expect.stringMatching(/^_a/) });
    expect(JSON.stringify(audited)).not.toContain('SAMLResponse');
    expect(
      await db$()
        .selectFrom('replay_cache')
        .selectAll()
        .where('key_hash', '=', ReplayCache.keyOf(samlReplayNamespace(xcorp.id), String(audited?.assertion_id)))
        .execute(),
    ).toHaveLength(1);
  });

  it('refuses a captured answer posted again, and an assertion id the IdP already used', async () => {
    const started = await start(xcorp.id);
    const response = idp.response(answer(started, { nameId: 'bob@xcorp.test' }));
    expect((await post(xcorp.id, started, response)).statusCode).toBe(303);
    const before = await sessionCount();
    await refused(await post(xcorp.id, started, response), /./, before);

    // A new login answered with an assertion that reuses an accepted assertion's ID.
    const first = await start(xcorp.id);
    const id = '_reused0000000000000000000000000';
    expect((await post(xcorp.id, first, idp.response(answer(first, { id, nameId: 'bob@xcorp.test' })))).statusCode).toBe(303);
    const second = await start(xcorp.id);
    const again = await sessionCount();
    await refused(await post(xcorp.id, second, idp.response(answer(second, { id, nameId: 'bob@xcorp.test' }))), /already used/, again);
  });

  it('refuses an assertion meant for another service provider', async () => {
    const started = await start(xcorp.id);
    const before = await sessionCount();
    await refused(
      await post(xcorp.id, started, idp.response(answer(started, { audience: 'https://other-sp.example/saml' }))),
      /audience/,
      before,
    );
  });

  it('refuses an unsigned assertion, one signed by another key and a NameID split by a comment', async () => {
    const before = await sessionCount();
    const unsigned = await start(xcorp.id);
    const a = answer(unsigned, { nameId: 'admin@xcorp.test' });
    await refused(
      await post(xcorp.id, unsigned, Buffer.from(idp.responseXml(a, [idp.assertionXml(a)])).toString('base64')),
      /signed/,
      before,
    );

    const impostor = createTestIdp({ entityId: 'https://idp.xcorp.test/saml', ssoUrl: 'https://idp.xcorp.test/sso' });
    const forged = await start(xcorp.id);
    await refused(await post(xcorp.id, forged, impostor.response(answer(forged, { nameId: 'admin@xcorp.test' }))), /signed/, before);

    const injected = await start(xcorp.id);
    const b = answer(injected, { nameId: 'alice@xcorp.test.evil.test' });
    const signed = idp.sign(idp.assertionXml(b)).replace('>alice@xcorp.test.evil.test<', '>alice@xcorp.test<!---->.evil.test<');
    await refused(await post(xcorp.id, injected, Buffer.from(idp.responseXml(b, [signed])).toString('base64')), /comment/, before);
  });

  it('binds every start to a fresh browser secret, never to a cookie the browser already carries', async () => {
    const planted = 'A'.repeat(43);
    const res = await node.app.inject({
      method: 'GET',
      url: `/sso/start?connection=${xcorp.id}`,
      headers: { cookie: `mandate_sso=${planted}` },
    });
    const cookie = /mandate_sso=([^;]+)/.exec(String(res.headers['set-cookie']))?.[1];
    expect(cookie).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(cookie).not.toBe(planted);
    const withPlanted = { ...readRedirectRequest(String(res.headers.location)), cookie: planted };
    const before = await sessionCount();
    await refused(await post(xcorp.id, withPlanted, idp.response(answer(withPlanted))), /did not start in this browser/, before);

    // A second tab's start replaces the cookie: the first tab's answer is refused, the second's signs in.
    const first = await start(xcorp.id);
    const second = await start(xcorp.id);
    expect(second.cookie).not.toBe(first.cookie);
    const firstInSameBrowser = { ...first, cookie: second.cookie };
    await refused(await post(xcorp.id, firstInSameBrowser, idp.response(answer(first))), /did not start in this browser/, before);
    expect((await post(xcorp.id, second, idp.response(answer(second)))).statusCode).toBe(303);
  });

  it('does not let an answer for one organization open another', async () => {
    const before = await sessionCount();
    // XCorp's valid answer delivered at Acme's ACS URL: the login state belongs to XCorp's connection.
    const started = await start(xcorp.id);
    const res = await post(acme.id, started, idp.response(answer(started)));
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(await sessionCount()).toBe(before);
    // An Acme login answered with an assertion addressed to XCorp.
    const atAcme = await start(acme.id);
    const xcorpSp = { audience: `${issuer}/sso/saml/${xcorp.id}`, acsUrl: xcorp.callback_url };
    await refused(await post(acme.id, atAcme, idp.response(answer(atAcme, xcorpSp))), /audience|recipient|destination/, before);
  });

  describe('in Chromium', () => {
    let browser: Browser;
    let server: Awaited<ReturnType<typeof startIdpServer>>;
    let connection: { id: string };

    beforeAll(async () => {
      server = await startIdpServer((ssoUrl) => createTestIdp({ entityId: 'https://idp.browser.test/saml', ssoUrl }), {
        nameId: 'carol@browser.test',
        attributes: { displayName: ['Carol'], groups: ['everyone'] },
        audience: (request) => request.issuer ?? '',
      });
      await created('/v1/organizations', { slug: 'browserco', name: 'Browser Co' });
      connection = await created('/v1/organizations/browserco/sso-connections', {
        protocol: 'saml',
        name: 'Browser Co SAML',
        domains: ['browser.test'],
        jit_provisioning: true,
        saml: { metadata_xml: server.idp.metadataXml() },
      });
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
      await server?.close();
    });

    it('follows the redirect to the IdP and its auto-submitted form back to a signed-in page', async () => {
      const context = await browser.newContext();
      await context.route(
        (url) => !LOOPBACK.test(url.href),
        (route) => route.abort(),
      );
      const page = await context.newPage();
      await page.goto(`${issuer}/login`);
      await page.locator('input[name="email"]').fill('carol@browser.test');
      await page.locator('button[type="submit"]').click();
      await page.waitForURL(`${issuer}/sso/signed-in`);
      const text = (await page.locator('main').textContent()) ?? '';
      expect(text).toContain('carol@browser.test');
      expect(text).toContain('Browser Co');
      const cookies = await context.cookies(issuer);
      expect(cookies.find((c) => c.name === 'mandate_session')?.value).toMatch(/^mnd_st_/);
      const carol = await db$().selectFrom('members').selectAll().where('email', '=', 'carol@browser.test').executeTakeFirstOrThrow();
      expect(await db$().selectFrom('sessions').select('connection_id').where('member_id', '=', carol.id).execute()).toEqual([
        { connection_id: connection.id },
      ]);
      await context.close();
    });
  });
});
