/** Time source passed down explicitly so tests can freeze or move it (docs/architecture.md §3.8). */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** ISO-8601 UTC timestamp as stored in every table. */
export function isoAt(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}
