import type { Kysely } from 'kysely';

/**
 * Webhook sinks pin the batch they are retrying: a retry resends exactly the events of the failed
 * attempt under the same delivery key, even when newer events have arrived since, so a receiver
 * can deduplicate by that key.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('audit_sinks').addColumn('batch_to_seq', 'integer').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('audit_sinks').dropColumn('batch_to_seq').execute();
}
