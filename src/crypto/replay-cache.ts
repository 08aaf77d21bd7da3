import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { Executor } from '../store/transaction.js';
import { hashSecret } from './secret-token.js';

/**
 * Credentials Mandate accepts only once (RFC 7523 §3 client assertion `jti`s, trusted tokens),
 * remembered in the database until they would have expired anyway, so a replay is refused on
 * every node. The key is hashed: a trusted token is itself a bearer credential.
 */
export class ReplayCache {
  constructor(private readonly db: Kysely<Database>) {}

  /** The stored key of `id` in `namespace`. */
  static keyOf(namespace: string, id: string): string {
    return hashSecret(`${namespace} ${id}`);
  }

  /** True the first time `id` is seen in `namespace`; false for a replay. */
  async firstUse(namespace: string, id: string, expiresAt: Date, trx: Executor = this.db): Promise<boolean> {
    const inserted = await trx
      .insertInto('replay_cache')
      .values({ key_hash: ReplayCache.keyOf(namespace, id), expires_at: expiresAt.toISOString() })
      .onConflict((oc) => oc.column('key_hash').doNothing())
      .executeTakeFirst();
    return Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  /** Forgets what has expired (callers run it after each use: the expiry index keeps it cheap). */
  async prune(now: Date, trx: Executor = this.db): Promise<void> {
    await trx.deleteFrom('replay_cache').where('expires_at', '<', now.toISOString()).execute();
  }
}
