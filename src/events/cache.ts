import type { Clock } from '../clock.js';

/**
 * A read-through cache of database rows that the events bus keeps honest: writers publish a
 * change, every node drops the key. Entries also expire after `ttlMs` as a safety net for
 * missed events. Misses are cached too, so a flood of unknown ids does not reach the database.
 */
export class InvalidatingCache<V> {
  private readonly entries = new Map<string, { value: V | undefined; until: number }>();
  /** Bumped by every invalidation: a load that started before one must not store what it read. */
  private generation = 0;

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  async get(key: string, load: () => Promise<V | undefined>): Promise<V | undefined> {
    const now = this.clock.now();
    const hit = this.entries.get(key);
    if (hit && hit.until > now) return hit.value;
    const generation = this.generation;
    const value = await load();
    // A change announced while the row was being read may not be in what was read.
    if (generation !== this.generation) return value;
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(key, { value, until: now + this.ttlMs });
    return value;
  }

  invalidate(key: string): void {
    this.generation++;
    this.entries.delete(key);
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
  }
}
