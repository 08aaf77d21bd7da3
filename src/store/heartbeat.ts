import { sql } from 'kysely';
import type { Store } from './store.js';

export interface HeartbeatOptions {
  store: Store;
  intervalMs: number;
  /** The database answered. */
  onAnswer: () => void;
  /** The database stopped answering, or answers again: called on each change only. */
  onChange: (answering: boolean, error?: unknown) => void;
}

/**
 * `select 1` on the node's database every `intervalMs`, bounded by the store's query timeout: the
 * `database` source of a node's freshness (docs/architecture.md §11). A beat still waiting when
 * the next is due (a paused server) is not doubled; it simply confirms nothing.
 */
export class DatabaseHeartbeat {
  private timer: NodeJS.Timeout | undefined;
  private beating = false;
  private answering = true;

  constructor(private readonly options: HeartbeatOptions) {}

  start(): void {
    this.timer ??= setInterval(() => void this.beat(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async beat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    try {
      await sql`select 1`.execute(this.options.store.db);
      this.options.onAnswer();
      if (!this.answering) {
        this.answering = true;
        this.options.onChange(true);
      }
    } catch (error) {
      if (this.answering) {
        this.answering = false;
        this.options.onChange(false, error);
      }
    } finally {
      this.beating = false;
    }
  }
}
