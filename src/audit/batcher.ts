import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';
import type { AuditContext, AuditInput, AuditLog } from './audit-log.js';

interface Pending {
  input: AuditInput;
  context: AuditContext;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for events that record no state change (a token minted, a decision): concurrent
 * requests' events are written together in one transaction every few milliseconds, and each
 * caller's promise resolves once its event is durable (DESIGN.md §7) — one fsync per batch
 * instead of one per token. Flushes run one at a time, so chains stay in order.
 */
export class AuditBatcher {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly audit: AuditLog,
    private readonly options: { maxDelayMs: number; maxBatch: number } = { maxDelayMs: 2, maxBatch: 1000 },
  ) {}

  /** Resolves when the event is committed; rejects if its batch failed. */
  record(input: AuditInput, context: AuditContext = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ input, context, resolve, reject });
      if (this.queue.length >= this.options.maxBatch) this.schedule(0);
      else this.schedule(this.options.maxDelayMs);
    });
  }

  /** Writes whatever is queued; used at shutdown. */
  async drain(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0 || this.flushing) await this.flush();
  }

  private schedule(delayMs: number): void {
    if (this.timer && delayMs > 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delayMs);
  }

  private async flush(): Promise<void> {
    if (this.flushing) {
      await this.flushing;
      if (this.queue.length > 0 && !this.timer) this.schedule(0);
      return;
    }
    const batch = this.queue.splice(0, this.options.maxBatch);
    if (batch.length === 0) return;
    this.flushing = inTransaction(this.store, async (trx) => {
      for (const item of batch) await this.audit.append(trx, item.input, item.context);
    }).then(
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
    if (this.queue.length > 0) this.schedule(0);
  }
}
