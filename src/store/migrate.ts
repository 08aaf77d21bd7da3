import { type Kysely, type MigrationResult, Migrator, sql } from 'kysely';
import { migrations } from './migrations/index.js';
import type { Database } from './schema.js';
import type { Store } from './store.js';

function migratorFor(db: Kysely<Database>): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } });
}

/**
 * Applies every pending migration; throws the first failure. Returns the names applied.
 * On PostgreSQL a session advisory lock serializes nodes that start together, since Kysely's
 * own lock table is itself created with a racy CREATE TABLE IF NOT EXISTS.
 */
export async function migrateToLatest(store: Store): Promise<string[]> {
  const run = async (db: Kysely<Database>) => {
    const { error, results } = await migratorFor(db).migrateToLatest();
    if (error) throw error instanceof Error ? error : new Error(String(error));
    return (results ?? []).filter((r: MigrationResult) => r.status === 'Success').map((r) => r.migrationName);
  };
  if (store.dialect !== 'postgres') return run(store.db);
  return store.db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(hashtext('mandate.migrations'))`.execute(conn);
    try {
      return await run(conn);
    } finally {
      await sql`select pg_advisory_unlock(hashtext('mandate.migrations'))`.execute(conn);
    }
  });
}

/** Names of migrations known to this build but not yet applied to the database. */
export async function pendingMigrations(store: Store): Promise<string[]> {
  const all = await migratorFor(store.db).getMigrations();
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name);
}
