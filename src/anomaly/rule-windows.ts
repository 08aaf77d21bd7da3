import { bucketsOf, type Counter, type CounterWindow } from '../counters/counter.js';
import type { Finding, Tally } from './rules.js';

/** A rule's window counted in ten buckets: sliding, to a tenth of the window (docs/architecture.md §12). */
export function ruleWindow(windowSeconds: number): CounterWindow {
  return { ms: windowSeconds * 1000, bucketMs: windowSeconds * 100 };
}

/**
 * Counts the windowed rules' tallies in the node's counter and returns the findings they tip.
 * A batch's tallies of one key and bucket are added in one call (`add n`), so a burst costs a
 * round trip per key rather than per event; the event that crossed the threshold is still the one
 * reported. A finding fires once per rule, agent and window across all nodes: the first node to
 * tip it claims the window in the counter, and the others see the claim.
 */
export class RuleWindows {
  constructor(private readonly counter: Counter) {}

  async count(tallies: readonly Tally[]): Promise<Finding[]> {
    // Per key, its tallies by bucket, in the order they came.
    const keys = new Map<string, Map<number, Tally[]>>();
    for (const tally of tallies) {
      const bucket = bucketsOf(tally.t, ruleWindow(tally.windowSeconds)).current;
      let buckets = keys.get(tally.key);
      if (!buckets) {
        buckets = new Map();
        keys.set(tally.key, buckets);
      }
      const group = buckets.get(bucket);
      if (group) group.push(tally);
      else buckets.set(bucket, [tally]);
    }
    // Keys are independent and counted side by side; a key's buckets one after the other.
    const perKey = await Promise.all(
      [...keys.values()].map(async (buckets) => {
        const found: Finding[] = [];
        for (const group of buckets.values()) {
          const finding = await this.countGroup(group);
          if (finding) found.push(finding);
        }
        return found;
      }),
    );
    return perKey.flat();
  }

  private async countGroup(group: readonly Tally[]): Promise<Finding | undefined> {
    const last = group.at(-1) as Tally;
    const window = ruleWindow(last.windowSeconds);
    let tipping = last;
    let count = 1;
    let since = last.event.at;
    if (last.threshold !== null) {
      const counted = await this.counter.add(last.key, group.length, last.t, window);
      const before = counted.count - group.length;
      const index = group.findIndex((_, i) => last.fires(before + i + 1));
      if (index < 0) return undefined;
      tipping = group[index] as Tally;
      count = before + index + 1;
      since = new Date(counted.since).toISOString();
    }
    const claim = await this.counter.add(`fired|${last.key}`, 1, tipping.t, { ms: window.ms });
    if (claim.count !== 1) return undefined;
    return {
      ...tipping.event,
      rule: tipping.rule,
      count,
      threshold: tipping.threshold,
      windowSeconds: tipping.windowSeconds,
      since,
      detail: tipping.detail,
    };
  }
}
