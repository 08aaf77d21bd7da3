import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import type { Store } from './store.js';

/** A handle usable inside a transaction; repositories take it so callers choose the boundary. */
export type Executor = Kysely<Database> | Transaction<Database>;

/** What runs once each open transaction of {@link inTransaction} has committed. */
const committed = new WeakMap<Executor, (() => void)[]>();

/**
 * Runs `then` once what `trx` wrote has committed: at once for a handle outside any transaction
 * of {@link inTransaction}, after the commit otherwise, never if it rolls back. A node tells
 * itself about a change this way (events/cluster-bus.ts), so it never acts on one that failed.
 */
export function afterCommit(trx: Executor, then: () => void): void {
  const queue = committed.get(trx);
  if (queue) queue.push(then);
  else then();
}

/**
 * Runs `work` in one transaction: a state change and the audit event that records it commit
 * together or not at all. Inside `work`, every query must go through `trx`: SQLite has one
 * connection, so a query on the outer handle would wait for this transaction forever (read
 * cached or outside state before opening it). SQLite starts with BEGIN IMMEDIATE so a second process (the CLI next to
 * a running server) waits on busy_timeout instead of failing a read-to-write lock upgrade.
 */
export async function inTransaction<T>(store: Store, work: (trx: Executor) => Promise<T>): Promise<T> {
  const queue: (() => void)[] = [];
  const tracked = (trx: Executor) => {
    committed.set(trx, queue);
    return work(trx);
  };
  let result: T;
  if (store.dialect === 'postgres') result = await store.db.transaction().execute(tracked);
  else {
    result = await store.db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      try {
        const value = await tracked(conn);
        await sql`commit`.execute(conn);
        return value;
      } catch (error) {
        await sql`rollback`.execute(conn);
        throw error;
      } finally {
        committed.delete(conn);
      }
    });
  }
  for (const then of queue) then();
  return result;
}
