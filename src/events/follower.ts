import type { Logger } from 'pino';
import type { Topic } from './bus.js';
import type { Freshness } from './freshness.js';
import type { EventOutbox, OutboxEvent } from './outbox.js';

/** The freshness source a follower confirms (events/freshness.ts). */
export const EVENTS_SOURCE = 'events';
/** How long a missing sequence number is waited for before it counts as never coming. */
export const GAP_WAIT_MS = 30_000;
/** Missing numbers tracked one by one; a larger hole is handled by reloading everything. */
const MAX_GAPS = 1_000;
const BATCH = 500;
/**
 * Events read back at start: numbers missing among them may belong to transactions still open
 * while the node loaded its state, so they are open gaps like any other.
 */
const START_WINDOW = 200;
/** Events older than this are pruned: a node cut off longer than this reloads everything anyway. */
export const OUTBOX_RETENTION_MS = 60 * 60 * 1000;
const PRUNE_EVERY_MS = 60_000;

export interface OutboxFollowerOptions {
  outbox: EventOutbox;
  /** This process's mark on the events it writes; it delivered those to itself at commit. */
  origin: string;
  /** Hands one event to this node's subscribers. */
  dispatch: (topic: Topic, payload: unknown) => void;
  /** Reloads every in-memory state from the tables; false when part of it failed (retried at the next catch-up). */
  resync: () => Promise<boolean>;
  pollMs: number;
  freshness: Freshness;
  logger: Pick<Logger, 'error' | 'warn' | 'info'>;
}

/**
 * Follows the events outbox on one node (docs/architecture.md §10): from the head at start (the
 * node then loads its state from the tables; numbers missing just below the head are open gaps,
 * since their transactions may commit after the load read), it catches up on every wake-up, after a reconnect
 * and on a poll, and hands each event to this node's subscribers once, in sequence order.
 *
 * Sequence numbers are taken when a transaction inserts its event, not when it commits, so on
 * PostgreSQL number 8 can become visible after 9 (its transaction started first and committed
 * later), and a rolled-back transaction leaves a number that never appears. A follower that only
 * asked for `seq > last` would skip 8 for good. So every number jumped over becomes an open gap,
 * re-read by number at each catch-up and delivered when it appears; a gap still open after
 * {@link GAP_WAIT_MS} was most likely a rollback, and is closed by reloading everything from the
 * tables (the periodic reconcile covers a transaction slower than that). On SQLite there is one
 * writer and numbers are taken in commit order, so gaps do not arise; the same code serves both.
 *
 * The last event read is also the anchor: if the table no longer holds it as it was read, the
 * outbox went back in time (a restore from a backup, a failover that lost transactions) or was
 * pruned past this node; the follower restarts from the current head and reloads everything.
 */
export class OutboxFollower {
  private position = 0;
  /** The event at {@link position} as read, to notice the outbox being rewritten. */
  private anchor: string | undefined;
  /** Numbers jumped over, with when they were first missed. */
  private readonly gaps = new Map<number, number>();
  private resyncPending = false;
  /** When a hole too large to track closes by a reload, once late transactions had time to commit. */
  private resyncAt: number | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private failing = false;
  private closed = false;
  private readonly timers: NodeJS.Timeout[] = [];

  private constructor(private readonly options: OutboxFollowerOptions) {}

  /** Starts at the current head: whatever happened before, the node reads from the tables. */
  static async start(options: OutboxFollowerOptions): Promise<OutboxFollower> {
    const follower = new OutboxFollower(options);
    await follower.moveToHead();
    options.freshness.track(EVENTS_SOURCE);
    follower.every(options.pollMs, () => void follower.catchUp());
    follower.every(PRUNE_EVERY_MS, () => {
      options.outbox.prune(new Date(Date.now() - OUTBOX_RETENTION_MS)).catch((error: unknown) => {
        options.logger.warn({ err: error }, 'events outbox pruning failed');
      });
    });
    return follower;
  }

  /** A NOTIFY arrived: something was committed. */
  wake(): void {
    void this.catchUp();
  }

  /** Events may have been missed: catch up, then reload everything from the tables. */
  requestResync(): void {
    this.resyncPending = true;
    void this.catchUp();
  }

