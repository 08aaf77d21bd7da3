import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { JSONWebKeySet } from 'jose';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyExportFile } from '../src/audit/verify.js';
import type { MandateNode } from '../src/node.js';
import { runCli } from './support/cli.js';
import { FrozenClock } from './support/clock.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';

const DAY = 86_400;

describe.each(dialects)('audit retention on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  // Long before the real date, so the CLI (on the system clock) finds everything old.
  const clock = new FrozenClock(Date.parse('2024-01-01T00:00:00.000Z'));
  let jwks: JSONWebKeySet;
  let shortId: string;
  let keepId: string;

  const call = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
    node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
  const addMembers = async (org: string, n: number) => {
    for (let i = 0; i < n; i++) {
      const res = await call('POST', `/v1/organizations/${org}/members`, { email: `m${Math.random().toString(36).slice(2)}@${org}.test` });
      expect(res.statusCode).toBe(201);
    }
  };
  const seqs = async (org: string) =>
    (await call('GET', `/v1/audit/events?org=${org}&limit=200`)).json().data.map((e: { seq: number; kind: string }) => e.seq);
  const archiveOf = (chainId: string, name: string) => path.join(db.dataDir, 'audit-archive', chainId, name);
  const verify = async (chainId: string) => (await node.auditVerifier.verify(chainId))[0];

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db, { clock, config: { auditCheckpointIntervalSeconds: 3600, devAllowLoopbackFetch: true } });
    jwks = (await node.app.inject({ method: 'GET', url: '/oauth2/jwks' })).json();
    shortId = (await call('POST', '/v1/organizations', { slug: 'short', name: 'Short', settings: { audit_retention_days: 30 } })).json().id;
    keepId = (await call('POST', '/v1/organizations', { slug: 'keep', name: 'Keep' })).json().id;
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it.each([0, 36_501, 1.5, '30'])('refuses audit_retention_days %j', async (days) => {
    const res = await call('PATCH', '/v1/organizations/keep', { settings: { audit_retention_days: days } });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('invalid_request');
  });

  it('archives and prunes events older than the retention, leaving a chain that verifies from its base', async () => {
    await addMembers('short', 3); // seq 2-4, day 0
    await addMembers('keep', 3);
    await node.auditMaintenance.runOnce(); // signs 4
    clock.advance(10 * DAY);
    await addMembers('short', 2); // 5-6, day 10
    await node.auditMaintenance.runOnce(); // signs 6
    clock.advance(10 * DAY);
    await addMembers('short', 2); // 7-8, day 20, not signed
    await addMembers('keep', 2);
    const keepBefore = await seqs('keep');

    clock.advance(25 * DAY); // day 45: cutoff day 15; 1-6 are older, 6 is the newest signed
    const report = await node.auditMaintenance.runOnce();
    expect(report.retention).toEqual({
      pruned: [{ chainId: shortId, from: 1, to: 6, archive: archiveOf(shortId, '1-6.jsonl') }],
      failed: [],
    });

    expect(await seqs('short')).toEqual([7, 8, 9]);
    const pruned = (await call('GET', '/v1/audit/events?org=short&kind=audit.pruned')).json().data;
    expect(pruned).toHaveLength(1);
    expect(pruned[0].detail).toMatchObject({
      from: 1,
      to: 6,
      archive: '1-6.jsonl',
      archive_sha256: createHash('sha256')
        .update(fs.readFileSync(archiveOf(shortId, '1-6.jsonl')))
        .digest('hex'),
    });
    expect(await verify(shortId)).toMatchObject({ ok: true, events: 3, baseSeq: 6 });
    expect(await verifyExportFile(archiveOf(shortId, '1-6.jsonl'), jwks)).toMatchObject({ ok: true, events: 6, signedThrough: 6 });

    // An organization without retention keeps everything.
    expect(await seqs('keep')).toEqual(keepBefore);
    expect(await verify(keepId)).toMatchObject({ ok: true, events: keepBefore.length });
    expect(fs.existsSync(path.join(db.dataDir, 'audit-archive', keepId))).toBe(false);
  });

  it('signs a checkpoint to prune to when none is old enough, and the next archive starts from the last base', async () => {
    clock.advance(30 * DAY); // day 75: cutoff day 45; 7-8 are older, only 9 is signed
    const report = await node.auditMaintenance.runOnce();
    expect(report.retention.pruned).toEqual([{ chainId: shortId, from: 7, to: 8, archive: archiveOf(shortId, '7-8.jsonl') }]);
    expect(await verifyExportFile(archiveOf(shortId, '7-8.jsonl'), jwks)).toEqual({
      ok: true,
      chainId: shortId,
      events: 2,
      baseSeq: 6,
      checkpoints: 2,
      signedThrough: 8,
      segment: true,
    });
    expect(await verify(shortId)).toMatchObject({ ok: true, baseSeq: 8 });
    expect(await seqs('short')).toEqual([9, 10]);
  });

  it('refuses a base with no checkpoint behind it', async () => {
    await sql`delete from audit_checkpoints where chain_id = ${shortId} and seq = 8`.execute(node.runtime.store.db);
    expect(await verify(shortId)).toMatchObject({ ok: false, seq: 8, problem: 'unanchored_base' });
    await node.auditCheckpoints.sign(shortId, 8, (await node.auditEvents.head(shortId))?.base_hash as string);
    expect((await verify(shortId))?.ok).toBe(true);
  });

  it('refuses a base moved past the one the newest audit.pruned event records, in the database and in an export', async () => {
    const id = (await call('POST', '/v1/organizations', { slug: 'moved', name: 'Moved' })).json().id;
    await addMembers('moved', 3); // 2-4
    await node.auditCheckpoints.signHead(id);
    clock.advance(2 * DAY);
    await addMembers('moved', 2); // 5-6
    const pruned = await node.auditRetention.prune(id, 1); // the audit.pruned event is 7
    expect(pruned && [pruned.from, pruned.to]).toEqual([1, 4]);
    expect(await verify(id)).toMatchObject({ ok: true, baseSeq: 4 });
    const exported = path.join(db.dataDir, 'moved.jsonl');
    fs.writeFileSync(exported, (await call('GET', '/v1/audit/export?org=moved')).body);
    expect(await verifyExportFile(exported, jwks)).toEqual({
      ok: true,
      chainId: id,
      events: 3,
      baseSeq: 4,
      checkpoints: 2,
      signedThrough: 7,
    });

    const store = node.runtime.store.db;
    const hashOf = async (seq: number) =>
      (await store.selectFrom('audit_events').select('hash').where('chain_id', '=', id).where('seq', '=', seq).executeTakeFirstOrThrow())
        .hash;
    const moveBase = async (seq: number) => {
      const hash = await hashOf(seq);
      await node.auditCheckpoints.sign(id, seq, hash);
      await sql`delete from audit_events where chain_id = ${id} and seq <= ${seq}`.execute(store);
      await sql`update audit_chain_heads set base_seq = ${seq}, base_hash = ${hash} where chain_id = ${id}`.execute(store);
    };
    // Events 5-6 deleted onto a checkpoint of 6: the audit.pruned event left says 4.
    await moveBase(6);
    expect(await verify(id)).toMatchObject({ ok: false, seq: 6, problem: 'unanchored_base' });
    // The audit.pruned event itself deleted too.
    await moveBase(7);
    expect(await verify(id)).toMatchObject({ ok: false, seq: 7, problem: 'unanchored_base' });
    // An export of the moved chain fails offline the same way.
    const moved = path.join(db.dataDir, 'moved-base.jsonl');
    fs.writeFileSync(moved, (await call('GET', '/v1/audit/export?org=moved')).body);
    expect(await verifyExportFile(moved, jwks)).toMatchObject({ ok: false, seq: 7, problem: 'unanchored_base' });
  });

  it('keeps a range that does not verify instead of deleting the evidence', async () => {
    const { id } = (
      await call('POST', '/v1/organizations', { slug: 'broken', name: 'Broken', settings: { audit_retention_days: 1 } })
    ).json();
    await addMembers('broken', 3);
    await sql`update audit_events set detail = ${'{}'} where chain_id = ${id} and seq = 2`.execute(node.runtime.store.db);
    clock.advance(2 * DAY);
    const report = await node.auditMaintenance.runOnce();
    expect(report.retention.failed.map((f) => f.chainId)).toEqual([id]);
    // The healthy chain beside it is pruned as usual (event 9 is now past its 30 days).
    expect(report.retention.pruned.map((p) => [p.chainId, p.from, p.to])).toEqual([[shortId, 9, 9]]);
    expect(String(report.retention.failed[0]?.error)).toContain('altered at seq 2');
    expect(await seqs('broken')).toEqual([1, 2, 3, 4]);
    expect(fs.readdirSync(path.join(db.dataDir, 'audit-archive', id))).toEqual([]);
    await call('PATCH', '/v1/organizations/broken', { settings: null });
  });

  it('keeps events a webhook sink has not acknowledged yet', async () => {
    const id = (await call('POST', '/v1/organizations', { slug: 'siem', name: 'Siem', settings: { audit_retention_days: 30 } })).json().id;
    await addMembers('siem', 4); // seq 2-5
    const sink = await call('POST', '/v1/organizations/siem/audit/sinks', { url: 'http://127.0.0.1:9/mandate' });
    expect(sink.statusCode).toBe(201);
    await node.auditMaintenance.runOnce();
    clock.advance(40 * DAY);
    expect(await node.auditRetention.prune(id, 30)).toBeUndefined();
    // Nothing listens there, so nothing is delivered; now the receiver acknowledges through seq 3: only what it has may go.
    await node.runtime.store.db.updateTable('audit_sinks').set({ delivered_seq: 3 }).where('chain_id', '=', id).execute();
    const pruned = await node.auditRetention.prune(id, 30);
    expect(pruned && [pruned.from, pruned.to]).toEqual([1, 3]);
    expect((await seqs('siem')).slice(0, 3)).toEqual([4, 5, 6]);
    await call('PATCH', '/v1/organizations/siem', { settings: null });
  });

  it('keeps events of a dead-lettered batch, which delivered_seq moved past, until the dead letter is cleared', async () => {
    const id = (await call('POST', '/v1/organizations', { slug: 'dead', name: 'Dead' })).json().id;
    await addMembers('dead', 5); // seq 2-6
    const sink = await call('POST', '/v1/organizations/dead/audit/sinks', { url: 'http://127.0.0.1:9/mandate' });
    expect(sink.statusCode).toBe(201);
    clock.advance(40 * DAY);
    const store = node.runtime.store.db;
    const head = (await node.auditEvents.head(id))?.seq as number;
    // The sink gave up on events 3-4 and moved past them, then was disabled: everything counts as delivered but 3-4.
    const { id: sinkId } = await store.selectFrom('audit_sinks').select('id').where('chain_id', '=', id).executeTakeFirstOrThrow();
    await store.updateTable('audit_sinks').set({ delivered_seq: head, status: 'disabled' }).where('id', '=', sinkId).execute();
    await store
      .insertInto('audit_sink_dead_letters')
      .values({ sink_id: sinkId, from_seq: 3, to_seq: 4, attempts: 8, error: 'HTTP 500', at: new Date(clock.now()).toISOString() })
      .execute();
    const first = await node.auditRetention.prune(id, 30);
    expect(first && [first.from, first.to]).toEqual([1, 2]);
    expect(await node.auditRetention.prune(id, 30)).toBeUndefined();

    await store.deleteFrom('audit_sink_dead_letters').where('sink_id', '=', sinkId).execute();
    const second = await node.auditRetention.prune(id, 30);
    expect(second && [second.from, second.to]).toEqual([3, head]);
    expect(await verify(id)).toMatchObject({ ok: true, baseSeq: head });
  });

  it('prunes from the CLI, and the CLI verifies the database and the archive', async () => {
    const env = {
      MANDATE_DATA_DIR: db.dataDir,
      MANDATE_MASTER_KEY: db.masterKey.toString('base64'),
      ...(db.databaseUrl && { MANDATE_DATABASE_URL: db.databaseUrl }),
    };
    const run = runCli(['audit', 'prune', '--org', 'short', '--json'], env);
    expect(run.status, run.stderr).toBe(0);
    const { pruned } = JSON.parse(run.stdout);
    expect(pruned).toEqual([{ chainId: shortId, from: 10, to: 11, archive: archiveOf(shortId, '10-11.jsonl') }]);
    expect(runCli(['audit', 'verify', '--org', 'short'], env).stdout).toMatch(/^ok +org_\w+: 1 events after pruned 11/);

    const jwksFile = path.join(db.dataDir, 'jwks.json');
    fs.writeFileSync(jwksFile, JSON.stringify(jwks));
    const offline = runCli(['audit', 'verify', '--file', archiveOf(shortId, '10-11.jsonl'), '--jwks', jwksFile], {});
    expect(offline.status, offline.stderr).toBe(0);
    expect(runCli(['audit', 'prune', '--org', 'keep'], env).stdout).toBe('nothing to prune\n');
  });
});
