import { EventEmitter } from 'node:events';
import type { Handler, Topic } from './bus.js';

/**
 * Delivery inside one process: the fan-out step of the cluster bus, for events this node made
 * and events it read from the outbox. A failing handler is reported, never allowed to stop the others.
 */
export class LocalBus {
  private readonly emitter = new EventEmitter();

  constructor(private readonly onHandlerError: (error: unknown, topic: Topic) => void = () => {}) {
    this.emitter.setMaxListeners(0);
  }

  /** Runs every handler of `topic`. */
  deliver(topic: Topic, payload: unknown): void {
    // Handlers start synchronously, so a cache invalidation is done when deliver() returns.
    for (const listener of this.emitter.listeners(topic)) {
      try {
        const result = (listener as (p: unknown) => unknown)(payload);
        if (result instanceof Promise) result.catch((error: unknown) => this.onHandlerError(error, topic));
      } catch (error) {
        this.onHandlerError(error, topic);
      }
    }
  }

  /** Runs every handler of `topic` and waits for them; false when any failed (each failure is reported). */
  async deliverAndWait(topic: Topic, payload: unknown): Promise<boolean> {
    const results = await Promise.allSettled(
      this.emitter.listeners(topic).map(async (listener) => (listener as (p: unknown) => unknown)(payload)),
    );
    let ok = true;
    for (const result of results) {
      if (result.status === 'fulfilled') continue;
      ok = false;
      this.onHandlerError(result.reason, topic);
    }
    return ok;
  }

  subscribe<T extends Topic>(topic: T, handler: Handler<T>): () => void {
    this.emitter.on(topic, handler);
    return () => this.emitter.off(topic, handler);
  }

  close(): void {
    this.emitter.removeAllListeners();
  }
}
