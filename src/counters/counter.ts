/**
 * The one counter abstraction behind per-agent rate limits and anomaly windows
 * (docs/architecture.md §12): add `n` to a key at a time, get back how many the key counted in
 * the window ending then. Memory on a single embedded node; the database or Redis when several
 * processes must count together.
 */

/**
 * A window of `ms`, counted in buckets of `bucketMs` (default: the whole window, a fixed window
 * aligned to the epoch). A sliding window of B buckets counts the bucket holding `at` and the
 * B - 1 before it: never an event older than the window, and at worst one bucket fewer than
 * an exact sliding log would.
 */
export interface CounterWindow {
  ms: number;
  bucketMs?: number;
}

export interface Count {
  /** Everything the key counted in the window, `n` included. */
  count: number;
  /** Start (epoch ms) of the oldest bucket of the window that holds a count. */
  since: number;
  /** When the bucket holding `at` ends (epoch ms): a fixed window's reset. */
  resetAt: number;
}

export interface Counter {
  /** Where it counts, for logs and metrics. */
  readonly kind: 'memory' | 'sql' | 'redis';
  /** Adds `n` to `key` at `at` (epoch ms) and returns the window's count. Atomic across nodes. */
  add(key: string, n: number, at: number, window: CounterWindow): Promise<Count>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}

/** The buckets a window spans at `at`: the current one's start, the oldest counted, their width. */
export interface Buckets {
  bucketMs: number;
  /** Start of the bucket holding `at`. */
  current: number;
  /** Start of the oldest bucket still in the window. */
  oldest: number;
  /** Number of buckets in the window. */
  span: number;
  /** When the current bucket has left the window: after this it is never read again. */
  expiresAt: number;
}

export function bucketsOf(at: number, window: CounterWindow): Buckets {
  const bucketMs = Math.max(1, Math.min(window.bucketMs ?? window.ms, window.ms));
  const span = Math.max(1, Math.ceil(window.ms / bucketMs));
  const current = Math.floor(at / bucketMs) * bucketMs;
  return { bucketMs, current, oldest: current - (span - 1) * bucketMs, span, expiresAt: current + span * bucketMs };
}

/** A key names its window and bucket width too, so a window whose settings change never reads old buckets. */
export function storedKey(key: string, buckets: Buckets): string {
  return `${key}|${buckets.span * buckets.bucketMs}|${buckets.bucketMs}`;
}

/** The shared store did not answer, or answered too late: the caller counts somewhere else. */
export class CounterUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CounterUnavailableError';
  }
}
