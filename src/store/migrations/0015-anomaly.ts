import type { Kysely } from 'kysely';

/** An agent's restriction set by an anomaly response: null, 'read_only' or 'approval_required'. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('agents').addColumn('restriction', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('agents').dropColumn('restriction').execute();
}
