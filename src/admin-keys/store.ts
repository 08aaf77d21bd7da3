import type { Kysely } from 'kysely';
import type { AdminKeysTable, Database } from '../store/schema.js';
import type { Executor } from '../store/transaction.js';

/** Admin API keys, looked up by the SHA-256 of the presented key only. */
export class AdminKeyStore {
  constructor(private readonly db: Kysely<Database>) {}

  async findByHash(secretHash: string): Promise<AdminKeysTable | undefined> {
    return this.db.selectFrom('admin_keys').selectAll().where('secret_hash', '=', secretHash).executeTakeFirst();
  }

  async findById(id: string): Promise<AdminKeysTable | undefined> {
    return this.db.selectFrom('admin_keys').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async list(): Promise<AdminKeysTable[]> {
    return this.db.selectFrom('admin_keys').selectAll().orderBy('id').execute();
  }

  async count(trx: Executor = this.db): Promise<number> {
    const row = await trx
      .selectFrom('admin_keys')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async insert(trx: Executor, key: AdminKeysTable): Promise<void> {
    await trx.insertInto('admin_keys').values(key).execute();
  }

  async revoke(trx: Executor, id: string, at: string): Promise<boolean> {
    const result = await trx
      .updateTable('admin_keys')
      .set({ revoked_at: at })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async touch(id: string, at: string): Promise<void> {
    await this.db.updateTable('admin_keys').set({ last_used_at: at }).where('id', '=', id).execute();
  }
}
