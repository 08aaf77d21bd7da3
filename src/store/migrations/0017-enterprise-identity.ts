import type { Kysely } from 'kysely';

/**
 * Enterprise identity: SSO connections (OIDC, SAML) and their login round trips, one replay
 * cache for single-use credentials, links from IdP subjects to members, IdP groups mapped to roles, break-glass
 * accounts, impersonation tokens, SCIM tokens and groups.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('sso_connections')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('protocol', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    // JSON array of lower-case email domains routed to this connection.
    .addColumn('domains', 'text', (c) => c.notNull())
    // JSON: the protocol's settings (OIDC issuer and client id; SAML IdP entity id, SSO URL, certificates).
    .addColumn('settings', 'text', (c) => c.notNull())
    // Sealed (AES-256-GCM envelope): the OIDC client secret; null for SAML and public clients.
    .addColumn('secret_ciphertext', 'text')
    .addColumn('jit_provisioning', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('sso_connections_org').on('sso_connections').column('org_id').execute();

  await db.schema
    .createTable('sso_login_states')
    .addColumn('state_hash', 'text', (c) => c.primaryKey())
    .addColumn('connection_id', 'text', (c) => c.notNull().references('sso_connections.id').onDelete('cascade'))
    .addColumn('org_id', 'text', (c) => c.notNull())
    // OIDC: nonce and PKCE verifier; SAML: the AuthnRequest id (InResponseTo).
    .addColumn('nonce', 'text')
    .addColumn('code_verifier', 'text')
    .addColumn('request_id', 'text')
    // JSON: where the browser goes after login (an authorization request, or a return path).
    .addColumn('relay', 'text', (c) => c.notNull())
    // SHA-256 of the cookie that binds the round trip to the browser that started it.
    .addColumn('browser_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('consumed_at', 'text')
    .execute();

  // One replay cache for every credential Mandate accepts once (trusted tokens, client assertions).
  await db.schema
    .createTable('replay_cache')
    .addColumn('key_hash', 'text', (c) => c.primaryKey())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('replay_cache_expiry').on('replay_cache').column('expires_at').execute();
  await db.schema.dropTable('used_client_assertions').execute();

  await db.schema
    .createTable('member_identities')
    .addColumn('connection_id', 'text', (c) => c.notNull().references('sso_connections.id').onDelete('cascade'))
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('member_id', 'text', (c) => c.notNull().references('members.id').onDelete('cascade'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_login_at', 'text')
    .addPrimaryKeyConstraint('member_identities_pk', ['connection_id', 'subject'])
    .execute();
  await db.schema.createIndex('member_identities_member').on('member_identities').columns(['org_id', 'member_id']).execute();

  await db.schema
    .createTable('group_role_mappings')
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    // The IdP's group: a group claim value (SSO) or a SCIM group's displayName.
    .addColumn('group_name', 'text', (c) => c.notNull())
    .addColumn('role_id', 'text', (c) => c.notNull().references('roles.id').onDelete('cascade'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('group_role_mappings_pk', ['org_id', 'group_name', 'role_id'])
    .execute();
  // 'manual' bindings are an administrator's; 'idp' ones follow the IdP's groups and are re-synced at each login or SCIM change.
  await db.schema
    .alterTable('role_bindings')
    .addColumn('source', 'text', (c) => c.notNull().defaultTo('manual'))
    .execute();

  await db.schema
    .createTable('break_glass_accounts')
    .addColumn('member_id', 'text', (c) => c.primaryKey().references('members.id').onDelete('cascade'))
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    // scrypt$N$r$p$salt$hash (node:crypto scrypt).
    .addColumn('password_hash', 'text', (c) => c.notNull())
    // Sealed TOTP secret; confirmed once the member proves a first code.
    .addColumn('totp_ciphertext', 'text', (c) => c.notNull())
    .addColumn('totp_confirmed_at', 'text')
    // RFC 6238 §5.2: a code is accepted once; the last accepted time step is kept.
    .addColumn('last_totp_step', 'integer')
    .addColumn('failed_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locked_until', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('impersonation_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('impersonator_id', 'text', (c) => c.notNull())
    .addColumn('member_id', 'text', (c) => c.notNull().references('members.id').onDelete('cascade'))
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('consumed_at', 'text')
    .execute();

  await db.schema
    .createTable('scim_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('last_used_at', 'text')
    .addColumn('revoked_at', 'text')
    .execute();

  await db.schema
    .createTable('scim_groups')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('display_name', 'text', (c) => c.notNull())
    .addColumn('external_id', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addUniqueConstraint('scim_groups_name', ['org_id', 'display_name'])
    .execute();
  await db.schema
    .createTable('scim_group_members')
    .addColumn('group_id', 'text', (c) => c.notNull().references('scim_groups.id').onDelete('cascade'))
    .addColumn('member_id', 'text', (c) => c.notNull().references('members.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('scim_group_members_pk', ['group_id', 'member_id'])
    .execute();

  // SCIM's userName and externalId, and the rest of the SCIM user (name parts, emails) as sent, as JSON.
  await db.schema.alterTable('members').addColumn('user_name', 'text').execute();
  await db.schema.alterTable('members').addColumn('external_id', 'text').execute();
  await db.schema.alterTable('members').addColumn('scim_attributes', 'text').execute();
  await db.schema.createIndex('members_user_name').on('members').columns(['org_id', 'user_name']).execute();

  // Where and from what a session was started, for the member's session list.
  await db.schema.alterTable('sessions').addColumn('client_ip', 'text').execute();
  await db.schema.alterTable('sessions').addColumn('user_agent', 'text').execute();
  await db.schema.alterTable('sessions').addColumn('connection_id', 'text').execute();
  await db.schema.createIndex('sessions_org_member').on('sessions').columns(['org_id', 'member_id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('sessions_org_member').execute();
  for (const column of ['connection_id', 'user_agent', 'client_ip']) await db.schema.alterTable('sessions').dropColumn(column).execute();
  await db.schema.dropIndex('members_user_name').execute();
  for (const column of ['scim_attributes', 'external_id', 'user_name']) await db.schema.alterTable('members').dropColumn(column).execute();
  await db.schema.alterTable('role_bindings').dropColumn('source').execute();
  await db.schema
    .createTable('used_client_assertions')
    .addColumn('jti_hash', 'text', (c) => c.primaryKey())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('used_client_assertions_expiry').on('used_client_assertions').column('expires_at').execute();
  for (const table of [
    'replay_cache',
    'scim_group_members',
    'scim_groups',
    'scim_tokens',
    'impersonation_tokens',
    'break_glass_accounts',
    'group_role_mappings',
    'member_identities',
    'sso_login_states',
    'sso_connections',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
