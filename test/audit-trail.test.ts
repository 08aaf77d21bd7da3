import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { FrozenClock } from './support/clock.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';

describe.each(dialects)('audit trail on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  const clock = new FrozenClock(Date.parse('2026-11-17T09:00:00.000Z'));
  let orgId: string;

  const post = (url: string, payload: object, headers: Record<string, string> = {}) =>
    node.app.inject({ method: 'POST', url, payload, headers: { ...adminHeaders, ...headers } });
  const events = async (query: string) =>
    (await node.app.inject({ method: 'GET', url: `/v1/audit/events${query}`, headers: adminHeaders })).json();

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db, { clock });
    orgId = (await post('/v1/organizations', { slug: 'xcorp', name: 'XCorp' }, { 'x-correlation-id': 'run-42' })).json().id;
    for (let i = 0; i < 5; i++) {
      clock.advance(3600);
      await post('/v1/organizations/xcorp/members', { email: `user${i}@xcorp.test` });
    }
    await post('/v1/organizations', { slug: 'other', name: 'Other' });
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it('chains each organization from seq 1 and verifies clean', async () => {
    const reports = await node.auditVerifier.verify();
    expect(reports.every((r) => r.ok)).toBe(true);
    expect(reports.find((r) => r.chainId === orgId)).toMatchObject({ ok: true, chainId: orgId, events: 6 });
  });

  it('filters by organization, kind and time range, and pages with a cursor', async () => {
    const all = await events(`?org=xcorp`);
    expect(all.data).toHaveLength(6);
    expect(all.data.map((e: { seq: number }) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(all.data[0]).toMatchObject({ kind: 'organization.created', correlation_id: 'run-42', org_id: orgId, result: 'success' });
    expect(all.data[0].detail).toEqual({ name: 'XCorp', slug: 'xcorp' });

    const members = await events(`?org=${orgId}&kind=member.created`);
    expect(members.data).toHaveLength(5);

    const window = await events(`?org=xcorp&since=2026-11-17T10:30:00Z&until=2026-11-17T12:30:00Z`);
    expect(window.data.map((e: { at: string }) => e.at)).toEqual(['2026-11-17T11:00:00.000Z', '2026-11-17T12:00:00.000Z']);

    const first = await events(`?org=xcorp&limit=4`);
    const second = await events(`?org=xcorp&limit=4&cursor=${first.next_cursor}`);
    expect([...first.data, ...second.data].map((e: { seq: number }) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(second.next_cursor).toBeNull();
  });

  it('refuses a malformed filter', async () => {
    expect((await events('?since=yesterday')).error).toBe('invalid_request');
    expect((await events('?kind=DROP TABLE')).error).toBe('invalid_request');
  });

  it('reports the exact sequence number of an event edited with SQL', async () => {
    await sql`update audit_events set detail = ${'{"email":"mallory@xcorp.test"}'} where chain_id = ${orgId} and seq = 4`.execute(
      node.runtime.store.db,
    );
    const [report] = await node.auditVerifier.verify(orgId);
    expect(report).toMatchObject({ ok: false, seq: 4, problem: 'altered' });
    // The other organization's chain is unaffected.
    const reports = await node.auditVerifier.verify();
    expect(reports.filter((r) => !r.ok).map((r) => r.chainId)).toEqual([orgId]);
  });

  it('reports a deleted event and a truncated chain', async () => {
    const other = (await events('?org=other')).data[0].org_id as string;
    await post('/v1/organizations/other/members', { email: 'a@other.test' });
    await post('/v1/organizations/other/members', { email: 'b@other.test' });
    await post('/v1/organizations/other/members', { email: 'c@other.test' });

    await sql`delete from audit_events where chain_id = ${other} and seq = 4`.execute(node.runtime.store.db);
    expect((await node.auditVerifier.verify(other))[0]).toMatchObject({ ok: false, seq: 4, problem: 'truncated' });

    await sql`delete from audit_events where chain_id = ${other} and seq = 2`.execute(node.runtime.store.db);
    expect((await node.auditVerifier.verify(other))[0]).toMatchObject({ ok: false, seq: 2, problem: 'missing' });
  });
});
