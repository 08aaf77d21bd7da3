import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import type { Store } from './store.js';

/** A handle usable inside a transaction; repositories take it so callers choose the boundary. */
export type Executor = Kysely<Database> | Transaction<Database>;

/**
 * Runs `work` in one transaction: a state change and the audit event that records it commit
 * together or not at all. Inside `work`, every query must go through `trx`: SQLite has one
 * connection, so a query on the outer handle would wait for this transaction forever (read
 * cached or outside state before opening it). SQLite starts with BEGIN IMMEDIATE so a second process (the CLI next to
 * a running server) waits on busy_timeout instead of failing a read-to-write lock upgrade.
 */
export async function inTransaction<T>(store: Store, work: (trx: Executor) => Promise<T>): Promise<T> {
  if (store.dialect === 'postgres') return store.db.transaction().execute(work);
  return store.db.connection().execute(async (conn) => {
    await sql`begin immediate`.execute(conn);
    try {
      const result = await work(conn);
      await sql`commit`.execute(conn);
      return result;
    } catch (error) {
      await sql`rollback`.execute(conn);
      throw error;
    }
  });
}
