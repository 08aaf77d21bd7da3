import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // RFC 7523 §3: each client assertion's jti is accepted once; kept until the assertion expires.
  await db.schema
    .createTable('used_client_assertions')
    .addColumn('jti_hash', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('used_client_assertions_expiry').on('used_client_assertions').column('expires_at').execute();
  // RFC 9126 §6: a client may be required to push its authorization requests.
  await db.schema
    .alterTable('clients')
    .addColumn('require_par', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('clients').dropColumn('require_par').execute();
  await db.schema.dropTable('used_client_assertions').execute();
}
