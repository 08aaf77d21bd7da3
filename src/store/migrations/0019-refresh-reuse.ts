import type { Kysely } from 'kysely';

/**
 * Refresh-token reuse window: a rotated token remembers its successor (by hash) and, for the
 * window only, the successor's token response sealed with the master key.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // One column per statement: SQLite's ALTER TABLE adds one at a time.
  await db.schema.alterTable('refresh_tokens').addColumn('successor_hash', 'text').execute();
  await db.schema.alterTable('refresh_tokens').addColumn('successor_ciphertext', 'text').execute();
  await db.schema.createIndex('refresh_tokens_successor').on('refresh_tokens').column('successor_hash').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('refresh_tokens_successor').execute();
  await db.schema.alterTable('refresh_tokens').dropColumn('successor_ciphertext').execute();
  await db.schema.alterTable('refresh_tokens').dropColumn('successor_hash').execute();
}
