import { type Kysely, PostgresAdapter } from 'kysely';

/**
 * The events outbox (docs/architecture.md §10): every cluster event is a row, written in the
 * transaction of the change it announces, numbered by a sequence that only grows (PostgreSQL
 * identity; SQLite AUTOINCREMENT, which never reuses a number even after the newest row is
 * deleted). Nodes follow it from their last seen number; NOTIFY only wakes them.
 *
 * And the restore fences: the outbox cannot protect against a restore from an old backup, which
 * rolls it back with everything else, so after a restore `mandate restore-fence` records a fence
 * and every credential issued before it is refused.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  await db.schema
    .createTable('event_outbox')
    .addColumn('seq', postgres ? 'bigint' : 'integer', (c) =>
      postgres ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement(),
    )
    .addColumn('topic', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('origin', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('event_outbox_created_at').on('event_outbox').column('created_at').execute();
  await db.schema
    .createTable('restore_fences')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('fenced_at', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('restore_fences').execute();
  await db.schema.dropTable('event_outbox').execute();
}
