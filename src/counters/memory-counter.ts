import { bucketsOf, type Count, type Counter, type CounterWindow, storedKey } from './counter.js';

interface Slots {
  /** Bucket start → count; a few entries at most (the buckets of one window). */
  counts: Map<number, number>;
  expiresAt: number;
}

/** How often idle keys are forgotten, so quiet agents cost nothing. */
const SWEEP_MS = 60_000;

/**
 * Counts in this process's memory: the single embedded node (one process over SQLite), and the
 * fallback of the shared counters while their store is out of reach (docs/architecture.md §12).
 * A Map lookup and an increment: the token endpoint's admission stays as cheap as it was.
 */
export class MemoryCounter implements Counter {
  readonly kind = 'memory' as const;
  private readonly keys = new Map<string, Slots>();
  private lastSweep = 0;

  async add(key: string, n: number, at: number, window: CounterWindow): Promise<Count> {
    return this.addNow(key, n, at, window);
  }

  /** The same, without a promise: for callers on a synchronous path. */
  addNow(key: string, n: number, at: number, window: CounterWindow): Count {
    const buckets = bucketsOf(at, window);
    this.sweep(at);
    const name = storedKey(key, buckets);
    let slots = this.keys.get(name);
    if (!slots) {
      slots = { counts: new Map(), expiresAt: 0 };
      this.keys.set(name, slots);
    }
    slots.counts.set(buckets.current, (slots.counts.get(buckets.current) ?? 0) + n);
    slots.expiresAt = Math.max(slots.expiresAt, buckets.expiresAt);
    let count = 0;
    let since = buckets.current;
    for (const [start, value] of slots.counts) {
      if (start < buckets.oldest) {
        // Left the window: time only moves forward (give or take the order events arrive in).
        slots.counts.delete(start);
        continue;
      }
      if (start > buckets.current) continue;
      count += value;
      if (start < since) since = start;
    }
    return { count, since, resetAt: buckets.current + buckets.bucketMs };
  }

  async close(): Promise<void> {
    this.keys.clear();
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < SWEEP_MS) return;
    this.lastSweep = now;
    for (const [name, slots] of this.keys) if (slots.expiresAt <= now) this.keys.delete(name);
  }
}
