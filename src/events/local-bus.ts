import { EventEmitter } from 'node:events';
import type { ClusterEvents, EventBus, Handler, Topic } from './bus.js';

/**
 * Delivery inside one process; the transport for a single node, and the fan-out step of the
 * PostgreSQL bus. A failing handler is reported, never allowed to stop the others.
 */
export class LocalBus implements EventBus {
  private readonly emitter = new EventEmitter();

  constructor(private readonly onHandlerError: (error: unknown, topic: Topic) => void = () => {}) {
    this.emitter.setMaxListeners(0);
  }

  async publish<T extends Topic>(topic: T, payload: ClusterEvents[T]): Promise<void> {
    this.deliver(topic, payload);
  }

  /** Runs every handler of `topic`; used by transports that received a message from elsewhere. */
  deliver(topic: Topic, payload: unknown): void {
    // Handlers start synchronously, so a cache invalidation is done when publish() returns.
    for (const listener of this.emitter.listeners(topic)) {
      try {
        const result = (listener as (p: unknown) => unknown)(payload);
        if (result instanceof Promise) result.catch((error: unknown) => this.onHandlerError(error, topic));
      } catch (error) {
        this.onHandlerError(error, topic);
      }
    }
  }

  subscribe<T extends Topic>(topic: T, handler: Handler<T>): () => void {
    this.emitter.on(topic, handler);
    return () => this.emitter.off(topic, handler);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}
