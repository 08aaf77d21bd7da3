import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../../clock.js';
import { type Envelope, EnvelopeError } from '../../crypto/envelope.js';
import type { Metrics } from '../../ops/metrics.js';
import type { AuditEventsTable } from '../../store/schema.js';
import type { Store } from '../../store/store.js';
import { inTransaction } from '../../store/transaction.js';
import { type CheckpointLine, checkpointLine, type EventLine, eventLine } from '../export.js';
import { type BackoffOptions, DEFAULT_BACKOFF, retryDelayMs } from './backoff.js';
import { postJson, SinkDeliveryError } from './post.js';
import { SIGNATURE_HEADER, signatureHeader } from './signature.js';
import { sinkSecretContext } from './sinks.js';
import { type AuditSinkRow, AuditSinkStore } from './store.js';

export interface SinkDeliveryOptions {
  store: Store;
  envelope: Envelope;
  clock: Clock;
  /** Attempts at one batch before it is dead-lettered (config `auditSinkMaxAttempts`). */
  maxAttempts: number;
  /** Development only: deliver to http:// and loopback receivers. */
  allowLoopback: boolean;
  backoff?: BackoffOptions;
  /** Deadline of one POST. */
  timeoutMs?: number;
  /** How long a node owns a sink once it takes it; well above one POST's deadline. */
  leaseMs?: number;
  /** Events per POST. */
  batchSize?: number;
}

/** What the running loop reports to: set by {@link SinkDelivery.start}. */
export interface DeliveryObservers {
  metrics: Pick<Metrics, 'auditSinkDeliveries' | 'auditSinkDeadLetters'>;
  logger: Logger;
  /** Milliseconds between passes. */
  intervalMs?: number;
}

/**
 * The JSON body of one delivery, signed as a whole by `x-mandate-signature`.
 *
 * - `from_seq`/`to_seq`: the batch's range of event seqs. A failed batch is retried with the same
 *   range (delivery is at least once), so receivers deduplicate on `(sink_id, from_seq, to_seq)`
 *   read from this signed body; the `x-mandate-delivery` header repeats it but is not signed.
 * - `events`: the events `from_seq`..`to_seq` in chain order, as lines of the export format
 *   (audit/export.ts `EventLine`): every column as stored, `detail` and `act` the JSON strings
 *   that were hashed, so a receiver recomputes each `hash` (audit/chain.ts) and checks that each
 *   `prev_hash` is the previous event's `hash`, across batches too.
 * - `checkpoints`: the chain's signed checkpoints (export `CheckpointLine`) whose seq falls in the
 *   range, preceded by the newest one before it (so one signed after its events went out still
 *   arrives, with the next batch). A receiver verifies each `jws` against the issuer's JWKS and
 *   keeps it; the same checkpoint can arrive more than once (deduplicate on `chain_id`, `seq`),
 *   and a retry may carry more checkpoints than the first attempt did.
 */
export interface SinkPayload {
  sink_id: string;
  chain_id: string;
  from_seq: number;
  to_seq: number;
  events: EventLine[];
  checkpoints: CheckpointLine[];
}

/** Sinks one pass looks at, and batches it sends to one sink before letting the next pass continue. */
const SINKS_PER_PASS = 50;
const BATCHES_PER_SINK = 20;

/**
 * Delivers each organization's audit chain to its webhook sinks, at least once and in order.
 *
 * Every node runs the loop; a sink is delivered by whichever node holds its lease (a
 * conditional UPDATE, so it works on SQLite and PostgreSQL alike). A batch is the next events
 * after `delivered_seq`; a 2xx moves `delivered_seq` past it, so a crash between the POST and
 * that write only means the receiver sees the batch again, with the same signed `from_seq` and
 * `to_seq` ({@link SinkPayload}). A failure pins the batch and retries it with exponential
 * backoff; after `maxAttempts` it is dead-lettered and delivery moves on. A sink whose
 * organization was deleted is disabled and sent nothing more.
 */
