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
  const decision = async (who: string, action = 'write', environment = 'prod', classification = 'internal') =>
    (
      await admin('POST', '/v1/authz/check', {
        organization: 'xcorp',
        member_id: sessions[who]?.member,
        tool: 'payments',
        action,
        context: { environment, classification },
      })
    ).decision;
  const ask = async (who: string, body: object) => {
    const res = await as(who, 'POST', '/v1/elevations', {
      tool: 'payments',
      justification: 'month-end payment run',
      duration_minutes: 30,
      ...body,
    });
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  };
  const listed = async (who: string) => ((await as(who, 'GET', '/v1/elevations')).json().data as { id: string }[]).map((e) => e.id);

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db, { clock });
    // Catch up with real time: the login app signs with it, and a slow start would put its tokens in the future.
    clock.advance((Date.now() - clock.now()) / 1000);
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

  it('grants an elevation only within the environments and classification it was approved for', async () => {
    const asked = await ask('john', { action: 'refund', environments: ['prod'], max_classification: 'internal' });
    expect(asked).toMatchObject({ environments: ['prod'], max_classification: 'internal' });
    // The approver sees the bounds before deciding.
    const seen = ((await as('mary', 'GET', '/v1/elevations')).json().data as { id: string }[]).find((e) => e.id === asked.id);
    expect(seen).toMatchObject({ action: 'refund', environments: ['prod'], max_classification: 'internal' });
    expect((await as('mary', 'GET', `/v1/elevations/${asked.id}`)).json()).toMatchObject({ environments: ['prod'] });
    expect((await as('mary', 'POST', `/v1/elevations/${asked.id}/approve`)).json()).toMatchObject({
      status: 'approved',
      environments: ['prod'],
      max_classification: 'internal',
    });
    expect(await decision('john', 'refund', 'prod', 'internal')).toBe('allow');
    expect(await decision('john', 'refund', 'prod', 'public')).toBe('allow');
    expect(await decision('john', 'refund', 'staging', 'internal')).toBe('deny');
    expect(await decision('john', 'refund', 'dev', 'public')).toBe('deny');
    expect(await decision('john', 'refund', 'prod', 'confidential')).toBe('deny');
    expect(await decision('john', 'refund', 'prod', 'regulated')).toBe('deny');
  });

  it('bounds an agent’s elevation by the agent’s registration unless asked narrower, and refuses wider', async () => {
    const agent = await admin('POST', '/v1/organizations/xcorp/agents', {
      name: 'Staging payer',
      purpose: 'pays in staging',
      owner_member_id: sessions.john?.member,
      environment: 'staging',
    });
    const unbounded = await ask('john', { agent_id: agent.id, action: 'void' });
    expect(unbounded).toMatchObject({ environments: ['staging'], max_classification: 'internal' });
    const narrower = await ask('john', { agent_id: agent.id, action: 'void', max_classification: 'public' });
    expect(narrower).toMatchObject({ environments: ['staging'], max_classification: 'public' });
    for (const wider of [{ environments: ['prod'] }, { max_classification: 'confidential' }]) {
      const res = await as('john', 'POST', '/v1/elevations', {
        agent_id: agent.id,
        tool: 'payments',
        action: 'void',
        justification: 'month-end payment run',
        duration_minutes: 30,
        ...wider,
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'invalid_request' });
    }
    await as('mary', 'POST', `/v1/elevations/${unbounded.id}/approve`);
    const check = (environment: string, classification: string) =>
      admin('POST', '/v1/authz/check', {
        organization: 'xcorp',
        agent_id: agent.id,
        tool: 'payments',
        action: 'void',
        context: { environment, classification },
      });
    expect((await check('staging', 'internal')).decision).toBe('allow');
    expect((await check('prod', 'internal')).decision).toBe('deny');
    expect((await check('staging', 'confidential')).decision).toBe('deny');
  });

  it('shows a pending elevation only to its requester and to those who may approve it', async () => {
    const johns = await ask('john', { action: 'export' });
    const bobs = await ask('bob', { action: 'export' });
    expect(await listed('john')).toContain(johns.id);
    expect(await listed('john')).not.toContain(bobs.id);
    expect(await listed('mary')).toEqual(expect.arrayContaining([johns.id, bobs.id]));
    const others = await listed('bob');
    expect(others).toContain(bobs.id);
    expect(others).not.toContain(johns.id);
    const byId = await as('bob', 'GET', `/v1/elevations/${johns.id}`);
    expect(byId.statusCode).toBe(404);
    expect(byId.json()).toMatchObject({ error: 'not_found' });
    expect((await as('bob', 'GET', '/v1/elevations/elv_00000000000000000000000000')).statusCode).toBe(404);
    expect((await as('john', 'GET', `/v1/elevations/${johns.id}`)).json()).toMatchObject({ id: johns.id, status: 'pending' });
    expect((await as('mary', 'GET', `/v1/elevations/${johns.id}`)).json()).toMatchObject({
      id: johns.id,
      requested_by: sessions.john?.member,
    });
  });

  it('refuses an elevation longer than the maximum', async () => {
    const res = await as('john', 'POST', '/v1/elevations', {
      tool: 'payments',
      action: 'write',
      justification: 'a very long window',
      duration_minutes: 10_000,
    });
    expect(res.statusCode).toBe(400);
    const before = await node.runtime.store.db.selectFrom('elevations').select('id').execute();
    for (const bounds of [
      { environments: [] },
      { environments: ['moon'] },
      { environments: ['prod', 'prod'] },
      { max_classification: 'secret' },
    ]) {
      const bad = await as('john', 'POST', '/v1/elevations', {
        tool: 'payments',
        action: 'write',
        justification: 'badly bounded request',
        duration_minutes: 5,
        ...bounds,
      });
      expect(bad.statusCode, JSON.stringify(bounds)).toBe(400);
      expect(bad.json()).toMatchObject({ error: 'invalid_request' });
    }
    expect(await node.runtime.store.db.selectFrom('elevations').select('id').execute()).toEqual(before);
  });
});
