import { type Kysely, sql } from 'kysely';

/**
 * The latest stop of every member and agent that was ever stopped (suspended, deprovisioned,
 * deleted, decommissioned): while `lifted_at` is null the principal may not act, and a credential
 * issued before `stopped_at` never works again, even after the principal is resumed. Rows outlive
 * deleted members on purpose: a deleted member's id stays stopped.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('principal_stops')
    .addColumn('principal_id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('stopped_at', 'text', (c) => c.notNull())
    .addColumn('lifted_at', 'text')
    .execute();
  // A resource server that is itself an agent: tokens for it may be exchanged by that agent (RFC 8693 on-behalf-of).
  await db.schema.alterTable('resources').addColumn('agent_id', 'text').execute();
  // Role bindings of members deleted before deletion removed them would otherwise grant again.
  await sql`delete from role_bindings where principal_type = 'member' and principal_id not in (select id from members)`.execute(db);
  // Principals already stopped when this migration runs stay stopped, from their last change.
  await sql`insert into principal_stops (principal_id, org_id, stopped_at, lifted_at)
    select id, org_id, updated_at, null from agents where status <> 'active'`.execute(db);
  await sql`insert into principal_stops (principal_id, org_id, stopped_at, lifted_at)
    select id, org_id, updated_at, null from members where status <> 'active'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('principal_stops').execute();
  await db.schema.alterTable('resources').dropColumn('agent_id').execute();
}
