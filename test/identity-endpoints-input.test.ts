import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';

type Json = { [key: string]: unknown };

/**
 * The endpoints added for enterprise identity (SSO connections, group mappings, identity links,
 * break-glass, sessions, impersonation, SCIM tokens), against bad input: no credentials,
 * malformed JSON, an oversized body, and another or an unknown organization's objects. Each
 * answers the documented error and changes nothing.
 */
describe.each(dialects)('bad input at the enterprise identity endpoints on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let xMember: string;
  let yMember: string;

  const admin = async (method: 'POST' | 'GET', url: string, payload?: object): Promise<Json> =>
    (await node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) })).json();
  const state = async (): Promise<string> => {
    const db$ = node.runtime.store.db;
    const tables = [
      'audit_events',
      'members',
      'sessions',
      'sso_connections',
      'group_role_mappings',
      'member_identities',
      'break_glass_accounts',
      'impersonation_tokens',
      'scim_tokens',
    ] as const;
    return JSON.stringify(await Promise.all(tables.map((t) => db$.selectFrom(t).selectAll().execute())));
  };

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db);
    await admin('POST', '/v1/organizations', { slug: 'xcorp', name: 'XCorp' });
    await admin('POST', '/v1/organizations', { slug: 'ycorp', name: 'YCorp' });
    xMember = String((await admin('POST', '/v1/organizations/xcorp/members', { email: 'john@xcorp.test' })).id);
    yMember = String((await admin('POST', '/v1/organizations/ycorp/members', { email: 'eve@ycorp.test' })).id);
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  /** `session`: the route takes a member session, not an admin key, and refuses before reading the body. */
  const endpoints = (): { name: string; method: 'POST' | 'PUT' | 'PATCH'; url: string; body: object; session?: true }[] => [
    {
      name: 'create an SSO connection',
      method: 'POST',
      url: '/v1/organizations/xcorp/sso-connections',
      body: { protocol: 'oidc', name: 'Okta', oidc: { issuer: 'https://idp.example.com', client_id: 'm' } },
    },
    { name: 'replace group mappings', method: 'PUT', url: '/v1/organizations/xcorp/group-role-mappings', body: { mappings: [] } },
    {
      name: 'link an IdP subject',
      method: 'POST',
      url: `/v1/organizations/xcorp/members/${xMember}/identities`,
      body: { connection_id: 'sso_00000000000000000000000000', subject: 's' },
    },
    {
      name: 'enrol a break-glass account',
      method: 'POST',
      url: `/v1/organizations/xcorp/members/${xMember}/break-glass`,
      body: { password: 'correct horse battery staple' },
    },
    { name: 'create a SCIM token', method: 'POST', url: '/v1/organizations/xcorp/scim-tokens', body: { name: 'Okta' } },
    {
      name: 'ask for an impersonation token',
      method: 'POST',
      url: '/v1/impersonation/tokens',
      body: { member_id: xMember, reason: 'r' },
      session: true,
    },
  ];

  it('refuses each without credentials, malformed or oversized, and changes nothing', async () => {
    const before = await state();
    for (const { name, method, url, body, session } of endpoints()) {
      const anonymous = await node.app.inject({ method, url, payload: body });
      expect(anonymous.statusCode, `${name}: no credentials`).toBe(401);
      expect(anonymous.json()).toMatchObject({ error: 'unauthorized', request_id: expect.any(String) });
      const headers = { ...adminHeaders, 'content-type': 'application/json' };
      const malformed = await node.app.inject({ method, url, payload: '{"oops":', headers });
      expect(malformed.statusCode, `${name}: malformed JSON`).toBe(session ? 401 : 400);
      const oversized = await node.app.inject({ method, url, payload: JSON.stringify({ pad: 'x'.repeat(70_000) }), headers });
      expect(oversized.statusCode, `${name}: oversized`).toBe(session ? 401 : 413);
    }
    expect(await state()).toBe(before);
  });

  it('refuses malformed, oversized and made-up credentials at the public login endpoints, and changes nothing', async () => {
    const before = await state();
    const json = { 'content-type': 'application/json' };
    for (const url of ['/v1/impersonation/authenticate', '/v1/break-glass/login']) {
      expect((await node.app.inject({ method: 'POST', url, headers: json, payload: '{"oops":' })).statusCode, url).toBe(400);
      expect(
        (await node.app.inject({ method: 'POST', url, headers: json, payload: JSON.stringify({ pad: 'x'.repeat(70_000) }) })).statusCode,
        url,
      ).toBe(413);
    }
    const forged = await node.app.inject({
      method: 'POST',
      url: '/v1/impersonation/authenticate',
      payload: { token: `mnd_imp_${'A'.repeat(43)}` },
    });
    expect(forged.statusCode).toBe(401);
    const unknownOrg = await node.app.inject({
      method: 'POST',
      url: '/v1/break-glass/login',
      payload: { organization: 'nope', email: 'a@b.test', password: 'x'.repeat(16), code: '123456' },
    });
    expect(unknownOrg.statusCode).toBe(401);
    expect(await state()).toBe(before);
  });

  it('answers not found for another organization’s or an unknown organization’s objects, and changes nothing', async () => {
    const before = await state();
    const cases: [string, 'POST' | 'PUT' | 'GET' | 'DELETE', string, object | undefined][] = [
      [
        'unknown organization (SSO connections)',
        'POST',
        '/v1/organizations/nope/sso-connections',
        { protocol: 'oidc', name: 'x', oidc: { issuer: 'https://i.example.com', client_id: 'c' } },
      ],
      ['unknown organization (group mappings)', 'PUT', '/v1/organizations/nope/group-role-mappings', { mappings: [] }],
      ['unknown organization (SCIM tokens)', 'POST', '/v1/organizations/nope/scim-tokens', { name: 'x' }],
      [
        'member of another organization (identities)',
        'POST',
        `/v1/organizations/xcorp/members/${yMember}/identities`,
        { connection_id: 'sso_00000000000000000000000000', subject: 's' },
      ],
      [
        'member of another organization (break-glass)',
        'POST',
        `/v1/organizations/xcorp/members/${yMember}/break-glass`,
        { password: 'correct horse battery staple' },
      ],
      ['member of another organization (sessions)', 'GET', `/v1/organizations/xcorp/members/${yMember}/sessions`, undefined],
      ['member of another organization (end sessions)', 'DELETE', `/v1/organizations/xcorp/members/${yMember}/sessions`, undefined],
      [
        'SSO connection unknown to the organization',
        'POST',
        `/v1/organizations/xcorp/members/${xMember}/identities`,
        { connection_id: 'sso_00000000000000000000000000', subject: 's' },
      ],
      ['SSO connection of an unknown id', 'GET', '/v1/organizations/xcorp/sso-connections/sso_00000000000000000000000000', undefined],
    ];
    for (const [name, method, url, payload] of cases) {
      const res = await node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
      expect(res.statusCode, name).toBe(404);
      expect(res.json(), name).toMatchObject({ error: 'not_found' });
    }
    expect(await state()).toBe(before);
  });
});
