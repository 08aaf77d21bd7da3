import type { Kysely } from 'kysely';
import type { Database, OrganizationsTable } from '../store/schema.js';
import type { Executor } from '../store/transaction.js';

/** Organization rows. `ref` is an organization id or slug: the API accepts both. */
export class OrganizationStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** `forUpdate`: PostgreSQL only (SQLite transactions already hold the write lock). */
  async find(ref: string, trx: Executor = this.db, options: { forUpdate?: boolean } = {}): Promise<OrganizationsTable | undefined> {
    const column = ref.startsWith('org_') ? 'id' : 'slug';
    const query = trx.selectFrom('organizations').selectAll().where(column, '=', ref);
    return (options.forUpdate ? query.forUpdate() : query).executeTakeFirst();
  }

  async slugTaken(slug: string, trx: Executor, exceptId?: string): Promise<boolean> {
    let query = trx.selectFrom('organizations').select('id').where('slug', '=', slug);
    if (exceptId) query = query.where('id', '!=', exceptId);
    return (await query.executeTakeFirst()) !== undefined;
  }

  async list(after: string | undefined, limit: number): Promise<OrganizationsTable[]> {
    let query = this.db.selectFrom('organizations').selectAll();
    if (after) query = query.where('id', '>', after);
    return query.orderBy('id').limit(limit).execute();
  }

  async insert(trx: Executor, row: OrganizationsTable): Promise<void> {
    await trx.insertInto('organizations').values(row).execute();
  }

  async update(trx: Executor, id: string, changes: Partial<Omit<OrganizationsTable, 'id' | 'created_at'>>): Promise<void> {
    await trx.updateTable('organizations').set(changes).where('id', '=', id).execute();
  }

  async delete(trx: Executor, id: string): Promise<void> {
    await trx.deleteFrom('organizations').where('id', '=', id).execute();
  }
}
