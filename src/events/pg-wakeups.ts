import pg from 'pg';
import { WAKE_CHANNEL } from './outbox.js';

const MAX_BACKOFF_MS = 5_000;

export interface PgWakeupsOptions {
  databaseUrl: string;
  /** Names the connection in pg_stat_activity. */
  applicationName: string;
  connectTimeoutMs: number;
  /** A transaction that wrote events committed. */
  onWake: () => void;
  /** The connection was lost and is back: wake-ups sent meanwhile are gone. */
  onReconnect: () => void;
  onError: (error: unknown) => void;
}

/**
 * PostgreSQL LISTEN on one dedicated connection, reconnecting with backoff. Notifications carry
 * no data: they only wake the outbox follower, which reads the events (docs/architecture.md §10),
 * so a notification lost while reconnecting costs latency, never an event.
 */
export class PgWakeups {
  private listener: pg.Client | undefined;
  private closed = false;
  private backoffMs = 100;

  private constructor(private readonly options: PgWakeupsOptions) {}

  /** Resolves once listening. */
  static async start(options: PgWakeupsOptions): Promise<PgWakeups> {
    const wakeups = new PgWakeups(options);
    await wakeups.listen();
    return wakeups;
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.databaseUrl,
      application_name: this.options.applicationName,
      connectionTimeoutMillis: this.options.connectTimeoutMs,
      // LISTEN itself is bounded too: a server that accepts the connection and then hangs (paused)
      // must fail this attempt, not stall the reconnect loop (docs/architecture.md §11).
      query_timeout: this.options.connectTimeoutMs,
      keepAlive: true,
    });
    client.on('notification', (message) => {
      if (message.channel === WAKE_CHANNEL) this.options.onWake();
    });
    client.on('error', (error) => {
      this.options.onError(error);
      void this.reconnect(client);
    });
    client.on('end', () => void this.reconnect(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${WAKE_CHANNEL}`);
    } catch (error) {
      client.removeAllListeners();
      client.on('error', () => {});
      await client.end().catch(() => {});
      throw error;
    }
    if (this.closed) {
      client.removeAllListeners();
      await client.end().catch(() => {});
      return;
    }
    this.listener = client;
    this.backoffMs = 100;
  }

  private async reconnect(dead: pg.Client): Promise<void> {
    if (this.closed || this.listener !== dead) return;
    this.listener = undefined;
    dead.removeAllListeners();
    dead.on('error', () => {});
    dead.end().catch(() => {});
    while (!this.closed) {
      await new Promise((resolve) => setTimeout(resolve, this.backoffMs));
      if (this.closed) return;
      try {
        await this.listen();
        this.options.onReconnect();
        return;
      } catch (error) {
        this.options.onError(error);
        this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const listener = this.listener;
    this.listener = undefined;
    listener?.removeAllListeners();
    listener?.on('error', () => {});
    await listener?.end().catch(() => {});
  }
}
