import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';
import type { AuditContext, AuditInput, AuditLog } from './audit-log.js';
import { assertCanonicalDepth } from './canonical-json.js';

interface Pending {
  input: AuditInput;
  context: AuditContext;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** The most events written in one transaction (well under SQLite's and PostgreSQL's bind limits). */
const MAX_BATCH = 1000;

export interface AuditBatcherDeps {
  store: Store;
  audit: AuditLog;
}

/**
 * Group commit for events that record no state change (a token minted, a decision): every event
 * queued while the event loop turns is written in one transaction on the next turn, and each
 * caller's promise resolves once its event is durable (docs/architecture.md §7) — one commit per batch
 * instead of one per token, with no timer added to any request. Flushes run one at a time, so
 * chains stay in order; events queued during a flush go in the next one.
 */
export class AuditBatcher {
  private queue: Pending[] = [];
  private scheduled = false;
  private flushing: Promise<void> | undefined;

  constructor(private readonly deps: AuditBatcherDeps) {}

  /** Resolves when the event is committed; rejects if its batch failed. */
  record(input: AuditInput, context: AuditContext = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      try {
        assertCanonicalDepth(input.detail);
        assertCanonicalDepth(input.act);
      } catch (error) {
        reject(error);
        return;
      }
      this.queue.push({ input, context, resolve, reject });
      this.schedule();
    });
  }

  /** Writes whatever is queued; used at shutdown. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.flushing) {
      if (this.flushing) await this.flushing;
      else await this.flush();
    }
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    this.flushing = inTransaction(this.deps.store, (trx) => this.deps.audit.appendMany(trx, batch)).then(
      () => {
        for (const item of batch) item.resolve();
      },
      (error: unknown) => {
        for (const item of batch) item.reject(error);
      },
    );
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
    }
    if (this.queue.length > 0) this.schedule();
  }
}
