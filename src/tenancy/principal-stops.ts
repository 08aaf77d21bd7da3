import type { Kysely } from 'kysely';
import { type Clock, isoAt } from '../clock.js';
import type { EventBus } from '../events/bus.js';
import type { Database } from '../store/schema.js';
import type { Executor } from '../store/transaction.js';

/** A stop or a lift, as every node applies it (`principal.changed`). */
interface PrincipalChange {
  id: string;
  stoppedAt: string;
  lifted: boolean;
}

export interface PrincipalStopsDeps {
  db: Kysely<Database>;
  clock: Clock;
  bus: EventBus;
}

/**
 * The kill switch for every principal, members and agents alike, held in memory on every node:
 * who is stopped now (suspended, deprovisioned, deleted, decommissioned), and when each was last
 * stopped. A credential acts for a principal only while the principal is not stopped AND was
 * issued after its latest stop, so resuming an agent or reactivating a member never revives a
 * credential from before (an epoch per principal). Loaded at start, kept current by
 * `principal.changed` from the events outbox (written in the stopping transaction), reloaded on
 * resync and periodically; liveness checks never wait on the database.
 */
export class PrincipalStops {
  private readonly stops = new Map<string, { stoppedAtMs: number; lifted: boolean }>();

  constructor(private readonly deps: PrincipalStopsDeps) {
    deps.bus.subscribe('principal.changed', (change) => this.apply(change));
  }

  /** Whether the principal may not act at all right now. */
  isStopped(id: string | null | undefined): boolean {
    if (!id) return false;
    const stop = this.stops.get(id);
    return stop !== undefined && !stop.lifted;
  }

  /**
   * Whether a credential issued at `issuedAtSeconds` (a JWT's `iat`) may still act for the
   * principal: it is not stopped, and the credential is younger than its latest stop. A credential
   * issued in the very second of a stop counts as older: when in doubt, closed.
   */
  admits(id: string | null | undefined, issuedAtSeconds: number): boolean {
    if (!id) return true;
    const stop = this.stops.get(id);
    return stop === undefined || (stop.lifted && issuedAtSeconds * 1000 > stop.stoppedAtMs);
  }

  /**
   * The `iat` for a credential issued now for these principals. JWT times are whole seconds, and
   * {@link admits} refuses a credential from the second of a stop (it may predate it); so a
   * credential issued right after a resume counts from the next second instead of being born dead.
   */
  issuedAtFor(ids: readonly (string | null | undefined)[], nowMs: number): number {
    let iat = Math.floor(nowMs / 1000);
    for (const id of ids) {
      const stop = id ? this.stops.get(id) : undefined;
      if (stop && stop.stoppedAtMs >= iat * 1000) iat = Math.floor(stop.stoppedAtMs / 1000) + 1;
    }
    return iat;
  }

  /**
   * Stops the principal inside the caller's transaction, with the event that tells every node
   * (this one once the transaction commits). Its open CIBA requests (waiting, or approved and not yet redeemed) are denied with it: an
   * approval obtained before the stop would otherwise still mint a token after a resume.
   */
  async stopWithin(trx: Executor, orgId: string, id: string): Promise<void> {
    const stoppedAt = isoAt(this.deps.clock);
    await trx
      .insertInto('principal_stops')
      .values({ principal_id: id, org_id: orgId, stopped_at: stoppedAt, lifted_at: null })
      .onConflict((oc) => oc.column('principal_id').doUpdateSet({ stopped_at: stoppedAt, lifted_at: null }))
      .execute();
    await trx
      .updateTable('approval_requests')
      .set({ status: 'denied', decided_at: stoppedAt })
      .where('org_id', '=', orgId)
      .where(id.startsWith('agt_') ? 'agent_id' : 'member_id', '=', id)
      .where('status', 'in', ['pending', 'approved'])
      .execute();
    await this.deps.bus.record(trx, 'principal.changed', { id, stoppedAt, lifted: false });
  }

  /** Lets the principal act again, with credentials issued from now on only. */
  async liftWithin(trx: Executor, id: string): Promise<void> {
    const row = await trx.selectFrom('principal_stops').select('stopped_at').where('principal_id', '=', id).executeTakeFirst();
    if (!row) return;
    await trx
      .updateTable('principal_stops')
      .set({ lifted_at: isoAt(this.deps.clock) })
      .where('principal_id', '=', id)
      .execute();
    await this.deps.bus.record(trx, 'principal.changed', { id, stoppedAt: row.stopped_at, lifted: true });
  }

  /**
   * Reads every stop and merges it in as if it were an event: a stop or lift applied while the
   * read was running is not undone by the older snapshot (apply keeps the newer of two).
   */
  async load(): Promise<void> {
    const rows = await this.deps.db.selectFrom('principal_stops').select(['principal_id', 'stopped_at', 'lifted_at']).execute();
    for (const row of rows) this.apply({ id: row.principal_id, stoppedAt: row.stopped_at, lifted: row.lifted_at !== null });
  }

  private apply(change: PrincipalChange): void {
    const stoppedAtMs = Date.parse(change.stoppedAt);
    const known = this.stops.get(change.id);
    // A late message about an older stop must not undo a newer one; a lift names the stop it ends.
    if (known && (known.stoppedAtMs > stoppedAtMs || (known.stoppedAtMs === stoppedAtMs && known.lifted && !change.lifted))) return;
    this.stops.set(change.id, { stoppedAtMs, lifted: change.lifted });
  }
}
