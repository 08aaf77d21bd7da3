import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openStore, type Store } from './store.js';
import { inTransaction } from './transaction.js';

/**
 * SQLite writes are acknowledged only once the WAL is on disk (docs/architecture.md §7): the
 * fsync runs on the thread pool, so here it is slowed down to see who waits for it.
 */
describe('durable SQLite writes (store/wal-sync.ts)', () => {
  let dir: string;
  let store: Store;
  /** Each fdatasync of the WAL: when it was called and when its callback ran. */
  let syncs: { started: number; done?: number }[];
  let seq: number;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mandate-wal-'));
    store = openStore({ sqliteFile: path.join(dir, 'test.db') });
    await sql`create table t (v text)`.execute(store.db);
    syncs = [];
    seq = 0;
    const real = fs.fdatasync;
    vi.spyOn(fs, 'fdatasync').mockImplementation(((fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
      const sync: { started: number; done?: number } = { started: ++seq };
      syncs.push(sync);
      setTimeout(
        () =>
          real(fd, (error) => {
            sync.done = ++seq;
            callback(error);
          }),
        50,
      );
    }) as typeof fs.fdatasync);
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs with synchronous = NORMAL, leaving the fsync to the write path', async () => {
    const { rows } = await sql<{ synchronous: number }>`pragma synchronous`.execute(store.db);
    expect(rows[0]?.synchronous).toBe(1);
  });

  it('answers a committed transaction only after an fsync of the WAL that started after the commit', async () => {
    let answered = 0;
    await inTransaction(store, async (trx) => {
      await sql`insert into t (v) values ('a')`.execute(trx);
    }).then(() => {
      answered = ++seq;
    });
    expect(syncs).toHaveLength(1);
    expect(syncs[0]?.done).toBeLessThan(answered);
    const { rows } = await sql<{ v: string }>`select v from t`.execute(store.db);
    expect(rows).toEqual([{ v: 'a' }]);
  });

  it('makes a single statement outside a transaction wait too, and a read wait for nothing', async () => {
    await sql`insert into t (v) values ('b')`.execute(store.db);
    expect(syncs.map((s) => s.done !== undefined)).toEqual([true]);
    await sql`select v from t`.execute(store.db);
    expect(syncs).toHaveLength(1);
  });

  it('shares fsyncs between concurrent writes, none answered before an fsync has completed', async () => {
    const answeredAt: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        inTransaction(store, async (trx) => {
          await sql`insert into t (v) values (${String(i)})`.execute(trx);
        }).then(() => answeredAt.push(++seq)),
      ),
    );
    expect(answeredAt).toHaveLength(20);
    expect(syncs.length).toBeLessThan(20);
    for (const at of answeredAt) expect(syncs.some((s) => s.done !== undefined && s.done < at)).toBe(true);
    const { rows } = await sql<{ n: number }>`select count(*) as n from t`.execute(store.db);
    expect(rows[0]?.n).toBe(20);
  });

  it('reports a failed fsync to the writer instead of acknowledging the write', async () => {
    vi.spyOn(fs, 'fdatasync').mockImplementation(((_fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
      setImmediate(() => callback(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' })));
    }) as typeof fs.fdatasync);
    await expect(sql`insert into t (v) values ('c')`.execute(store.db)).rejects.toThrow(/EIO/);
  });
});
