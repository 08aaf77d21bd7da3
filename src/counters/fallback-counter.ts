import type { Count, Counter, CounterWindow } from './counter.js';
import { MemoryCounter } from './memory-counter.js';

export interface FallbackCounterOptions {
  /** The counter every node shares: the database or Redis. */
  shared: Counter;
  /** An add that takes longer counts as a failure: the token endpoint must not wait on a hung store. */
  timeoutMs?: number;
  /** After a failure, count in memory for this long before trying the shared store again. */
  retryAfterMs?: number;
  /** Counting moved to memory (the error) or back to the shared store (undefined). */
  onSwitch?: (event: { to: 'memory' | 'shared'; kind: Counter['kind']; error?: unknown }) => void;
  now?: () => number;
}

/**
 * The shared counter, and this node's memory while it is out of reach (docs/architecture.md §12).
 * Limits then hold per node, as they did before counting was shared: a limit of L with N nodes
 * lets through at most N × L during the outage, never an unlimited burst, and an outage of the
 * counter store never turns into an outage of token issuance or decisions. Each switch is logged.
 */
export class FallbackCounter implements Counter {
  readonly kind: Counter['kind'];
  private readonly memory = new MemoryCounter();
  private readonly timeoutMs: number;
  private readonly retryAfterMs: number;
  private readonly now: () => number;
  /** Until when adds go to memory without trying the shared store; 0 while it answers. */
  private downUntil = 0;
  private down = false;

  constructor(private readonly options: FallbackCounterOptions) {
    this.kind = options.shared.kind;
    this.timeoutMs = options.timeoutMs ?? 250;
    this.retryAfterMs = options.retryAfterMs ?? 1000;
    this.now = options.now ?? Date.now;
  }

  /** Whether adds currently go to memory. */
  get degraded(): boolean {
    return this.down;
  }

  async add(key: string, n: number, at: number, window: CounterWindow): Promise<Count> {
    if (this.down && this.now() < this.downUntil) return this.memory.addNow(key, n, at, window);
    try {
      const count = await this.withTimeout(this.options.shared.add(key, n, at, window));
      if (this.down) {
        this.down = false;
        this.options.onSwitch?.({ to: 'shared', kind: this.kind });
      }
      return count;
    } catch (error) {
      if (!this.down) this.options.onSwitch?.({ to: 'memory', kind: this.kind, error });
      this.down = true;
      this.downUntil = this.now() + this.retryAfterMs;
      return this.memory.addNow(key, n, at, window);
    }
  }

  async close(): Promise<void> {
    await this.options.shared.close();
    await this.memory.close();
  }

  private withTimeout<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the ${this.kind} counter did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    // A late answer is dropped; its increment still counts in the shared store.
    work.catch(() => {});
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }
}
