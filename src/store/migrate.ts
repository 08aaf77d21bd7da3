import { Kysely, type MigrationResult, Migrator, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { migrations } from './migrations/index.js';
import type { Database } from './schema.js';
import type { Store } from './store.js';

function migratorFor(db: Kysely<Database>): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } });
}

/**
 * Applies every pending migration; throws the first failure. Returns the names applied.
 * On PostgreSQL a session advisory lock serializes nodes that start together, since Kysely's
 * own lock table is itself created with a racy CREATE TABLE IF NOT EXISTS. It runs on a
 * connection of its own, without the serving pool's query and statement timeouts
 * (docs/architecture.md §11): a migration may take long, and so may waiting for another node's.
 */
export async function migrateToLatest(store: Store): Promise<string[]> {
  const run = async (db: Kysely<Database>) => {
    const { error, results } = await migratorFor(db).migrateToLatest();
    if (error) throw error instanceof Error ? error : new Error(String(error));
    return (results ?? []).filter((r: MigrationResult) => r.status === 'Success').map((r) => r.migrationName);
  };
  if (store.dialect !== 'postgres' || !store.databaseUrl) return run(store.db);
  const pool = new pg.Pool({ connectionString: store.databaseUrl, max: 1, application_name: 'mandate-migrate' });
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    return await db.connection().execute(async (conn) => {
      await sql`select pg_advisory_lock(hashtext('mandate.migrations'))`.execute(conn);
      try {
        return await run(conn);
      } finally {
        await sql`select pg_advisory_unlock(hashtext('mandate.migrations'))`.execute(conn);
      }
    });
  } finally {
    await db.destroy();
  }
}

/** Names of migrations known to this build but not yet applied to the database. */
export async function pendingMigrations(store: Store): Promise<string[]> {
  const all = await migratorFor(store.db).getMigrations();
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name);
}
