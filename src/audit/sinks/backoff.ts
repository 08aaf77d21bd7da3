/** How retries of a failed webhook batch are spaced. */
export interface BackoffOptions {
  /** Delay after the first failure, in milliseconds. */
  baseMs: number;
  /** Longest delay before jitter, in milliseconds. */
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, capMs: 5 * 60 * 1000 };

/**
 * Exponential backoff with jitter: `base · 2^(attempt − 1)`, capped, plus up to 25 % random
 * jitter so sinks that failed together do not retry in lockstep. Because the jitter stays below
 * the doubling, each delay is longer than the one before until the cap.
 */
export function retryDelayMs(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const exponential = Math.min(options.capMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential * (1 + 0.25 * random()));
}
