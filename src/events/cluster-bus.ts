import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from '../store/store.js';
import { afterCommit, type Executor } from '../store/transaction.js';
import { type ClusterEvents, type EventBus, type Handler, LOCAL_TOPICS, type Topic } from './bus.js';
import { OutboxFollower } from './follower.js';
import type { Freshness } from './freshness.js';
import { LocalBus } from './local-bus.js';
import { EventOutbox } from './outbox.js';
import { PgWakeups } from './pg-wakeups.js';

export interface ClusterBusOptions {
  store: Store;
  logger: Pick<Logger, 'error' | 'warn' | 'info'>;
  /** How long the PostgreSQL wake-up connection may take to connect. */
  connectTimeoutMs: number;
  /**
   * Follow the outbox: a serving node. A CLI command only records events and leaves this out.
   * The follower confirms `events` on `freshness` after every catch-up.
   */
  follow?: { pollMs: number; freshness: Freshness };
}

/**
 * The cluster bus of one process (docs/architecture.md §10), on both databases: events are
 * written to the outbox in the transaction of the change they announce, delivered to this
 * process once that commits, and to every other process by its outbox follower, woken by
 * PostgreSQL NOTIFY (which carries no data) or its poll (SQLite, or a lost notification).
 */
export class ClusterBus implements EventBus {
  /** Marks the events this process wrote, which it has already delivered to itself. */
  readonly origin = randomBytes(8).toString('hex');
  private readonly local: LocalBus;
  private readonly outbox: EventOutbox;
  private follower: OutboxFollower | undefined;
  private wakeups: PgWakeups | undefined;

  private constructor(private readonly options: ClusterBusOptions) {
    this.local = new LocalBus((error, topic) => options.logger.error({ err: error, topic }, 'events handler failed'));
    this.outbox = new EventOutbox(options.store);
  }

  /** Opens the bus; when following, it listens and reads the outbox head before it resolves. */
  static async open(options: ClusterBusOptions): Promise<ClusterBus> {
    const bus = new ClusterBus(options);
    const { follow, store } = options;
    if (!follow) return bus;
    try {
      // Listening first, then reading the head: a change committed in between is delivered.
      if (store.databaseUrl) {
        bus.wakeups = await PgWakeups.start({
          databaseUrl: store.databaseUrl,
          applicationName: `mandate-events ${bus.origin}`,
          connectTimeoutMs: options.connectTimeoutMs,
          onWake: () => bus.follower?.wake(),
          onReconnect: () => bus.follower?.requestResync(),
          onError: (error) => options.logger.warn({ err: error }, 'events wake-up connection lost'),
        });
      }
      bus.follower = await OutboxFollower.start({
        outbox: bus.outbox,
        origin: bus.origin,
        dispatch: (topic, payload) => bus.local.deliver(topic, payload),
        resync: () => bus.local.deliverAndWait('bus.resynced', {}),
        pollMs: follow.pollMs,
        freshness: follow.freshness,
        logger: options.logger,
      });
    } catch (error) {
      await bus.close();
      throw error;
    }
    return bus;
  }

  async record<T extends Topic>(trx: Executor, topic: T, payload: ClusterEvents[T]): Promise<void> {
    if (!LOCAL_TOPICS.has(topic)) await this.outbox.append(trx, { topic, payload, origin: this.origin });
    afterCommit(trx, () => this.local.deliver(topic, payload));
  }

  async publish<T extends Topic>(topic: T, payload: ClusterEvents[T]): Promise<void> {
    // This node first: its next request must see the change even if the outbox write fails.
    this.local.deliver(topic, payload);
    if (!LOCAL_TOPICS.has(topic)) await this.outbox.append(this.options.store.db, { topic, payload, origin: this.origin });
  }

  subscribe<T extends Topic>(topic: T, handler: Handler<T>): () => void {
    return this.local.subscribe(topic, handler);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.follower?.close(), this.wakeups?.close()]);
    this.local.close();
  }
}
