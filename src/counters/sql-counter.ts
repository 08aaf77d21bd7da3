import { sql } from 'kysely';
import type { Store } from '../store/store.js';
import { bucketsOf, type Count, type Counter, type CounterWindow, storedKey } from './counter.js';

/** Expired buckets are deleted at most this often, by whichever node writes then. */
const PRUNE_EVERY_MS = 60_000;

/**
 * Counts in the `counters` table (migration 0024), shared by every node over PostgreSQL and by
 * the worker processes over one SQLite file (docs/architecture.md §12). Adding is one atomic
 * upsert that returns the bucket's new count (`INSERT … ON CONFLICT DO UPDATE … RETURNING`, on
 * both dialects), so concurrent nodes never lose an increment; a sliding window then sums its
 * older buckets, which no writer touches any more.
 */
export class SqlCounter implements Counter {
  readonly kind = 'sql' as const;
  private lastPrune = 0;
  private pruning: Promise<void> | undefined;

  constructor(
    private readonly deps: {
      store: Store;
      /** Pruning failed: logged by the caller, retried at the next interval. */
      onPruneError?: (error: unknown) => void;
    },
  ) {}

  async add(key: string, n: number, at: number, window: CounterWindow): Promise<Count> {
    const buckets = bucketsOf(at, window);
    const name = storedKey(key, buckets);
    const { db } = this.deps.store;
    this.prune(at);
    const row = await db
      .insertInto('counters')
      .values({ key: name, bucket: buckets.current, count: n, expires_at: buckets.expiresAt })
      .onConflict((conflict) => conflict.columns(['key', 'bucket']).doUpdateSet({ count: sql<number>`counters.count + excluded.count` }))
      .returning('count')
      .executeTakeFirstOrThrow();
    let count = Number(row.count);
    let since = buckets.current;
    if (buckets.span > 1) {
      const older = await db
        .selectFrom('counters')
        .select([sql<string | number | null>`sum(count)`.as('total'), sql<string | number | null>`min(bucket)`.as('first')])
        .where('key', '=', name)
        .where('bucket', '>=', buckets.oldest)
        .where('bucket', '<', buckets.current)
        .where('count', '>', 0)
        .executeTakeFirst();
      if (older?.total != null) count += Number(older.total);
      if (older?.first != null) since = Number(older.first);
    }
    return { count, since, resetAt: buckets.current + buckets.bucketMs };
  }

  async close(): Promise<void> {
    await this.pruning;
  }

  /** Deletes buckets that have left every window, in the background: a write never waits on it. */
  private prune(now: number): void {
    if (this.pruning || now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    this.pruning = this.deps.store.db
      .deleteFrom('counters')
      .where('expires_at', '<', now)
      .execute()
      .then(
        () => undefined,
        (error: unknown) => this.deps.onPruneError?.(error),
      )
      .finally(() => {
        this.pruning = undefined;
      });
  }
}
