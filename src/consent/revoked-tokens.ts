import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import type { EventBus } from '../events/bus.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';

export interface RevokedAccessTokensDeps {
  store: Store;
  audit: AuditLog;
  clock: Clock;
  bus: EventBus;
}

/**
 * RFC 7009 §2.2 for self-contained access tokens: a revoked token's `jti` is refused until the
 * token would have expired. Every node holds the set in memory (loaded at start, kept current by
 * `access_token.revoked` from the events outbox, reloaded on resync and reconciled periodically),
 * so introspection never waits on the database.
 */
export class RevokedAccessTokens {
  private readonly revoked = new Map<string, number>();

  constructor(private readonly deps: RevokedAccessTokensDeps) {
    deps.bus.subscribe('access_token.revoked', ({ jti, exp }) => void this.revoked.set(jti, exp));
  }

  has(jti: string): boolean {
    return this.revoked.has(jti);
  }

  /** Records the revocation, its audit event and the event that tells every node, in one transaction. */
  async revoke(token: { jti: string; exp: number; org_id: string; client_id: string; sub: string }, context: AuditContext): Promise<void> {
    await inTransaction(this.deps.store, async (trx) => {
      await trx
        .insertInto('revoked_access_tokens')
        .values({ jti: token.jti, expires_at: new Date(token.exp * 1000).toISOString(), revoked_at: isoAt(this.deps.clock) })
        .onConflict((oc) => oc.column('jti').doNothing())
        .execute();
      await this.deps.audit.append(
        trx,
        {
          kind: 'token.revoked',
          orgId: token.org_id,
          actorId: token.client_id,
          subjectId: token.sub,
          jti: token.jti,
          detail: { token_type: 'access_token' },
        },
        context,
      );
      await this.deps.bus.record(trx, 'access_token.revoked', { jti: token.jti, exp: token.exp });
    });
  }

  /**
   * Reloads unexpired revocations and forgets expired ones (a safety net for missed events). It
   * adds to what is held rather than replacing it: an event applied while the read was running
   * must not be undone by the older snapshot, and a revocation is never withdrawn.
   */
  async load(): Promise<void> {
    const now = this.deps.clock.now();
    const rows = await this.deps.store.db
      .selectFrom('revoked_access_tokens')
      .select(['jti', 'expires_at'])
      .where('expires_at', '>', new Date(now).toISOString())
      .execute();
    for (const row of rows) this.revoked.set(row.jti, Math.floor(Date.parse(row.expires_at) / 1000));
    for (const [jti, exp] of this.revoked) if (exp * 1000 <= now) this.revoked.delete(jti);
  }
}
