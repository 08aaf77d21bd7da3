import type { Kysely } from 'kysely';

/** RFC 7592: dynamically registered clients are managed with a registration access token. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('clients').addColumn('registration_token_hash', 'text').execute();
  await db.schema.alterTable('clients').addColumn('application_type', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('clients').dropColumn('application_type').execute();
  await db.schema.alterTable('clients').dropColumn('registration_token_hash').execute();
}
