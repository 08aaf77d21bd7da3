import type { Kysely } from 'kysely';

/** Agents' last access and usage counters (flushed from memory, so issuance stays write-free). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('agents').addColumn('last_access_at', 'text').execute();
  await db.schema
    .alterTable('agents')
    .addColumn('tokens_issued', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('agents').dropColumn('tokens_issued').execute();
  await db.schema.alterTable('agents').dropColumn('last_access_at').execute();
}
