import type { Kysely } from 'kysely';

/** The network address a request came from, on the events it records (hashed when set, audit/chain.ts). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('audit_events').addColumn('client_ip', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('audit_events').dropColumn('client_ip').execute();
}
