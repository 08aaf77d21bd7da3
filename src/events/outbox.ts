import { type Selectable, sql } from 'kysely';
import type { EventOutboxTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';

/** The PostgreSQL channel that wakes followers up; its notifications carry nothing. */
export const WAKE_CHANNEL = 'mandate_events';

/** One row of the outbox as a follower reads it. */
export interface OutboxEvent {
  seq: number;
  topic: string;
  /** JSON, as written. */
  payload: string;
  origin: string;
  createdAt: string;
}

/**
 * The events outbox table (docs/architecture.md §10): cluster events as rows numbered by a
 * sequence that only grows, written in the transaction of the change they announce.
 */
export class EventOutbox {
  constructor(private readonly store: Store) {}

  /**
   * Appends the event inside `trx`. On PostgreSQL it also queues a NOTIFY without data, which
   * PostgreSQL sends when the transaction commits and drops if it rolls back: a wake-up only,
   * since followers read the events themselves.
   */
  async append(trx: Executor, event: { topic: string; payload: unknown; origin: string }): Promise<void> {
    await trx
      .insertInto('event_outbox')
      // Real time, not the node's clock: pruning is about how long followers have had to read it.
      .values({ topic: event.topic, payload: JSON.stringify(event.payload), origin: event.origin, created_at: new Date().toISOString() })
      .execute();
    if (this.store.dialect === 'postgres') await sql`select pg_notify(${WAKE_CHANNEL}, '')`.execute(trx);
  }

  /** The newest sequence number; 0 while the outbox is empty. */
  async head(): Promise<number> {
    const row = await this.store.db
      .selectFrom('event_outbox')
      .select((eb) => eb.fn.max('seq').as('head'))
      .executeTakeFirst();
    return Number(row?.head ?? 0);
  }

  /** The newest `limit` events, newest first. */
  async tail(limit: number): Promise<OutboxEvent[]> {
    const rows = await this.store.db.selectFrom('event_outbox').selectAll().orderBy('seq', 'desc').limit(limit).execute();
    return rows.map(toEvent);
  }

  /** Events after `position`, and those numbered in `also`, in sequence order. */
  async read(position: number, also: readonly number[], limit: number): Promise<OutboxEvent[]> {
    const rows = await this.store.db
      .selectFrom('event_outbox')
      .selectAll()
      .where((eb) => (also.length > 0 ? eb.or([eb('seq', '>', position), eb('seq', 'in', also)]) : eb('seq', '>', position)))
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map((row) => ({
      seq: Number(row.seq),
      topic: row.topic,
      payload: row.payload,
      origin: row.origin,
      createdAt: row.created_at,
    }));
  }

  /**
   * Deletes events written before `before`, always keeping the newest: a follower compares the
   * last event it read with what the table holds to notice a restore. One node prunes at a time.
   */
  async prune(before: Date): Promise<number> {
    return inTransaction(this.store, async (trx) => {
      if (this.store.dialect === 'postgres') {
        const { rows } = await sql<{
          locked: boolean;
        }>`select pg_try_advisory_xact_lock(hashtext('mandate.outbox.prune')) as locked`.execute(trx);
        if (!rows[0]?.locked) return 0;
      }
      const newest = await trx
        .selectFrom('event_outbox')
        .select((eb) => eb.fn.max('seq').as('head'))
        .executeTakeFirst();
      const result = await trx
        .deleteFrom('event_outbox')
        .where('created_at', '<', before.toISOString())
        .where('seq', '<', Number(newest?.head ?? 0))
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
  }
}

function toEvent(row: Selectable<EventOutboxTable>): OutboxEvent {
  return { seq: Number(row.seq), topic: row.topic, payload: row.payload, origin: row.origin, createdAt: row.created_at };
}
