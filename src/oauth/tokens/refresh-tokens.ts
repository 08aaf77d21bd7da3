import { type Clock, isoAt } from '../../clock.js';
import { hashSecret, newSecret } from '../../crypto/secret-token.js';
import type { GrantsTable, RefreshTokensTable } from '../../store/schema.js';
import type { Dialect } from '../../store/store.js';
import type { Executor } from '../../store/transaction.js';

/** Opaque refresh tokens (`mnd_rt_`), stored as SHA-256, rotated on every use. */
export class RefreshTokens {
  constructor(
    private readonly dialect: Dialect,
    private readonly clock: Clock,
    private readonly slidingTtlSeconds: number,
  ) {}

  /** A new refresh token for the grant; it lapses when unused for the sliding TTL, and with the grant. */
  async issue(trx: Executor, grant: GrantsTable, clientId: string, scope: string): Promise<string> {
    const token = newSecret('mnd_rt_');
    const expiresAt = new Date(Math.min(this.clock.now() + this.slidingTtlSeconds * 1000, Date.parse(grant.expires_at))).toISOString();
    await trx
      .insertInto('refresh_tokens')
      .values({
        token_hash: hashSecret(token),
        grant_id: grant.id,
        client_id: clientId,
        scope,
        created_at: isoAt(this.clock),
        expires_at: expiresAt,
        rotated_at: null,
      })
      .execute();
    return token;
  }

  /** The row for a presented token, locked for rotation where the database supports it. */
  async findForRotation(trx: Executor, token: string): Promise<RefreshTokensTable | undefined> {
    let query = trx.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', hashSecret(token));
    if (this.dialect === 'postgres') query = query.forUpdate();
    return query.executeTakeFirst();
  }

  async markRotated(trx: Executor, tokenHash: string): Promise<boolean> {
    const result = await trx
      .updateTable('refresh_tokens')
      .set({ rotated_at: isoAt(this.clock) })
      .where('token_hash', '=', tokenHash)
      .where('rotated_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async find(token: string, trx: Executor): Promise<RefreshTokensTable | undefined> {
    return trx.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', hashSecret(token)).executeTakeFirst();
  }
}