  /** Reads what is new; concurrent calls share one run, and a call during a run causes one more. */
  catchUp(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.step();
        } while (this.again && !this.closed);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    await this.running;
  }

  private async step(): Promise<void> {
    if (this.closed) return;
    try {
      for (let restarts = 0; ; ) {
        const also = [...this.gaps.keys()];
        if (this.position > 0) also.push(this.position);
        const rows = await this.options.outbox.read(this.position, also, BATCH + also.length);
        if (!this.anchorHolds(rows)) {
          this.options.logger.error(
            { position: this.position },
            'the events outbox no longer holds the last event this node read: the database was restored from a backup, failed over with lost transactions, or this node fell behind the retention. Reloading everything; after a restore, run `mandate restore-fence`.',
          );
          if (++restarts > 3) throw new Error('the events outbox keeps changing under this node');
          await this.moveToHead();
          this.resyncPending = true;
          continue;
        }
        const fresh = this.apply(rows);
        if (fresh < BATCH) break;
      }
      this.expireGaps();
      if (this.resyncPending) {
        this.resyncPending = false;
        if (!(await this.options.resync())) {
          this.resyncPending = true;
          return;
        }
      }
      if (this.failing) {
        this.failing = false;
        this.options.logger.info('the events outbox is readable again');
      }
      this.options.freshness.confirm(EVENTS_SOURCE);
    } catch (error) {
      if (!this.failing) this.options.logger.error({ err: error }, 'cannot read the events outbox; this node fails closed if it lasts');
      this.failing = true;
      // Whatever a reload meanwhile failed to read is read again once the database answers.
      this.resyncPending = true;
    }
  }

  /** Moves to the newest event; numbers missing just below it are open gaps. */
  private async moveToHead(): Promise<void> {
    const recent = await this.options.outbox.tail(START_WINDOW);
    const [newest] = recent;
    this.position = newest?.seq ?? 0;
    this.anchor = newest && identity(newest);
    this.gaps.clear();
    this.resyncAt = undefined;
    const now = Date.now();
    const present = new Set(recent.map((row) => row.seq));
    const oldest = recent.at(-1)?.seq ?? this.position;
    for (let seq = oldest + 1; seq < this.position; seq += 1) if (!present.has(seq)) this.gaps.set(seq, now);
  }

  private anchorHolds(rows: readonly OutboxEvent[]): boolean {
    if (this.position === 0) return true;
    const row = rows.find((r) => r.seq === this.position);
    return row !== undefined && identity(row) === this.anchor;
  }

  /** Delivers what is new and fills gaps; returns how many rows lay beyond the old position. */
  private apply(rows: readonly OutboxEvent[]): number {
    const now = Date.now();
    let fresh = 0;
    for (const row of rows) {
      if (row.seq === this.position) continue;
      if (row.seq < this.position) {
        if (!this.gaps.delete(row.seq)) continue;
      } else {
        fresh += 1;
        this.noteGaps(this.position + 1, row.seq, now);
        this.position = row.seq;
        this.anchor = identity(row);
      }
      if (row.origin !== this.options.origin) this.dispatch(row);
    }
    return fresh;
  }

  /** Numbers from `from` up to (not including) `to` were jumped over. */
  private noteGaps(from: number, to: number, now: number): void {
    if (to - from > MAX_GAPS - this.gaps.size) {
      this.resyncPending = true;
      this.resyncAt = now + GAP_WAIT_MS;
      return;
    }
    for (let seq = from; seq < to; seq += 1) this.gaps.set(seq, now);
  }

  private expireGaps(): void {
    const now = Date.now();
    for (const [seq, since] of this.gaps) {
      if (now - since < GAP_WAIT_MS) continue;
      this.gaps.delete(seq);
      this.resyncPending = true;
    }
    if (this.resyncAt !== undefined && now >= this.resyncAt) {
      this.resyncAt = undefined;
      this.resyncPending = true;
    }
  }

  private dispatch(row: OutboxEvent): void {
    let payload: unknown;
    try {
      payload = JSON.parse(row.payload);
    } catch (error) {
      this.options.logger.error({ err: error, seq: row.seq }, 'unreadable event in the outbox');
      return;
    }
    this.options.dispatch(row.topic as Topic, payload);
  }

  private every(ms: number, run: () => void): void {
    const timer = setInterval(run, ms);
    timer.unref();
    this.timers.push(timer);
  }
}

function identity(row: OutboxEvent): string {
  return JSON.stringify([row.topic, row.payload, row.origin, row.createdAt]);
}
