import type { Kysely } from 'kysely';

/**
 * Cluster-wide counters (docs/architecture.md §12): per-agent rate limits and anomaly windows,
 * counted by every node over the one database. A row is one bucket of one key's window,
 * incremented by an atomic upsert; rows whose window has passed are pruned.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('counters')
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('bucket', 'bigint', (c) => c.notNull())
    .addColumn('count', 'integer', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('counters_pk', ['key', 'bucket'])
    .execute();
  await db.schema.createIndex('counters_expires_at').on('counters').column('expires_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('counters').execute();
}
