import type { Kysely, Selectable } from 'kysely';
import type { AuditCheckpointsTable, AuditEventsTable, AuditSinksTable, Database } from '../../store/schema.js';
import type { Executor } from '../../store/transaction.js';

/** A sink row as read. */
export type AuditSinkRow = Selectable<AuditSinksTable>;

/** A batch that failed for good: where it sat in the chain and why. */
export interface DeadLetter {
  fromSeq: number;
  toSeq: number;
  attempts: number;
  error: string;
  at: string;
}

/**
 * Queries of audit webhook sinks. Delivery state changes only under a lease: every write of the
 * delivery loop is conditional on `lease_owner`, so a node that lost its lease writes nothing.
 */
export class AuditSinkStore {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(trx: Executor, row: AuditSinkRow): Promise<void> {
    await trx.insertInto('audit_sinks').values(row).execute();
  }

  async count(trx: Executor, chainId: string): Promise<number> {
    const row = await trx
      .selectFrom('audit_sinks')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('chain_id', '=', chainId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async list(chainId: string): Promise<AuditSinkRow[]> {
    return this.db.selectFrom('audit_sinks').selectAll().where('chain_id', '=', chainId).orderBy('id').execute();
  }

  /** Deletes one sink of one chain; false when there is none (another organization's id included). */
  async delete(trx: Executor, chainId: string, id: string): Promise<boolean> {
    const result = await trx.deleteFrom('audit_sinks').where('chain_id', '=', chainId).where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /**
   * Active sinks that are behind their chain's head, due, and not leased by anyone: `due` are
   * those to deliver, `orphaned` those whose organization was deleted (to disable, never deliver).
   */
  async dueIds(now: string, limit: number): Promise<{ due: string[]; orphaned: string[] }> {
    const rows = await this.db
      .selectFrom('audit_sinks as s')
      .innerJoin('audit_chain_heads as h', 'h.chain_id', 's.chain_id')
      .leftJoin('organizations as o', 'o.id', 's.chain_id')
      .select(['s.id', 'o.id as org_id'])
      .where('s.status', '=', 'active')
      .whereRef('h.seq', '>', 's.delivered_seq')
      .where((eb) => eb.or([eb('s.next_attempt_at', 'is', null), eb('s.next_attempt_at', '<=', now)]))
      .where((eb) => eb.or([eb('s.lease_until', 'is', null), eb('s.lease_until', '<=', now)]))
      .orderBy('s.id')
      .limit(limit)
      .execute();
    return {
      due: rows.filter((r) => r.org_id !== null).map((r) => r.id),
      orphaned: rows.filter((r) => r.org_id === null).map((r) => r.id),
    };
  }

  /**
   * Disables a sink whose organization is gone: its receiver was the organization's, so nothing
   * more goes there, and a disabled sink no longer holds the chain's retention back.
   */
  async disableOrphan(id: string, now: string): Promise<void> {
    await this.db
      .updateTable('audit_sinks')
      .set({ status: 'disabled', last_error: 'the organization was deleted', next_attempt_at: null, updated_at: now })
      .where('id', '=', id)
      .where('status', '=', 'active')
      .where((eb) =>
        eb.not(
          eb.exists(eb.selectFrom('organizations').select('organizations.id').whereRef('organizations.id', '=', 'audit_sinks.chain_id')),
        ),
      )
      .execute();
  }

  /**
   * Takes the lease on a sink when nobody holds a live one. A single conditional UPDATE, so on
   * PostgreSQL two nodes racing for it serialize on the row and the loser matches nothing.
   */
  async claim(id: string, owner: string, now: string, leaseUntil: string): Promise<AuditSinkRow | undefined> {
    return (
      this.db
        .updateTable('audit_sinks')
        .set({ lease_owner: owner, lease_until: leaseUntil })
        .where('id', '=', id)
        .where('status', '=', 'active')
        // A sink of a deleted organization is never taken, even before a pass disables it.
        .where((eb) =>
          eb.exists(eb.selectFrom('organizations').select('organizations.id').whereRef('organizations.id', '=', 'audit_sinks.chain_id')),
        )
        .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', now)]))
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<=', now)]))
        .returningAll()
        .executeTakeFirst()
    );
  }

  async release(id: string, owner: string): Promise<void> {
    await this.db
      .updateTable('audit_sinks')
      .set({ lease_owner: null, lease_until: null })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .execute();
  }

  /** The next events after `afterSeq` in chain order, up to `toSeq` when a batch is pinned. */
  async batch(chainId: string, afterSeq: number, toSeq: number | null, limit: number): Promise<AuditEventsTable[]> {
    let query = this.db.selectFrom('audit_events').selectAll().where('chain_id', '=', chainId).where('seq', '>', afterSeq);
    if (toSeq !== null) query = query.where('seq', '<=', toSeq);
    return query.orderBy('seq').limit(limit).execute();
  }

  /**
   * The checkpoints a batch `[fromSeq, toSeq]` carries: those whose seq falls in it, preceded by
   * the newest one before it, so a checkpoint signed after its events went out still reaches the
   * receiver with the next batch.
   */
  async checkpoints(chainId: string, fromSeq: number, toSeq: number): Promise<AuditCheckpointsTable[]> {
    const earlier = await this.db
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('chain_id', '=', chainId)
      .where('seq', '<', fromSeq)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    const within = await this.db
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('chain_id', '=', chainId)
      .where('seq', '>=', fromSeq)
      .where('seq', '<=', toSeq)
      .orderBy('seq')
      .execute();
    return earlier ? [earlier, ...within] : within;
  }

  /** Moves past an acknowledged batch and renews the lease; undefined when the lease was lost. */
  async markDelivered(id: string, owner: string, toSeq: number, now: string, leaseUntil: string): Promise<AuditSinkRow | undefined> {
    return this.db
      .updateTable('audit_sinks')
      .set({
        delivered_seq: toSeq,
        attempts: 0,
        next_attempt_at: null,
        batch_to_seq: null,
        last_error: null,
        lease_until: leaseUntil,
        updated_at: now,
      })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .returningAll()
      .executeTakeFirst();
  }

  /** Records a failed attempt and pins its batch for the retry. */
  async markFailed(
    id: string,
    owner: string,
    failure: { attempts: number; nextAttemptAt: string; error: string; toSeq: number; now: string },
  ): Promise<boolean> {
    const result = await this.db
      .updateTable('audit_sinks')
      .set({
        attempts: failure.attempts,
        next_attempt_at: failure.nextAttemptAt,
        last_error: failure.error,
        batch_to_seq: failure.toSeq,
        updated_at: failure.now,
      })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Gives up on a batch: records it, counts it, and moves past it so later events flow. */
  async deadLetter(trx: Executor, id: string, owner: string, letter: DeadLetter): Promise<boolean> {
    const result = await trx
      .updateTable('audit_sinks')
      .set((eb) => ({
        delivered_seq: letter.toSeq,
        attempts: 0,
        next_attempt_at: null,
        batch_to_seq: null,
        last_error: letter.error,
        dead_letters: eb('dead_letters', '+', 1),
        updated_at: letter.at,
      }))
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return false;
    await trx
      .insertInto('audit_sink_dead_letters')
      .values({
        sink_id: id,
        from_seq: letter.fromSeq,
        to_seq: letter.toSeq,
        attempts: letter.attempts,
        error: letter.error,
        at: letter.at,
      })
      .onConflict((oc) => oc.columns(['sink_id', 'from_seq']).doNothing())
      .execute();
    return true;
  }

  async reseal(id: string, secretCiphertext: string): Promise<void> {
    await this.db.updateTable('audit_sinks').set({ secret_ciphertext: secretCiphertext }).where('id', '=', id).execute();
  }
}
