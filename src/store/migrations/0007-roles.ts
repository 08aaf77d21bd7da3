import type { Kysely } from 'kysely';

/** Roles per organization, their permissions (`tool:action` with constraints), and bindings to members and agents. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('roles')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('roles_org_name_unique', ['org_id', 'name'])
    .execute();
  await db.schema
    .createTable('role_permissions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('role_id', 'text', (c) => c.notNull().references('roles.id').onDelete('cascade'))
    .addColumn('tool', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('environments', 'text')
    .addColumn('max_classification', 'text')
    .addColumn('approval_required', 'integer', (c) => c.notNull())
    .addColumn('constraints', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('role_permissions_role').on('role_permissions').column('role_id').execute();
  await db.schema
    .createTable('role_bindings')
    .addColumn('role_id', 'text', (c) => c.notNull().references('roles.id').onDelete('cascade'))
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('principal_type', 'text', (c) => c.notNull())
    .addColumn('principal_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('role_bindings_pk', ['role_id', 'principal_type', 'principal_id'])
    .execute();
  await db.schema.createIndex('role_bindings_principal').on('role_bindings').columns(['org_id', 'principal_id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['role_bindings', 'role_permissions', 'roles']) await db.schema.dropTable(table).execute();
}
