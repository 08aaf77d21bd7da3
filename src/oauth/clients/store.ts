import type { Kysely } from 'kysely';
import type { ClientSecretsTable, ClientsTable, Database } from '../../store/schema.js';
import type { Executor } from '../../store/transaction.js';

/** OAuth clients and their secrets (stored as SHA-256 digests only). */
export class ClientStore {
  constructor(private readonly db: Kysely<Database>) {}

  async find(id: string, trx: Executor = this.db): Promise<ClientsTable | undefined> {
    return trx.selectFrom('clients').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async findInOrg(orgId: string, id: string, trx: Executor = this.db): Promise<ClientsTable | undefined> {
    return trx.selectFrom('clients').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
  }

  async list(orgId: string, after: string | undefined, limit: number): Promise<ClientsTable[]> {
    let query = this.db.selectFrom('clients').selectAll().where('org_id', '=', orgId);
    if (after) query = query.where('id', '>', after);
    return query.orderBy('id').limit(limit).execute();
  }

  async insert(trx: Executor, row: ClientsTable): Promise<void> {
    await trx.insertInto('clients').values(row).execute();
  }

  async update(trx: Executor, id: string, changes: Partial<Omit<ClientsTable, 'id' | 'org_id' | 'created_at'>>): Promise<void> {
    await trx.updateTable('clients').set(changes).where('id', '=', id).execute();
  }

  async delete(trx: Executor, id: string): Promise<void> {
    await trx.deleteFrom('clients').where('id', '=', id).execute();
  }

  /** Secrets that still authenticate at `now` (no expiry, or expiry in the future). */
  async liveSecrets(clientId: string, now: string): Promise<ClientSecretsTable[]> {
    return this.db
      .selectFrom('client_secrets')
      .selectAll()
      .where('client_id', '=', clientId)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .execute();
  }

  async insertSecret(trx: Executor, row: ClientSecretsTable): Promise<void> {
    await trx.insertInto('client_secrets').values(row).execute();
  }

  /** Sets the expiry of every current secret of a client (rotation's overlap window). */
  async expireSecrets(trx: Executor, clientId: string, at: string): Promise<void> {
    await trx
      .updateTable('client_secrets')
      .set({ expires_at: at })
      .where('client_id', '=', clientId)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', at)]))
      .execute();
  }
}
