import type { Kysely } from 'kysely';

/** The token vault: organizations' provider connections, users' connected accounts, authorization links. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('vault_connections')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('client_secret_ciphertext', 'text', (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('overrides', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('vault_connections_org_name', ['org_id', 'name'])
    .execute();

  await db.schema
    .createTable('connected_accounts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('connection_id', 'text', (c) => c.notNull().references('vault_connections.id').onDelete('cascade'))
    .addColumn('identifier', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('access_token_ciphertext', 'text')
    .addColumn('refresh_token_ciphertext', 'text')
    .addColumn('expires_at', 'text')
    .addColumn('refresh_lease_owner', 'text')
    .addColumn('refresh_lease_until', 'text')
    .addColumn('last_refreshed_at', 'text')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('connected_accounts_connection_identifier', ['connection_id', 'identifier'])
    .execute();

  await db.schema
    .createTable('vault_authorization_links')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('connection_id', 'text', (c) => c.notNull().references('vault_connections.id').onDelete('cascade'))
    .addColumn('identifier', 'text', (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('state_hash', 'text')
    .addColumn('code_verifier_ciphertext', 'text')
    .addColumn('browser_hash', 'text')
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text')
    .addColumn('completed_at', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('vault_authorization_links_state').on('vault_authorization_links').column('state_hash').unique().execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['vault_authorization_links', 'connected_accounts', 'vault_connections']) await db.schema.dropTable(table).execute();
}
