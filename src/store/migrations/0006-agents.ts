import type { Kysely } from 'kysely';

/** Agents: first-class non-human identities of an organization, with an owner and a lifecycle. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('agents')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('owner_member_id', 'text', (c) => c.notNull())
    .addColumn('technical_owner', 'text')
    .addColumn('environment', 'text', (c) => c.notNull())
    .addColumn('version', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('status_reason', 'text')
    .addColumn('max_data_classification', 'text', (c) => c.notNull())
    .addColumn('allowed_tools', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('agents_org').on('agents').column('org_id').execute();
  await db.schema.createIndex('agents_status').on('agents').column('status').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('agents').execute();
}
