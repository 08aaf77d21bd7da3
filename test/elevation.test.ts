import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { FrozenClock } from './support/clock.js';
import { createCodeFlowFixture } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';

describe.each(dialects)('time-bound elevation with separation of duties on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let loginApp: CustomerLoginApp;
  const clock = new FrozenClock(Date.now());
  const sessions: Record<string, { token: string; member: string }> = {};

  const admin = async (method: 'GET' | 'POST', url: string, payload?: object) => {
    const res = await node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
    return res.body ? res.json() : undefined;
  };
  const as = (who: string, method: 'GET' | 'POST', url: string, payload?: object) =>
    node.app.inject({ method, url, headers: { authorization: `Bearer ${sessions[who]?.token}` }, ...(payload && { payload }) });
  const decision = async (who: string) =>
    (
      await admin('POST', '/v1/authz/check', {
        organization: 'xcorp',
        member_id: sessions[who]?.member,
        tool: 'payments',
        action: 'write',
        context: { environment: 'prod', classification: 'internal' },
      })
    ).decision;

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db, { clock });
    loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@xcorp.test', name: 'John' });
    await createCodeFlowFixture(node, loginApp);
    for (const name of ['john', 'mary', 'bob']) {
      const res = await node.app.inject({
        method: 'POST',
        url: '/v1/sessions/attest',
        payload: { organization: 'xcorp', token: await loginApp.mint({ sub: name, email: `${name}@xcorp.test`, name }) },
      });
      sessions[name] = { token: res.json().session_token, member: res.json().member.id };
    }
    const approver = await admin('POST', '/v1/organizations/xcorp/roles', {
      name: 'Payments approver',
      permissions: [{ tool: 'payments', action: 'approve' }],
    });
    await admin('POST', `/v1/organizations/xcorp/roles/${approver.id}/bindings`, { member_id: sessions.mary?.member });
  });
  afterAll(async () => {
    await node?.shutdown();
    await loginApp?.close();
    await db?.dispose();
  });

  it('grants the permission only once someone else who may approve does, and takes it back on time', async () => {
    const asked = await as('john', 'POST', '/v1/elevations', {
      tool: 'payments',
      action: 'write',
      justification: 'fix a vendor IBAN typo, ticket 4411',
      duration_minutes: 30,
    });
    expect(asked.statusCode).toBe(201);
    const id = asked.json().id;
    expect(await decision('john')).toBe('deny');

    const own = await as('john', 'POST', `/v1/elevations/${id}/approve`);
    expect(own.statusCode).toBe(403);
    expect(own.json().error_description).toContain('own elevation');
    const unqualified = await as('bob', 'POST', `/v1/elevations/${id}/approve`);
    expect(unqualified.statusCode).toBe(403);
    expect(unqualified.json().error_description).toContain('payments:approve');
    const refusals = await node.runtime.store.db
      .selectFrom('audit_events')
      .select('kind')
      .where('kind', '=', 'elevation.refused')
      .execute();
    expect(refusals).toHaveLength(2);
    expect(await decision('john')).toBe('deny');

    const approved = await as('mary', 'POST', `/v1/elevations/${id}/approve`);
    expect(approved.json()).toMatchObject({ status: 'approved', decided_by: sessions.mary?.member });
    expect(await decision('john')).toBe('allow');

    clock.advance(29 * 60);
    expect(await decision('john')).toBe('allow');
    clock.advance(2 * 60);
    expect(await decision('john')).toBe('deny');
  });

  it('lets only an agent’s owner ask for the agent', async () => {
    const agent = await admin('POST', '/v1/organizations/xcorp/agents', {
      name: 'Payer',
      purpose: 'pays',
      owner_member_id: sessions.john?.member,
      environment: 'prod',
    });
    const byOther = await as('bob', 'POST', '/v1/elevations', {
      agent_id: agent.id,
      tool: 'payments',
      action: 'write',
      justification: 'not my agent at all',
      duration_minutes: 5,
    });
    expect(byOther.statusCode).toBe(403);
    const byOwner = await as('john', 'POST', '/v1/elevations', {
      agent_id: agent.id,
      tool: 'payments',
      action: 'write',
      justification: 'month-end payment run',
      duration_minutes: 5,
    });
    expect(byOwner.json()).toMatchObject({ principal_type: 'agent', principal_id: agent.id, status: 'pending' });
  });

  it('refuses an elevation longer than the maximum', async () => {
    const res = await as('john', 'POST', '/v1/elevations', {
      tool: 'payments',
      action: 'write',
      justification: 'a very long window',
      duration_minutes: 10_000,
    });
    expect(res.statusCode).toBe(400);
  });
});
