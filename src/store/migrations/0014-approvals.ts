import type { Kysely } from 'kysely';

/** Human-in-the-loop approvals: organizations' authorization detail types, CIBA requests and approvers' votes. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('authorization_detail_types')
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('schema', 'text', (c) => c.notNull())
    .addColumn('policy', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('authorization_detail_types_pk', ['org_id', 'type'])
    .execute();

  await db.schema
    .createTable('approval_requests')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('auth_req_hash', 'text', (c) => c.notNull().unique())
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('agent_id', 'text')
    .addColumn('member_id', 'text', (c) => c.notNull())
    .addColumn('resource', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('authorization_details', 'text', (c) => c.notNull())
    .addColumn('binding_message', 'text')
    // Ping mode (CIBA §10.2): the auth_req_id and the client's notification token, sealed.
    .addColumn('notification_ciphertext', 'text')
    .addColumn('policy', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('interval_seconds', 'integer', (c) => c.notNull())
    .addColumn('next_poll_at', 'text')
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('decided_at', 'text')
    .addColumn('reminded_at', 'text')
    .addColumn('consumed_at', 'text')
    .execute();
  await db.schema.alterTable('clients').addColumn('backchannel_client_notification_endpoint', 'text').execute();
  await db.schema.createIndex('approval_requests_org_status').on('approval_requests').columns(['org_id', 'status']).execute();

  await db.schema
    .createTable('approval_votes')
    .addColumn('request_id', 'text', (c) => c.notNull().references('approval_requests.id').onDelete('cascade'))
    .addColumn('member_id', 'text', (c) => c.notNull())
    .addColumn('decision', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('approval_votes_pk', ['request_id', 'member_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('clients').dropColumn('backchannel_client_notification_endpoint').execute();
  for (const table of ['approval_votes', 'approval_requests', 'authorization_detail_types']) await db.schema.dropTable(table).execute();
}
