import { Migrator, type MigrationResult } from 'kysely';
import { migrations } from './migrations/index.js';
import type { Store } from './store.js';

function migratorFor(store: Store): Migrator {
  return new Migrator({ db: store.db, provider: { getMigrations: async () => migrations } });
}

/** Applies every pending migration; throws the first failure. Returns the names applied. */
export async function migrateToLatest(store: Store): Promise<string[]> {
  const { error, results } = await migratorFor(store).migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r: MigrationResult) => r.status === 'Success').map((r) => r.migrationName);
}

/** Names of migrations known to this build but not yet applied to the database. */
export async function pendingMigrations(store: Store): Promise<string[]> {
  const all = await migratorFor(store).getMigrations();
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name);
}
