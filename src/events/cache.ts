import type { Clock } from '../clock.js';

/**
 * A read-through cache of database rows that the events bus keeps honest: writers publish a
 * change, every node drops the key. Entries also expire after `ttlMs` as a safety net for
 * missed events. Misses are cached too, so a flood of unknown ids does not reach the database.
 */
export class InvalidatingCache<V> {
  private readonly entries = new Map<string, { value: V | undefined; until: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  async get(key: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
    const now = this.clock.now();
    const hit = this.entries.get(key);
    if (hit && hit.until > now) return hit.value;
    const value = await load();
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(key, { value, until: now + this.ttlMs });
    return value;
  }

  invalidate(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
