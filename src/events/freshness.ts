/**
 * Whether this node may still trust what it holds in memory (docs/architecture.md §11). Each
 * source it depends on (the database, the events outbox) confirms itself whenever it proves
 * current; once any tracked source has gone unconfirmed for longer than the bound, the node is
 * stale and fails closed: introspection answers inactive, decisions deny. A revocation the node
 * cannot have learnt of must never be outlived by a cached "active".
 */
export class Freshness {
  private readonly confirmedAt = new Map<string, number>();

  /**
   * `now` is monotonic real time, not the node's injectable clock: staleness is about how long
   * the node has really been cut off, which a test moving the clock forward must not fake.
   */
  constructor(
    private readonly boundMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Starts tracking `source`, counted as confirmed now (a node is loaded fresh before it serves). */
  track(source: string): void {
    this.confirmedAt.set(source, this.now());
  }

  /** `source` has just proved current. */
  confirm(source: string): void {
    if (this.confirmedAt.has(source)) this.confirmedAt.set(source, this.now());
  }

  /** The sources that have gone unconfirmed for longer than the bound; empty while fresh. */
  staleSources(): string[] {
    const now = this.now();
    const stale: string[] = [];
    for (const [source, at] of this.confirmedAt) if (now - at > this.boundMs) stale.push(source);
    return stale;
  }

  isStale(): boolean {
    const now = this.now();
    for (const at of this.confirmedAt.values()) if (now - at > this.boundMs) return true;
    return false;
  }
}
