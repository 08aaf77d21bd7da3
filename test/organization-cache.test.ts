/**
 * The decision point resolves its organization through a per-node cache
 * (tenancy/organizations.ts `resolve`): a renamed or deleted organization must stop answering to
 * its old name at once on the node that changed it and within 1 s on every other node, and a new
 * one must answer at once everywhere, however warm the caches are (docs/architecture.md §7).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';
import { within } from './support/within.js';

describe.each(dialects)('decisions through the organization cache on %s', (dialect) => {
  let db: TestDatabase;
  let a: MandateNode;
  let b: MandateNode;

  const admin = (node: MandateNode, method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
    node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
  /** A check for a member of `org` (the member id need not exist: the organization is resolved first). */
  const check = async (node: MandateNode, org: string) =>
    node.app.inject({
      method: 'POST',
      url: '/v1/authz/check',
      headers: adminHeaders,
      payload: {
        organization: org,
        member_id: 'mbr_01h00000000000000000000000',
        tool: 'crm',
        action: 'read',
        context: { environment: 'prod', classification: 'internal' },
      },
    });
  const known = async (node: MandateNode, org: string) => (await check(node, org)).statusCode !== 404;

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    a = await startTestNode(db);
    b = await startTestNode(db);
  });
  afterAll(async () => {
    await a?.shutdown();
    await b?.shutdown();
    await db?.dispose();
  });

  it('answers 404 for an unknown organization, then knows it on every node as soon as it is created', async () => {
    for (const node of [a, b]) expect((await check(node, 'initech')).statusCode).toBe(404);
    expect((await admin(a, 'POST', '/v1/organizations', { slug: 'initech', name: 'Initech' })).statusCode).toBe(201);
    expect(await known(a, 'initech')).toBe(true);
    expect(await within(1000, () => known(b, 'initech'))).toBeLessThanOrEqual(1000);
  });

  it('stops answering to an old slug after a rename, and to the organization after its deletion', async () => {
    expect((await admin(a, 'POST', '/v1/organizations', { slug: 'hooli', name: 'Hooli' })).statusCode).toBe(201);
    for (const node of [a, b]) expect(await known(node, 'hooli')).toBe(true);
    expect((await admin(a, 'PATCH', '/v1/organizations/hooli', { slug: 'hooli-xyz' })).statusCode).toBe(200);
    expect(await known(a, 'hooli')).toBe(false);
    expect(await within(1000, async () => !(await known(b, 'hooli')))).toBeLessThanOrEqual(1000);
    for (const node of [a, b]) expect(await known(node, 'hooli-xyz')).toBe(true);
    expect((await admin(b, 'DELETE', '/v1/organizations/hooli-xyz')).statusCode).toBe(204);
    expect(await known(b, 'hooli-xyz')).toBe(false);
    expect(await within(1000, async () => !(await known(a, 'hooli-xyz')))).toBeLessThanOrEqual(1000);
  });
});
