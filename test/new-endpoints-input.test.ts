import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';

type Json = { [key: string]: unknown };

/**
 * The endpoints added for the audit trail, the token vault and approvals, against bad input:
 * no credentials, malformed JSON, an oversized body, and another organization's objects. Each
 * answers the documented error and changes nothing.
 */
describe.each(dialects)('bad input at the audit, vault and approvals endpoints on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let otherAgent: string;
  let xcorpMember: string;

  const admin = async (method: 'POST' | 'GET', url: string, payload?: object): Promise<Json> =>
    (await node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) })).json();
  const state = async (): Promise<string> => {
    const db$ = node.runtime.store.db;
    const tables = [
      'audit_events',
      'audit_sinks',
      'vault_connections',
      'connected_accounts',
      'vault_authorization_links',
      'authorization_detail_types',
      'approval_requests',
      'runs',
      'agents',
    ] as const;
    const rows = await Promise.all(tables.map((t) => db$.selectFrom(t).selectAll().execute()));
    return JSON.stringify(rows);
  };

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db);
    await admin('POST', '/v1/organizations', { slug: 'xcorp', name: 'XCorp' });
    await admin('POST', '/v1/organizations', { slug: 'ycorp', name: 'YCorp' });
    xcorpMember = String((await admin('POST', '/v1/organizations/xcorp/members', { email: 'john@xcorp.test' })).id);
    const yOwner = String((await admin('POST', '/v1/organizations/ycorp/members', { email: 'owner@ycorp.test' })).id);
    otherAgent = String(
      (await admin('POST', '/v1/organizations/ycorp/agents', { name: 'Y bot', purpose: 'y', owner_member_id: yOwner, environment: 'prod' }))
        .id,
    );
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  const endpoints = (): { name: string; method: 'POST' | 'PUT'; url: string; body: object }[] => [
    { name: 'create a sink', method: 'POST', url: '/v1/organizations/xcorp/audit/sinks', body: { url: 'https://siem.example.com/x' } },
    {
      name: 'create a connection',
      method: 'POST',
      url: '/v1/organizations/xcorp/connections',
      body: { name: 'gh', provider: 'github', client_id: 'a', client_secret: 'b' },
    },
    {
      name: 'register an authorization details type',
      method: 'POST',
      url: '/v1/organizations/xcorp/authorization-detail-types',
      body: { type: 'refund', description: 'Refund', schema: { type: 'object' }, approvers: 'user' },
    },
    {
      name: 'restrict an agent',
      method: 'PUT',
      url: `/v1/organizations/xcorp/agents/${otherAgent}/restriction`,
      body: { restriction: 'read_only', reason: 'test' },
    },
    {
      name: 'record an intent',
      method: 'POST',
      url: '/v1/audit/intents',
      body: { organization: 'xcorp', member_id: xcorpMember, tool: 'crm', action: 'read' },
    },
    { name: 'open a run', method: 'POST', url: '/v1/runs', body: { organization: 'xcorp', member_id: xcorpMember, name: 'run' } },
    {
      name: 'ask for an authorization link',
      method: 'POST',
      url: '/v1/connected-accounts/authorization-link',
      body: { organization: 'xcorp', identifier: xcorpMember, connection: 'gh' },
    },
    {
      name: 'execute a tool',
      method: 'POST',
      url: '/v1/tools/execute',
      body: { organization: 'xcorp', identifier: xcorpMember, tool_name: 'github_issue_get', tool_input: {} },
    },
    { name: 'decide an approval', method: 'POST', url: '/v1/approvals/apr_00000000000000000000000000/approve', body: {} },
  ];

  it('refuses each without credentials, malformed or oversized, and changes nothing', async () => {
    const before = await state();
    for (const { name, method, url, body } of endpoints()) {
      const anonymous = await node.app.inject({ method, url, payload: body });
      expect(anonymous.statusCode, `${name}: no credentials`).toBe(401);
      expect(anonymous.json()).toMatchObject({ error: 'unauthorized', request_id: expect.any(String) });

      const headers = { ...adminHeaders, 'content-type': 'application/json' };
      const malformed = await node.app.inject({ method, url, payload: '{"oops":', headers });
      // The approvals API takes a member session, not an admin key: it refuses before reading the body.
      expect(malformed.statusCode, `${name}: malformed JSON`).toBe(url.startsWith('/v1/approvals') ? 401 : 400);

      const oversized = await node.app.inject({ method, url, payload: JSON.stringify({ pad: 'x'.repeat(70_000) }), headers });
      if (url.startsWith('/v1/approvals')) expect(oversized.statusCode, `${name}: oversized, no session`).toBe(401);
      else {
        expect(oversized.statusCode, `${name}: oversized`).toBe(413);
        expect(oversized.json()).toMatchObject({ error: 'payload_too_large' });
      }
    }
    expect(await state()).toBe(before);
  });

  it('answers not found for another organization’s or an unknown organization’s objects, and changes nothing', async () => {
    const before = await state();
    const cases: [string, 'POST' | 'PUT' | 'GET', string, object | undefined][] = [
      [
        'agent of another organization',
        'PUT',
        `/v1/organizations/xcorp/agents/${otherAgent}/restriction`,
        { restriction: 'read_only', reason: 'cross' },
      ],
      [
        'member of another organization',
        'POST',
        '/v1/audit/intents',
        { organization: 'ycorp', member_id: xcorpMember, tool: 'crm', action: 'read' },
      ],
      ['unknown organization (sinks)', 'POST', '/v1/organizations/nope/audit/sinks', { url: 'https://siem.example.com/x' }],
      [
        'unknown organization (connections)',
        'POST',
        '/v1/organizations/nope/connections',
        { name: 'gh', provider: 'github', client_id: 'a', client_secret: 'b' },
      ],
      [
        'unknown organization (types)',
        'POST',
        '/v1/organizations/nope/authorization-detail-types',
        { type: 't', description: 'd', schema: {}, approvers: 'user' },
      ],
      ['checkpoints of an unknown chain', 'GET', '/v1/audit/checkpoints/latest?chain=nope', undefined],
      ['export of an unknown organization', 'GET', '/v1/audit/export?org=nope', undefined],
    ];
    for (const [name, method, url, payload] of cases) {
      const res = await node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
      expect(res.statusCode, name).toBe(404);
      expect(res.json()).toMatchObject({ error: 'not_found' });
    }
    expect(await state()).toBe(before);
  });

  it('answers the CIBA endpoint’s bad requests in the OAuth error format', async () => {
    const before = await state();
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const anonymous = await node.app.inject({ method: 'POST', url: '/oauth2/bc-authorize', headers: form, payload: 'login_hint=x' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toMatchObject({ error: 'invalid_client' });
    const json = await node.app.inject({
      method: 'POST',
      url: '/oauth2/bc-authorize',
      headers: { 'content-type': 'application/json' },
      payload: '{}',
    });
    expect(json.statusCode).toBe(400);
    expect(json.json()).toMatchObject({ error: 'invalid_request' });
    const oversized = await node.app.inject({
      method: 'POST',
      url: '/oauth2/bc-authorize',
      headers: form,
      payload: `login_hint=${'x'.repeat(70_000)}`,
    });
    expect(oversized.statusCode).toBe(413);
    expect(await state()).toBe(before);
  });
});
