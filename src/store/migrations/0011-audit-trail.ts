import { type Kysely, sql } from 'kysely';

/**
 * The audit trail (issue #5): the rest of an event's context, signed checkpoints, the retained base
 * of a pruned chain, webhook sinks and resumable agent runs.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Extension fields: hashed only when set (audit/chain.ts), so events written before them still verify.
  for (const [column, type] of [
    ['client_id', 'text'],
    ['agent_version', 'text'],
    ['agent_environment', 'text'],
    ['act', 'text'],
    ['error_code', 'text'],
    ['grant_valid', 'integer'],
    ['started_at', 'text'],
    ['ended_at', 'text'],
    ['latency_ms', 'integer'],
    ['intent_id', 'text'],
    ['run_id', 'text'],
  ] as const) {
    await db.schema.alterTable('audit_events').addColumn(column, type).execute();
  }
  // One outcome per intent; the index is also how an outcome finds whether one exists.
  await db.schema
    .createIndex('audit_events_intent')
    .on('audit_events')
    .column('intent_id')
    .unique()
    .where(sql.ref('intent_id'), 'is not', null)
    .execute();
  await db.schema.createIndex('audit_events_org_subject_at').on('audit_events').columns(['org_id', 'subject_id', 'at']).execute();

  // Where a pruned chain now starts: the event before the first retained one (a signed checkpoint).
  await db.schema
    .alterTable('audit_chain_heads')
    .addColumn('base_seq', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .alterTable('audit_chain_heads')
    .addColumn('base_hash', 'text', (c) => c.notNull().defaultTo('0'.repeat(64)))
    .execute();

  await db.schema
    .createTable('audit_checkpoints')
    .addColumn('chain_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('kid', 'text', (c) => c.notNull())
    .addColumn('jws', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('audit_checkpoints_pk', ['chain_id', 'seq'])
    .execute();

  await db.schema
    .createTable('audit_sinks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('chain_id', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('secret_ciphertext', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('delivered_seq', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'text')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'text')
    .addColumn('dead_letters', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_sinks_chain').on('audit_sinks').column('chain_id').execute();
  await db.schema
    .createTable('audit_sink_dead_letters')
    .addColumn('sink_id', 'text', (c) => c.notNull().references('audit_sinks.id').onDelete('cascade'))
    .addColumn('from_seq', 'integer', (c) => c.notNull())
    .addColumn('to_seq', 'integer', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('error', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('audit_sink_dead_letters_pk', ['sink_id', 'from_seq'])
    .execute();

  await db.schema
    .createTable('runs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('agent_id', 'text')
    .addColumn('member_id', 'text')
    .addColumn('client_id', 'text')
    .addColumn('grant_id', 'text')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('correlation_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('steps_completed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_step', 'text')
    .addColumn('last_step_event_id', 'text')
    .addColumn('last_state', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('runs_org_created').on('runs').columns(['org_id', 'created_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['runs', 'audit_sink_dead_letters', 'audit_sinks', 'audit_checkpoints']) await db.schema.dropTable(table).execute();
  await db.schema.alterTable('audit_chain_heads').dropColumn('base_hash').execute();
  await db.schema.alterTable('audit_chain_heads').dropColumn('base_seq').execute();
  await db.schema.dropIndex('audit_events_org_subject_at').execute();
  await db.schema.dropIndex('audit_events_intent').execute();
  for (const column of [
    'run_id',
    'intent_id',
    'latency_ms',
    'ended_at',
    'started_at',
    'grant_valid',
    'error_code',
    'act',
    'agent_environment',
    'agent_version',
    'client_id',
  ]) {
    await db.schema.alterTable('audit_events').dropColumn(column).execute();
  }
}
