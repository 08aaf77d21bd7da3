import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { CODE_MCP, type CodeFlowFixture, createCodeFlowFixture, obtainUserTokens } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';
import { basic, form } from './support/oauth-fixtures.js';

describe.each(dialects)('roles and decisions on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let loginApp: CustomerLoginApp;
  let fx: CodeFlowFixture;
  let john: { id: string };
  let agent: { id: string };
  let agentClient: { client_id: string; client_secret: string };
  let agentRole: { id: string };

  const admin = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
    node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
  const check = async (body: object) => (await admin('POST', '/v1/authz/check', body)).json();
  const ctx = { environment: 'prod', classification: 'internal' };

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db);
    loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@xcorp.test', name: 'John' });
    fx = await createCodeFlowFixture(node, loginApp);
    john = (await admin('GET', '/v1/organizations/xcorp/members?email=john@xcorp.test')).json().data[0];
    agent = (
      await admin('POST', '/v1/organizations/xcorp/agents', {
        name: 'Support Agent',
        purpose: 'tickets',
        owner_member_id: john.id,
        environment: 'prod',
      })
    ).json();
    agentClient = (
      await admin('POST', '/v1/organizations/xcorp/clients', {
        client_name: 'Support Agent key',
        client_type: 'confidential',
        grant_types: ['client_credentials'],
        scope: 'calendar.read',
        resources: [CODE_MCP],
        agent_id: agent.id,
      })
    ).json();
    agentRole = (
      await admin('POST', '/v1/organizations/xcorp/roles', {
        name: 'Support Agent',
        permissions: [
          { tool: 'ticketing', action: 'read' },
          { tool: 'ticketing', action: 'write', environments: ['prod'], max_classification: 'confidential' },
          { tool: 'email', action: 'send', approval_required: true },
          { tool: 'calendar', action: 'read' },
        ],
      })
    ).json();
    const staff = (
      await admin('POST', '/v1/organizations/xcorp/roles', {
        name: 'Support staff',
        permissions: [
          { tool: 'ticketing', action: 'read' },
          { tool: 'ticketing', action: 'write' },
          { tool: 'email', action: 'send' },
          { tool: 'calendar', action: 'read' },
          { tool: 'calendar', action: 'write' },
        ],
      })
    ).json();
    expect((await admin('POST', `/v1/organizations/xcorp/roles/${agentRole.id}/bindings`, { agent_id: agent.id })).statusCode).toBe(204);
    expect((await admin('POST', `/v1/organizations/xcorp/roles/${staff.id}/bindings`, { member_id: john.id })).statusCode).toBe(204);
  });
  afterAll(async () => {
    await node?.shutdown();
    await loginApp?.close();
    await db?.dispose();
  });

  it('allows only what the user and the agent both may do, asks for approval where a role says so', async () => {
    const both = { organization: 'xcorp', member_id: john.id, agent_id: agent.id };
    expect((await check({ ...both, tool: 'ticketing', action: 'write', context: ctx })).decision).toBe('allow');
    const gated = await check({ ...both, tool: 'email', action: 'send', context: ctx });
    expect(gated.decision).toBe('approval_required');
    // The answer says how to get the approval: a CIBA request at Mandate for this tool and action.
    expect(gated.approval).toEqual({
      backchannel_authentication_endpoint: 'http://localhost:4000/oauth2/bc-authorize',
      grant_type: 'urn:openid:params:grant-type:ciba',
      tool: 'email',
      action: 'send',
    });
    const outside = await check({
      ...both,
      tool: 'ticketing',
      action: 'write',
      context: { environment: 'prod', classification: 'regulated' },
    });
    // Regulated data lies above the agent's registered ceiling (internal by default).
    expect(outside).toMatchObject({ decision: 'deny', reasons: [expect.stringContaining("agent's max_data_classification")] });
    const unknown = await check({ ...both, tool: 'payments', action: 'approve', context: ctx });
    expect(unknown.decision).toBe('deny');
    expect(unknown.reasons).toHaveLength(2);
  });

  it('decides from an agent’s own token: the agent’s roles, no user', async () => {
    const token = (
      await node.app.inject({
        method: 'POST',
        url: '/oauth2/token',
        payload: form({ grant_type: 'client_credentials', resource: CODE_MCP }),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: basic(agentClient.client_id, agentClient.client_secret),
        },
      })
    ).json().access_token;
    const res = await check({ token, tool: 'ticketing', action: 'read', context: ctx });
    expect(res).toMatchObject({ decision: 'allow', principal: { agent_id: agent.id, member_id: null } });
    expect((await check({ token, tool: 'calendar', action: 'write', context: ctx })).decision).toBe('deny');
  });

  it('bounds a delegated token by what the user consented to', async () => {
    const token = await obtainUserTokens(node, fx, { scope: 'calendar.read' });
    // Incremental consent may have granted more earlier; narrow to read for the test.
    const readOnly = (
      await node.app.inject({
        method: 'POST',
        url: '/oauth2/token',
        payload: form({
          grant_type: 'refresh_token',
          refresh_token: token.refresh_token,
          client_id: fx.publicClient,
          scope: 'calendar.read',
        }),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      })
    ).json().access_token;
    expect((await check({ token: readOnly, tool: 'calendar', action: 'read', context: ctx })).decision).toBe('allow');
    const write = await check({ token: readOnly, tool: 'calendar', action: 'write', context: ctx });
    expect(write).toMatchObject({ decision: 'deny', reasons: [expect.stringContaining('did not consent')] });
  });

  it('records every decision in the audit chain', async () => {
    const events = await node.runtime.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('kind', '=', 'decision')
      .where('tool', '=', 'email')
      .execute();
    expect(events.length).toBeGreaterThan(0);
    expect(JSON.parse(events[0]?.detail ?? '{}')).toMatchObject({ effect: 'approval_required' });
    expect(events[0]?.agent_id).toBe(agent.id);
  });

  it('refuses to bind a role to another organization’s agent', async () => {
    await admin('POST', '/v1/organizations', { slug: 'othercorp', name: 'Other' });
    const otherOwner = (await admin('POST', '/v1/organizations/othercorp/members', { email: 'o@other.test' })).json();
    const foreign = (
      await admin('POST', '/v1/organizations/othercorp/agents', {
        name: 'Foreign',
        purpose: 'x',
        owner_member_id: otherOwner.id,
        environment: 'dev',
      })
    ).json();
    const res = await admin('POST', `/v1/organizations/xcorp/roles/${agentRole.id}/bindings`, { agent_id: foreign.id });
    expect(res.statusCode).toBe(400);
  });

  it('denies a suspended agent, and a revoked role changes decisions at once', async () => {
    const both = { organization: 'xcorp', member_id: john.id, agent_id: agent.id };
    await admin('POST', `/v1/organizations/xcorp/agents/${agent.id}/suspend`, { reason: 'drill' });
    expect(await check({ ...both, tool: 'ticketing', action: 'read', context: ctx })).toMatchObject({
      decision: 'deny',
      reasons: ['the agent is not active'],
    });
    await admin('POST', `/v1/organizations/xcorp/agents/${agent.id}/resume`, { reason: 'drill over' });
    expect((await check({ ...both, tool: 'ticketing', action: 'read', context: ctx })).decision).toBe('allow');
    expect((await admin('DELETE', `/v1/organizations/xcorp/roles/${agentRole.id}/bindings/${agent.id}`)).statusCode).toBe(204);
    expect((await check({ ...both, tool: 'ticketing', action: 'read', context: ctx })).decision).toBe('deny');
  });

  it('keeps every decision inside the agent’s registry limits: allowed tools, classification ceiling, environment', async () => {
    const limited = (
      await admin('POST', '/v1/organizations/xcorp/agents', {
        name: 'Staging ticket bot',
        purpose: 'tickets in staging',
        owner_member_id: john.id,
        environment: 'staging',
        allowed_tools: ['ticketing'],
        max_data_classification: 'internal',
      })
    ).json();
    await admin('POST', `/v1/organizations/xcorp/roles/${agentRole.id}/bindings`, { agent_id: limited.id });
    const both = { organization: 'xcorp', member_id: john.id, agent_id: limited.id };
    const staging = { environment: 'staging', classification: 'internal' };
    expect((await check({ ...both, tool: 'ticketing', action: 'read', context: staging })).decision).toBe('allow');
    // Its roles allow calendar:read, its registry entry does not.
    expect(await check({ ...both, tool: 'calendar', action: 'read', context: staging })).toMatchObject({
      decision: 'deny',
      reasons: ["the tool calendar is not among the agent's allowed_tools"],
    });
    expect(
      await check({ ...both, tool: 'ticketing', action: 'read', context: { environment: 'staging', classification: 'confidential' } }),
    ).toMatchObject({ decision: 'deny', reasons: ["confidential data exceeds the agent's max_data_classification (internal)"] });
    expect(
      await check({ ...both, tool: 'ticketing', action: 'read', context: { environment: 'prod', classification: 'internal' } }),
    ).toMatchObject({ decision: 'deny', reasons: ['the agent is registered for staging, not prod'] });
    // The agent's own token is held to the same limits.
    const unknownAgent = await check({
      ...both,
      agent_id: 'agt_00000000000000000000000000',
      tool: 'ticketing',
      action: 'read',
      context: staging,
    });
    expect(unknownAgent.decision).toBe('deny');
    // Narrowing the registry entry applies to the next decision.
    await admin('PATCH', `/v1/organizations/xcorp/agents/${limited.id}`, { allowed_tools: ['email'] });
    expect((await check({ ...both, tool: 'ticketing', action: 'read', context: staging })).decision).toBe('deny');
  });

  it('denies a suspended, invited or deleted member, and deleting a member removes their role bindings', async () => {
    const reader = (
      await admin('POST', '/v1/organizations/xcorp/roles', { name: 'Ticket reader', permissions: [{ tool: 'ticketing', action: 'read' }] })
    ).json();
    const mary = (await admin('POST', '/v1/organizations/xcorp/members', { email: 'mary@xcorp.test' })).json();
    await admin('POST', `/v1/organizations/xcorp/roles/${reader.id}/bindings`, { member_id: mary.id });
    const asMary = { organization: 'xcorp', member_id: mary.id, tool: 'ticketing', action: 'read', context: ctx };
    expect((await check(asMary)).decision).toBe('allow');
    await admin('PATCH', `/v1/organizations/xcorp/members/${mary.id}`, { status: 'suspended' });
    expect(await check(asMary)).toMatchObject({ decision: 'deny', reasons: ['the member is not active'] });
    await admin('PATCH', `/v1/organizations/xcorp/members/${mary.id}`, { status: 'active' });
    expect((await check(asMary)).decision).toBe('allow');
    expect((await admin('DELETE', `/v1/organizations/xcorp/members/${mary.id}`)).statusCode).toBe(204);
    expect(await check(asMary)).toMatchObject({ decision: 'deny', reasons: ['the member is not active'] });
    const bindings = await node.runtime.store.db
      .selectFrom('role_bindings')
      .select('role_id')
      .where('principal_id', '=', mary.id)
      .execute();
    expect(bindings).toEqual([]);

    const invited = (await admin('POST', '/v1/organizations/xcorp/members', { email: 'ivy@xcorp.test', status: 'invited' })).json();
    await admin('POST', `/v1/organizations/xcorp/roles/${reader.id}/bindings`, { member_id: invited.id });
    expect((await check({ ...asMary, member_id: invited.id })).decision).toBe('deny');
  });

  it('answers a batch of checks in order', async () => {
    const both = { organization: 'xcorp', member_id: john.id };
    const res = await admin('POST', '/v1/authz/check/batch', {
      checks: [
        { ...both, tool: 'ticketing', action: 'read', context: ctx },
        { ...both, tool: 'payments', action: 'approve', context: ctx },
      ],
    });
    expect(res.json().results.map((r: { decision: string }) => r.decision)).toEqual(['allow', 'deny']);
  });

  it('carries a permission’s constraints into the decision', async () => {
    const limited = (
      await admin('POST', '/v1/organizations/xcorp/roles', {
        name: 'Billing reader',
        permissions: [{ tool: 'crm', action: 'read', constraints: { fields: 'billing' } }],
      })
    ).json();
    await admin('POST', `/v1/organizations/xcorp/roles/${limited.id}/bindings`, { member_id: john.id });
    const res = await check({ organization: 'xcorp', member_id: john.id, tool: 'crm', action: 'read', context: ctx });
    expect(res).toMatchObject({
      decision: 'allow',
      matched: { user: { tool: 'crm', action: 'read', constraints: { fields: 'billing' } } },
    });
  });

  it('refuses a check that names no principal', async () => {
    const res = await admin('POST', '/v1/authz/check', { tool: 'crm', action: 'read', context: ctx });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_request');
  });
});
