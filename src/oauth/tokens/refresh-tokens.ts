import { type Clock, isoAt } from '../../clock.js';
import type { Envelope } from '../../crypto/envelope.js';
import { hashSecret, newSecret } from '../../crypto/secret-token.js';
import type { GrantsTable, RefreshTokensTable } from '../../store/schema.js';
import type { Dialect } from '../../store/store.js';
import type { Executor } from '../../store/transaction.js';

/** Associated data of a sealed successor: it opens only on the row of the token it replaced. */
function successorContext(tokenHash: string): string {
  return `refresh_token_successor ${tokenHash}`;
}

export interface RefreshTokensDeps {
  dialect: Dialect;
  clock: Clock;
  slidingTtlSeconds: number;
  envelope: Envelope;
  reuseWindowSeconds: number;
}

/**
 * Opaque refresh tokens (`mnd_rt_`), stored as SHA-256, rotated on every use. For a short reuse
 * window after a rotation, the retired token keeps its successor's token response sealed, so a
 * client whose concurrent refreshes race, or whose response was lost, receives that same successor.
 */
export class RefreshTokens {
  constructor(private readonly deps: RefreshTokensDeps) {}

  /** A new refresh token for the grant; it lapses when unused for the sliding TTL, and with the grant. */
  async issue(trx: Executor, grant: GrantsTable, clientId: string, scope: string): Promise<string> {
    const token = newSecret('mnd_rt_');
    const expiresAt = new Date(
      Math.min(this.deps.clock.now() + this.deps.slidingTtlSeconds * 1000, Date.parse(grant.expires_at)),
    ).toISOString();
    await trx
      .insertInto('refresh_tokens')
      .values({
        token_hash: hashSecret(token),
        grant_id: grant.id,
        client_id: clientId,
        scope,
        created_at: isoAt(this.deps.clock),
        expires_at: expiresAt,
        rotated_at: null,
        successor_hash: null,
        successor_ciphertext: null,
      })
      .execute();
    return token;
  }

  /** The row for a presented token, locked for rotation where the database supports it. */
  async findForRotation(trx: Executor, token: string): Promise<RefreshTokensTable | undefined> {
    let query = trx.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', hashSecret(token));
    if (this.deps.dialect === 'postgres') query = query.forUpdate();
    return query.executeTakeFirst();
  }

  /**
   * Retires a token; false when it was retired already. Its predecessor may no longer hand it out
   * as a reusable successor: once a successor is used, the previous token is only reuse (theft).
   */
  async markRotated(trx: Executor, tokenHash: string): Promise<boolean> {
    const result = await trx
      .updateTable('refresh_tokens')
      .set({ rotated_at: isoAt(this.deps.clock) })
      .where('token_hash', '=', tokenHash)
      .where('rotated_at', 'is', null)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) return false;
    await trx
      .updateTable('refresh_tokens')
      .set({ successor_ciphertext: null })
      .where('successor_hash', '=', tokenHash)
      .where('successor_ciphertext', 'is not', null)
      .execute();
    return true;
  }

  /** Records the successor of a retired token, its response sealed for the reuse window (none when the window is 0). */
  async keepSuccessor(trx: Executor, tokenHash: string, successor: { refreshToken: string; response: object }): Promise<void> {
    const sealed =
      this.deps.reuseWindowSeconds > 0 ? this.deps.envelope.seal(JSON.stringify(successor.response), successorContext(tokenHash)) : null;
    await trx
      .updateTable('refresh_tokens')
      .set({ successor_hash: hashSecret(successor.refreshToken), successor_ciphertext: sealed })
      .where('token_hash', '=', tokenHash)
      .execute();
  }

  /**
   * The successor response of a retired token presented again within the reuse window while the
   * successor is unused; undefined otherwise (then the presentation is reuse).
   */
  reusableSuccessor(row: RefreshTokensTable): Record<string, unknown> | undefined {
    if (!row.rotated_at || !row.successor_ciphertext || this.deps.reuseWindowSeconds === 0) return undefined;
    if (Date.parse(row.rotated_at) + this.deps.reuseWindowSeconds * 1000 <= this.deps.clock.now()) return undefined;
    return JSON.parse(this.deps.envelope.open(row.successor_ciphertext, successorContext(row.token_hash))) as Record<string, unknown>;
  }

  /** Drops sealed successors whose reuse window has passed (run periodically). */
  async forgetExpiredSuccessors(trx: Executor): Promise<void> {
    await trx
      .updateTable('refresh_tokens')
      .set({ successor_ciphertext: null })
      .where('successor_ciphertext', 'is not', null)
      .where('rotated_at', '<=', new Date(this.deps.clock.now() - this.deps.reuseWindowSeconds * 1000).toISOString())
      .execute();
  }

  async find(token: string, trx: Executor): Promise<RefreshTokensTable | undefined> {
    return trx.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', hashSecret(token)).executeTakeFirst();
  }
}
