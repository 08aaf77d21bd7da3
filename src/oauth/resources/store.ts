import type { Kysely } from 'kysely';
import type { Database, ResourcesTable } from '../../store/schema.js';
import type { Executor } from '../../store/transaction.js';

export class ResourceStore {
  constructor(private readonly db: Kysely<Database>) {}

  async find(ref: string, trx: Executor = this.db): Promise<ResourcesTable | undefined> {
    const column = ref.startsWith('res_') ? 'id' : 'identifier';
    return trx.selectFrom('resources').selectAll().where(column, '=', ref).executeTakeFirst();
  }

  async list(after: string | undefined, limit: number): Promise<ResourcesTable[]> {
    let query = this.db.selectFrom('resources').selectAll();
    if (after) query = query.where('id', '>', after);
    return query.orderBy('id').limit(limit).execute();
  }

  async insert(trx: Executor, row: ResourcesTable): Promise<void> {
    await trx.insertInto('resources').values(row).execute();
  }

  async update(trx: Executor, id: string, changes: Partial<Omit<ResourcesTable, 'id' | 'identifier' | 'created_at'>>): Promise<void> {
    await trx.updateTable('resources').set(changes).where('id', '=', id).execute();
  }

  async delete(trx: Executor, id: string): Promise<void> {
    await trx.deleteFrom('resources').where('id', '=', id).execute();
  }
}
