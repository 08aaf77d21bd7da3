import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { ClusterEvents, EventBus, Handler, Topic } from './bus.js';
import { LocalBus } from './local-bus.js';

const CHANNEL = 'mandate_events';
const MAX_BACKOFF_MS = 5_000;

export interface PgBusOptions {
  databaseUrl: string;
  onError?: (error: unknown) => void;
}

/**
 * Cluster events over PostgreSQL LISTEN/NOTIFY. One dedicated connection listens; publishing
 * uses pg_notify on a short-lived query. After a lost connection it reconnects with backoff
 * and emits `bus.resynced`, because notifications sent meanwhile are gone for good.
 */
export class PgBus implements EventBus {
  private readonly local: LocalBus;
  private listener: pg.Client | undefined;
  private readonly publisher: pg.Pool;
  private closed = false;
  private backoffMs = 100;
  /** Marks this node's own notifications, which it has already delivered locally. */
  private readonly origin = randomBytes(8).toString('hex');

  private constructor(private readonly options: PgBusOptions) {
    this.local = new LocalBus((error) => options.onError?.(error));
    this.publisher = new pg.Pool({ connectionString: options.databaseUrl, max: 2 });
    this.publisher.on('error', (error) => options.onError?.(error));
  }

  /** Connects and starts listening before it resolves, so no event published after start is missed. */
  static async start(options: PgBusOptions): Promise<PgBus> {
    const bus = new PgBus(options);
    await bus.listen();
    return bus;
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.databaseUrl });
    client.on('notification', (message) => {
      if (message.channel !== CHANNEL || !message.payload) return;
      try {
        const { topic, payload, origin } = JSON.parse(message.payload) as { topic: Topic; payload: unknown; origin?: string };
        if (origin !== this.origin) this.local.deliver(topic, payload);
      } catch (error) {
        this.options.onError?.(error);
      }
    });
    client.on('error', (error) => {
      this.options.onError?.(error);
      void this.reconnect(client);
    });
    client.on('end', () => void this.reconnect(client));
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.listener = client;
    this.backoffMs = 100;
  }

  private async reconnect(dead: pg.Client): Promise<void> {
    if (this.closed || this.listener !== dead) return;
    this.listener = undefined;
    dead.removeAllListeners();
    dead.end().catch(() => {});
    while (!this.closed) {
      await new Promise((resolve) => setTimeout(resolve, this.backoffMs));
      try {
        await this.listen();
        this.local.deliver('bus.resynced', {});
        return;
      } catch (error) {
        this.options.onError?.(error);
        this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
      }
    }
  }

  /**
   * Delivers on this node at once (its next request must already see the change), then to the
   * others. NOTIFY payloads are limited to 8000 bytes; events carry ids only, never state.
   */
  async publish<T extends Topic>(topic: T, payload: ClusterEvents[T]): Promise<void> {
    this.local.deliver(topic, payload);
    await this.publisher.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify({ topic, payload, origin: this.origin })]);
  }

  subscribe<T extends Topic>(topic: T, handler: Handler<T>): () => void {
    return this.local.subscribe(topic, handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    const listener = this.listener;
    this.listener = undefined;
    listener?.removeAllListeners();
    await Promise.allSettled([listener?.end(), this.publisher.end(), this.local.close()]);
  }
}
