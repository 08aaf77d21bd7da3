import type { Kysely } from 'kysely';
import type { Database, SigningKeysTable } from '../store/schema.js';
import type { Executor } from '../store/transaction.js';

/** Storage of signing keys: the private half is always sealed (crypto/envelope.ts). */
export class SigningKeyStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Keys worth holding in memory: next, active, and retired ones still inside the publish window. */
  async listLive(retiredSince: string, trx: Executor = this.db): Promise<SigningKeysTable[]> {
    return trx
      .selectFrom('signing_keys')
      .selectAll()
      .where((eb) => eb.or([eb('state', '!=', 'retired'), eb('retired_at', '>=', retiredSince)]))
      .orderBy('created_at')
      .execute();
  }

  async listAll(): Promise<SigningKeysTable[]> {
    return this.db.selectFrom('signing_keys').selectAll().orderBy('created_at').execute();
  }

  async insert(trx: Executor, key: SigningKeysTable): Promise<void> {
    await trx.insertInto('signing_keys').values(key).execute();
  }

  async setState(trx: Executor, kid: string, state: SigningKeysTable['state'], at: string): Promise<void> {
    const stamp = state === 'active' ? { activated_at: at } : state === 'retired' ? { retired_at: at } : {};
    await trx
      .updateTable('signing_keys')
      .set({ state, ...stamp })
      .where('kid', '=', kid)
      .execute();
  }

  async updateSealedPrivateJwk(kid: string, sealed: string): Promise<void> {
    await this.db.updateTable('signing_keys').set({ private_jwk: sealed }).where('kid', '=', kid).execute();
  }
}