export class SinkDelivery {
  /** This node's name in `lease_owner`. */
  readonly owner = `node_${randomBytes(8).toString('hex')}`;
  private readonly sinks: AuditSinkStore;
  private readonly backoff: BackoffOptions;
  private readonly timeoutMs: number;
  private readonly leaseMs: number;
  private readonly batchSize: number;
  private observers: DeliveryObservers | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: SinkDeliveryOptions) {
    this.sinks = new AuditSinkStore(options.store.db);
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.batchSize = options.batchSize ?? 100;
  }

  /** Starts the loop; its timer does not keep the process alive. */
  start(observers: DeliveryObservers): void {
    this.observers = observers;
    this.stopped = false;
    this.timer = setInterval(() => {
      if (!this.running) void this.deliverDue();
    }, observers.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Stops the loop and waits for the pass in flight, so shutdown never cuts a delivery's bookkeeping short. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    while (this.running) await this.running;
  }

  /** Runs one pass now, after the one in flight if any: every due sink gets its next batches. */
  async deliverDue(): Promise<void> {
    while (this.running) await this.running;
    if (this.stopped) return;
    this.running = this.pass().finally(() => {
      this.running = undefined;
    });
    await this.running;
  }

  private async pass(): Promise<void> {
    try {
      const { due, orphaned } = await this.sinks.dueIds(this.at(0), SINKS_PER_PASS);
      for (const id of orphaned) await this.sinks.disableOrphan(id, this.at(0));
      await Promise.all(due.map((id) => this.deliverSink(id)));
    } catch (error) {
      this.observers?.logger.error({ err: error }, 'audit sink delivery pass failed');
    }
  }

  private async deliverSink(id: string): Promise<void> {
    let sink = await this.sinks.claim(id, this.owner, this.at(0), this.at(this.leaseMs));
    if (!sink) return;
    try {
      const secret = await this.openSecret(sink);
      if (secret === undefined) {
        const events = await this.sinks.batch(sink.chain_id, sink.delivered_seq, sink.batch_to_seq, this.batchSize);
        const [first, last] = [events[0], events.at(-1)];
        if (first && last)
          await this.recordFailure(sink, first.seq, last.seq, 'the sink secret cannot be opened with the configured master keys');
        return;
      }
      for (let i = 0; i < BATCHES_PER_SINK && sink; i++) {
        let events = await this.sinks.batch(sink.chain_id, sink.delivered_seq, sink.batch_to_seq, this.batchSize);
        // A pinned batch whose events are gone (pruned): nothing of it is left to send.
        if (events.length === 0 && sink.batch_to_seq !== null) {
          sink = await this.sinks.markDelivered(id, this.owner, sink.batch_to_seq, this.at(0), this.at(this.leaseMs));
          if (!sink) return;
          events = await this.sinks.batch(sink.chain_id, sink.delivered_seq, null, this.batchSize);
        }
        const first = events[0];
        const last = events.at(-1);
        if (!first || !last) return;
        const error = await this.send(sink, secret, events);
        if (error) {
          await this.recordFailure(sink, first.seq, last.seq, error);
          return;
        }
        this.observers?.metrics.auditSinkDeliveries.inc({ result: 'success' });
        sink = await this.sinks.markDelivered(id, this.owner, last.seq, this.at(0), this.at(this.leaseMs));
        if (events.length < this.batchSize) return;
      }
    } catch (error) {
      this.observers?.logger.error({ err: error, sink_id: id }, 'audit sink delivery failed');
    } finally {
      await this.sinks.release(id, this.owner).catch(() => {});
    }
  }

  /**
   * The sink's HMAC secret, re-sealed under the current master key when an older one sealed it;
   * undefined when no configured master key opens it (a retired key dropped from the ring).
   */
  private async openSecret(sink: AuditSinkRow): Promise<string | undefined> {
    const context = sinkSecretContext(sink.id);
    let secret: string;
    try {
      secret = this.options.envelope.open(sink.secret_ciphertext, context);
    } catch (error) {
      if (error instanceof EnvelopeError) return undefined;
      throw error;
    }
    if (this.options.envelope.needsReseal(sink.secret_ciphertext)) {
      await this.sinks.reseal(sink.id, this.options.envelope.seal(secret, context));
    }
    return secret;
  }

  /** POSTs one batch; resolves with the reason it failed, or undefined on a 2xx. */
  private async send(sink: AuditSinkRow, secret: string, events: AuditEventsTable[]): Promise<string | undefined> {
    const fromSeq = (events[0] as AuditEventsTable).seq;
    const toSeq = (events.at(-1) as AuditEventsTable).seq;
    const payload: SinkPayload = {
      sink_id: sink.id,
      chain_id: sink.chain_id,
      from_seq: fromSeq,
      to_seq: toSeq,
      events: events.map(eventLine),
      checkpoints: (await this.sinks.checkpoints(sink.chain_id, fromSeq, toSeq)).map(checkpointLine),
    };
    const body = JSON.stringify(payload);
    const timestamp = Math.floor(this.options.clock.now() / 1000);
    try {
      await postJson(
        sink.url,
        body,
        {
          'content-type': 'application/json',
          'user-agent': 'mandate-audit-sink/1',
          [SIGNATURE_HEADER]: signatureHeader(secret, timestamp, body),
          'x-mandate-delivery': `${sink.id}:${fromSeq}-${toSeq}`,
        },
        { allowLoopback: this.options.allowLoopback, timeoutMs: this.timeoutMs },
      );
      return undefined;
    } catch (error) {
      if (error instanceof SinkDeliveryError) return error.message;
      throw error;
    }
  }

  private async recordFailure(sink: AuditSinkRow, fromSeq: number, toSeq: number, error: string): Promise<void> {
    const { metrics, logger } = this.observers ?? {};
    metrics?.auditSinkDeliveries.inc({ result: 'failure' });
    const attempts = sink.attempts + 1;
    const at = this.at(0);
    if (attempts >= this.options.maxAttempts) {
      const letter = { fromSeq, toSeq, attempts, error, at };
      const recorded = await inTransaction(this.options.store, (trx) => this.sinks.deadLetter(trx, sink.id, this.owner, letter));
      if (recorded) {
        metrics?.auditSinkDeadLetters.inc();
        logger?.warn({ sink_id: sink.id, from_seq: fromSeq, to_seq: toSeq, attempts, error }, 'audit sink batch dead-lettered');
      }
      return;
    }
    const nextAttemptAt = this.at(retryDelayMs(attempts, this.backoff));
    await this.sinks.markFailed(sink.id, this.owner, { attempts, nextAttemptAt, error, toSeq, now: at });
    logger?.info(
      { sink_id: sink.id, from_seq: fromSeq, to_seq: toSeq, attempts, error, next_attempt_at: nextAttemptAt },
      'audit sink delivery failed; will retry',
    );
  }

  /** The clock's time plus `offsetMs`, as stored. */
  private at(offsetMs: number): string {
    return new Date(this.options.clock.now() + offsetMs).toISOString();
  }
}
