import type { Kysely } from 'kysely';

/** An elevation's environment and data-classification bounds, as a role permission has them (null: unbounded). */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('elevations').addColumn('environments', 'text').execute();
  await db.schema.alterTable('elevations').addColumn('max_classification', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('elevations').dropColumn('max_classification').execute();
  await db.schema.alterTable('elevations').dropColumn('environments').execute();
}
