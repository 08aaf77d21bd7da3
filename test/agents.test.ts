import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, snapshot, startTestNode, type TestDatabase } from './support/nodes.js';
import { basic, createOAuthFixture, form, MCP, type OAuthFixture } from './support/oauth-fixtures.js';

describe.each(dialects)('agent registry and kill switch on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let fx: OAuthFixture;
  let owner: { id: string };
  let agent: { id: string };
  let agentClient: { client_id: string; client_secret: string };

  const admin = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
    node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
  const token = () =>
    node.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      payload: form({ grant_type: 'client_credentials', resource: MCP }),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(agentClient.client_id, agentClient.client_secret),
      },
    });
  const introspect = async (t: string) =>
    (
      await node.app.inject({
        method: 'POST',
        url: '/oauth2/introspect',
        payload: form({ token: t }),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: basic(fx.agentClient.client_id, fx.agentClient.client_secret),
        },
      })
    ).json();

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db);
    fx = await createOAuthFixture(node);
    owner = (await admin('POST', '/v1/organizations/acme/members', { email: 'owner@acme.test', name: 'Olive Owner' })).json();
    agent = (
      await admin('POST', '/v1/organizations/acme/agents', {
        name: 'Support Agent',
        purpose: 'Answers customer tickets',
        owner_member_id: owner.id,
        environment: 'prod',
        version: '1.4.2',
        max_data_classification: 'confidential',
        allowed_tools: ['ticketing', 'crm'],
      })
    ).json();
    agentClient = (
      await admin('POST', '/v1/organizations/acme/clients', {
        client_name: 'Support Agent credential',
        client_type: 'confidential',
        grant_types: ['client_credentials'],
        scope: 'calendar.read',
        resources: [MCP],
        agent_id: agent.id,
      })
    ).json();
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it('registers an agent with an owner, and its tokens name the agent', async () => {
    expect(agent).toMatchObject({
      id: expect.stringMatching(/^agt_/),
      status: 'active',
      environment: 'prod',
      owner_member_id: owner.id,
      tokens_issued: 0,
      last_access_at: null,
    });
    const claims = await introspect((await token()).json().access_token);
    expect(claims).toMatchObject({ active: true, sub: agent.id, agent_id: agent.id, org_id: fx.acme.id });
    await node.agentUsage.flush();
    const seen = (await admin('GET', `/v1/organizations/acme/agents/${agent.id}`)).json();
    expect(seen.tokens_issued).toBe(1);
    expect(seen.last_access_at).toMatch(/^20/);
  });

  it('suspends (the kill switch): tokens are refused at once; resume lets it act again with new tokens only; every step audited with its reason', async () => {
    const live = (await token()).json().access_token;
    const suspended = await admin('POST', `/v1/organizations/acme/agents/${agent.id}/suspend`, { reason: 'unexpected bulk exports' });
    expect(suspended.json().status).toBe('suspended');
    expect(await introspect(live)).toEqual({ active: false });
    const refused = await token();
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toBe('unauthorized_client');
    const attempt = await node.runtime.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('kind', '=', 'token.refused')
      .where('agent_id', '=', agent.id)
      .executeTakeFirst();
    expect(JSON.parse(attempt?.detail ?? '{}')).toMatchObject({ reason: 'agent suspended', grant_type: 'client_credentials' });

    const resumed = await admin('POST', `/v1/organizations/acme/agents/${agent.id}/resume`, { reason: 'investigated, benign' });
    expect(resumed.json().status).toBe('active');
    // Resuming never revives a token issued before the stop; the agent gets new ones.
    expect(await introspect(live)).toEqual({ active: false });
    const fresh = (await token()).json().access_token;
    expect((await introspect(fresh)).active).toBe(true);
    const events = await node.runtime.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('agent_id', '=', agent.id)
      .where('kind', 'in', ['agent.suspended', 'agent.resumed'])
      .orderBy('seq')
      .execute();
    expect(events.map((e) => [e.kind, JSON.parse(e.detail).reason])).toEqual([
      ['agent.suspended', 'unexpected bulk exports'],
      ['agent.resumed', 'investigated, benign'],
    ]);
  });

  it.each([
    [
      'an owner from another organization',
      async () => (await admin('POST', '/v1/organizations/globex/members', { email: 'x@globex.test' })).json().id,
    ],
    ['an unknown owner', async () => 'mbr_00000000000000000000000000'],
  ])('refuses %s and creates nothing', async (_name, ownerId) => {
    const id = await ownerId();
    const before = await snapshot(node);
    const res = await admin('POST', '/v1/organizations/acme/agents', { name: 'X', purpose: 'y', owner_member_id: id, environment: 'dev' });
    expect(res.statusCode).toBe(400);
    expect(await snapshot(node)).toBe(before);
  });

  it('keeps agents inside their organization', async () => {
    expect((await admin('GET', `/v1/organizations/globex/agents/${agent.id}`)).statusCode).toBe(404);
    expect((await admin('POST', `/v1/organizations/globex/agents/${agent.id}/suspend`, { reason: 'not yours' })).statusCode).toBe(404);
    const foreignClient = await admin('POST', '/v1/organizations/globex/clients', {
      client_name: 'Borrowed identity',
      client_type: 'confidential',
      grant_types: ['client_credentials'],
      scope: 'calendar.read',
      resources: [MCP],
      agent_id: agent.id,
    });
    expect(foreignClient.statusCode).toBe(400);
  });

  it('refuses a status change without a reason', async () => {
    expect((await admin('POST', `/v1/organizations/acme/agents/${agent.id}/suspend`, {})).statusCode).toBe(400);
  });

  it('reports agents whose owner is no longer active', async () => {
    const orphanOwner = (await admin('POST', '/v1/organizations/acme/members', { email: 'leaver@acme.test' })).json();
    const orphan = (
      await admin('POST', '/v1/organizations/acme/agents', {
        name: 'Orphan',
        purpose: 'x',
        owner_member_id: orphanOwner.id,
        environment: 'dev',
      })
    ).json();
    const report = async () =>
      (await admin('GET', '/v1/organizations/acme/reports/agents-with-inactive-owners')).json().data.map((a: { id: string }) => a.id);
    expect(await report()).not.toContain(orphan.id);
    await admin('PATCH', `/v1/organizations/acme/members/${orphanOwner.id}`, { status: 'suspended' });
    expect(await report()).toContain(orphan.id);
    expect(await report()).not.toContain(agent.id);
  });

  it('decommissions for good: credentials disabled, no way back, history kept', async () => {
    const res = await admin('POST', `/v1/organizations/acme/agents/${agent.id}/decommission`, { reason: 'replaced by v2' });
    expect(res.json().status).toBe('decommissioned');
    expect((await token()).json().error).toMatch(/invalid_client|unauthorized_client/);
    const client = (await admin('GET', `/v1/organizations/acme/clients/${agentClient.client_id}`)).json();
    expect(client.status).toBe('disabled');
    expect((await admin('POST', `/v1/organizations/acme/agents/${agent.id}/resume`, { reason: 'oops' })).statusCode).toBe(409);
    const history = await node.runtime.store.db.selectFrom('audit_events').select('kind').where('agent_id', '=', agent.id).execute();
    expect(history.map((e) => e.kind)).toContain('agent.created');
  });
});
