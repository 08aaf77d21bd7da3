import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import { newId } from '../crypto/ids.js';
import type { EventBus } from '../events/bus.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';

export interface RestoreFenceDeps {
  store: Store;
  audit: AuditLog;
  clock: Clock;
  bus: EventBus;
}

/**
 * What keeps a restore from an old backup from reviving revoked credentials (docs/architecture.md
 * §10). Revocations live in the database, so a restore rolls them back with everything else, the
 * events outbox included: nothing inside the database can remember them. The operator runs
 * `mandate restore-fence` after restoring, which records a fence: every credential issued before
 * it is refused from then on (access tokens by `iat`, sessions by their start, through liveness),
 * refresh tokens and unused impersonation tokens end, and open CIBA approvals are denied. People
 * and agents sign in or authorize again; nothing revoked before the restore can act.
 *
 * Held in memory on every node like the stops (loaded at start, `credentials.fenced`, reloaded on
 * resync); a node keeps the newest fence it has seen, even if the database later forgets it.
 */
export class RestoreFence {
  private fencedAtMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly deps: RestoreFenceDeps) {
    deps.bus.subscribe('credentials.fenced', ({ fencedAt }) => this.apply(fencedAt));
  }

  /**
   * Whether a credential issued at `issuedAtSeconds` (a JWT's `iat`) came after the latest fence.
   * One from the very second of the fence counts as older: when in doubt, closed.
   */
  admits(issuedAtSeconds: number): boolean {
    return issuedAtSeconds * 1000 > this.fencedAtMs;
  }

  /**
   * The `iat` for a credential issued now that {@link admits} accepts: JWT times are whole
   * seconds, so one issued in the second of a fence counts from the next second.
   */
  issuedAtFrom(iat: number): number {
    return iat * 1000 > this.fencedAtMs ? iat : Math.floor(this.fencedAtMs / 1000) + 1;
  }

  /** Fences now: every credential issued before this moment is refused on every node. */
  async fence(reason: string, context: AuditContext): Promise<{ fenced_at: string }> {
    const fencedAt = isoAt(this.deps.clock);
    await inTransaction(this.deps.store, async (trx) => {
      await trx
        .insertInto('restore_fences')
        .values({ id: newId('fen', this.deps.clock.now()), fenced_at: fencedAt, reason })
        .execute();
      // Opaque credentials are checked against their rows, not liveness: they end here.
      await trx.updateTable('refresh_tokens').set({ expires_at: fencedAt }).where('expires_at', '>', fencedAt).execute();
      await trx.updateTable('impersonation_tokens').set({ consumed_at: fencedAt }).where('consumed_at', 'is', null).execute();
      // An approval given before the fence may have been withdrawn after the backup.
      await trx
        .updateTable('approval_requests')
        .set({ status: 'denied', decided_at: fencedAt })
        .where('status', 'in', ['pending', 'approved'])
        .execute();
      await this.deps.audit.append(trx, { kind: 'credentials.fenced', detail: { reason, fenced_at: fencedAt } }, context);
      await this.deps.bus.record(trx, 'credentials.fenced', { fencedAt });
    });
    return { fenced_at: fencedAt };
  }

  async load(): Promise<void> {
    const row = await this.deps.store.db
      .selectFrom('restore_fences')
      .select((eb) => eb.fn.max('fenced_at').as('latest'))
      .executeTakeFirst();
    if (row?.latest) this.apply(row.latest);
  }

  private apply(fencedAt: string): void {
    this.fencedAtMs = Math.max(this.fencedAtMs, Date.parse(fencedAt));
  }
}
