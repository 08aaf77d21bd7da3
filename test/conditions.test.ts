import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';

describe.each(dialects)('conditions as Cedar policy, after RBAC, on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let analyst: { id: string };

  const admin = async (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
    node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
  const check = async (environment: string, attributes: Record<string, unknown> = {}) =>
    (
      await admin('POST', '/v1/authz/check', {
        organization: 'dataco',
        member_id: analyst.id,
        tool: 'crm',
        action: 'export',
        context: { environment, classification: 'internal', attributes },
      })
    ).json();

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db);
    await admin('POST', '/v1/organizations', { slug: 'dataco', name: 'DataCo' });
    analyst = (await admin('POST', '/v1/organizations/dataco/members', { email: 'ana@dataco.test' })).json();
    const role = (
      await admin('POST', '/v1/organizations/dataco/roles', { name: 'Analyst', permissions: [{ tool: 'crm', action: 'export' }] })
    ).json();
    await admin('POST', `/v1/organizations/dataco/roles/${role.id}/bindings`, { member_id: analyst.id });
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it('changes nothing for an organization without policies', async () => {
    expect((await check('prod')).decision).toBe('allow');
    expect((await admin('GET', '/v1/organizations/dataco/policies')).statusCode).toBe(404);
  });

  it('refuses invalid policies with the parser’s message, and keeps the old version', async () => {
    const res = await admin('PUT', '/v1/organizations/dataco/policies', {
      policies: 'forbid(principal, action, resource) when { bad syntax',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error_description).toContain('invalid Cedar policies');
  });

  it('denies what a policy forbids, naming the policy, and versions every upload', async () => {
    const v1 = await admin('PUT', '/v1/organizations/dataco/policies', {
      policies:
        '@id("no-prod-exports")\nforbid(principal, action == Action::"crm:export", resource) when { context.environment == "prod" };',
    });
    expect(v1.json()).toMatchObject({ version: 1, policy_ids: ['no-prod-exports'] });
    expect(await check('prod')).toMatchObject({ decision: 'deny', reasons: ['forbidden by policy no-prod-exports'] });
    expect((await check('staging')).decision).toBe('allow');

    const v2 = await admin('PUT', '/v1/organizations/dataco/policies', {
      policies:
        '@id("bulk-export-limit")\nforbid(principal, action == Action::"crm:export", resource) when { context has rows && context.rows > 1000 };',
    });
    expect(v2.json().version).toBe(2);
    expect((await check('prod', { rows: 10 })).decision).toBe('allow');
    expect(await check('prod', { rows: 5000 })).toMatchObject({ decision: 'deny', reasons: ['forbidden by policy bulk-export-limit'] });
    expect((await admin('GET', '/v1/organizations/dataco/policies')).json()).toMatchObject({
      version: 2,
      policy_ids: ['bulk-export-limit'],
    });
  });

  it('never turns an RBAC deny into an allow', async () => {
    const res = await admin('POST', '/v1/authz/check', {
      organization: 'dataco',
      member_id: analyst.id,
      tool: 'crm',
      action: 'delete',
      context: { environment: 'staging', classification: 'internal' },
    });
    expect(res.json().decision).toBe('deny');
  });
});
