import type { EventBus } from './events/bus.js';
import type { LifecycleHooks } from './platform.js';

export interface LifecycleDeps {
  bus: EventBus;
  /** How often caches are reconciled against the database and housekeeping runs. */
  reconcileIntervalSeconds: number;
  onError: (error: unknown) => void;
}

/**
 * The one owner of a node's timers, subscriptions and close order (docs/architecture.md §3.8).
 * Modules say what they need done (platform.ts LifecycleHooks); this runs it, in the modules'
 * order, and undoes it in the reverse.
 */
export class Lifecycle {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly unsubscribes: (() => void)[] = [];
  private started = false;

  constructor(
    private readonly hooks: readonly LifecycleHooks[],
    private readonly deps: LifecycleDeps,
  ) {}

  /** Loads every cache, then follows the bus, starts the timers and the background workers. */
  async start(): Promise<void> {
    for (const hook of this.hooks) await hook.load?.();
    const { bus, reconcileIntervalSeconds, onError } = this.deps;
    // The node may have missed events (docs/architecture.md §10): reload what liveness reads at
    // once rather than at the next reconcile. The returned promise tells the outbox follower
    // whether it worked; it tries again at its next catch-up if not.
    this.unsubscribes.push(bus.subscribe('bus.resynced', () => this.reload()));
    this.every(reconcileIntervalSeconds * 1000, () => {
      this.reload().catch(onError);
      for (const hook of this.hooks) hook.reconcile?.().catch(onError);
    });
    for (const hook of this.hooks) {
      const own = hook.every;
      if (own) this.every(own.ms, () => own.run().catch(onError));
    }
    for (const hook of this.hooks) hook.start?.();
    this.started = true;
  }

  /** Stops following the bus and the timers, then the workers, newest first. */
  async stop(): Promise<void> {
    for (const unsubscribe of this.unsubscribes.splice(0)) unsubscribe();
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    if (!this.started) return;
    for (const hook of [...this.hooks].reverse()) await hook.stop?.();
  }

  /** Once the app has stopped taking requests: flushes every buffer, in the modules' order. */
  async drain(): Promise<void> {
    for (const hook of this.hooks) await hook.drain?.();
  }

  /** Every module's reload, together; rejects with the first failure once all have settled. */
  private async reload(): Promise<void> {
    const results = await Promise.allSettled(this.hooks.map((hook) => hook.reload?.()));
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private every(ms: number, run: () => void): void {
    const timer = setInterval(run, ms);
    timer.unref();
    this.timers.push(timer);
  }
}
