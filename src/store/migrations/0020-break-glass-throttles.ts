import type { Kysely } from 'kysely';

/**
 * Break-glass failures counted per source address, so a stranger who knows a member's email
 * throttles only their own address, not the account (break-glass/break-glass.ts). The account keeps
 * two counters of its own: failures with the right password (`failed_attempts`), and wrong
 * passwords from every source within a window (the global cap).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('break_glass_accounts')
    .addColumn('password_failures', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('break_glass_accounts').addColumn('password_failures_since', 'text').execute();
  await db.schema
    .createTable('break_glass_throttles')
    .addColumn('member_id', 'text', (c) => c.notNull().references('break_glass_accounts.member_id').onDelete('cascade'))
    // The client address (an IPv6 address by its /64), never shown outside the audit trail.
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('failed_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('window_started_at', 'text', (c) => c.notNull())
    .addColumn('locked_until', 'text')
    .addPrimaryKeyConstraint('break_glass_throttles_pk', ['member_id', 'source'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('break_glass_throttles').execute();
  await db.schema.alterTable('break_glass_accounts').dropColumn('password_failures_since').execute();
  await db.schema.alterTable('break_glass_accounts').dropColumn('password_failures').execute();
}
