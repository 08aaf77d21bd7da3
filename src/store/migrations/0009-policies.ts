import type { Kysely } from 'kysely';

/** An organization's Cedar policies, versioned: the highest version is in force. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('policy_sets')
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('policies', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('policy_sets_pk', ['org_id', 'version'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('policy_sets').execute();
}
