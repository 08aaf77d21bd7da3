import type { Clock } from '../clock.js';
import type { AuditCheckpoints } from './checkpoints.js';
import type { AuditRetention, PruneSummary } from './retention.js';

/** Seconds between the light checks for chains that grew by `checkpointEvents` (bounded by the pass interval). */
const GROWTH_CHECK_SECONDS = 5;

export interface AuditMaintenanceOptions {
  checkpoints: AuditCheckpoints;
  retention: AuditRetention;
  clock: Clock;
  /** Seconds between full passes (config `auditCheckpointIntervalSeconds`). */
  intervalSeconds: number;
  /** Growth that earns a checkpoint before the next full pass (config `auditCheckpointEvents`). */
  checkpointEvents: number;
}

export interface MaintenanceReport {
  /** Chains signed in this pass, at the seq signed. */
  checkpoints: { chainId: string; seq: number }[];
  retention: PruneSummary;
}

interface Logger {
  info(object: object, message: string): void;
  error(object: object, message: string): void;
}

/**
 * Keeps audit chains signed and pruned. A full pass, every `intervalSeconds`, prunes per each
 * organization's retention and then signs every chain whose head moved since its last checkpoint.
 * Between passes, a growth check every few seconds signs chains that grew by `checkpointEvents`:
 * it reads only the chain heads (one row per organization) and the newest checkpoint of each, so
 * a burst is signed promptly without adding anything to the append path (audit-log.ts).
 * Several nodes may run it at once: checkpoints of one head are deduplicated by their primary
 * key, and a prune re-checks the chain's base under the head lock.
 */
export class AuditMaintenance {
  private timer: NodeJS.Timeout | undefined;
  private lastPassAt: number;
  private queue: Promise<unknown> = Promise.resolve();
  private busy = false;

  constructor(private readonly options: AuditMaintenanceOptions) {
    this.lastPassAt = options.clock.now();
  }

  /** A full pass now: retention, then a checkpoint of every chain that moved. */
  runOnce(): Promise<MaintenanceReport> {
    return this.exclusive(async () => {
      this.lastPassAt = this.options.clock.now();
      const retention = await this.options.retention.pruneAll({ context: { actorId: 'system' } });
      const checkpoints = await this.signWhere((grown) => grown > 0);
      return { checkpoints, retention };
    });
  }

  /** What the timer runs: a full pass once the interval has passed, else the growth check. */
  tick(): Promise<MaintenanceReport> {
    if (this.options.clock.now() - this.lastPassAt >= this.options.intervalSeconds * 1000) return this.runOnce();
    return this.exclusive(async () => ({
      checkpoints: await this.signWhere((grown) => grown >= this.options.checkpointEvents),
      retention: { pruned: [], failed: [] },
    }));
  }

  /** Starts the timer (unref'd: it never keeps the process alive); ticks that would overlap are skipped. */
  start(logger: Logger): void {
    if (this.timer) return;
    const seconds = Math.min(this.options.intervalSeconds, GROWTH_CHECK_SECONDS);
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.tick().then(
        (report) => {
          for (const pruned of report.retention.pruned) logger.info({ ...pruned }, 'audit chain pruned');
          for (const failure of report.retention.failed)
            logger.error({ chainId: failure.chainId, err: failure.error }, 'audit retention failed');
        },
        (error: unknown) => logger.error({ err: error }, 'audit maintenance failed'),
      );
    }, seconds * 1000);
    this.timer.unref();
  }

  /** Stops the timer and waits for a pass in flight. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.queue.catch(() => {});
  }

  private async signWhere(due: (grown: number) => boolean): Promise<{ chainId: string; seq: number }[]> {
    const signed = [];
    for (const status of await this.options.checkpoints.statuses()) {
      if (!due(status.seq - status.checkpointSeq)) continue;
      await this.options.checkpoints.sign(status.chainId, status.seq, status.hash);
      signed.push({ chainId: status.chainId, seq: status.seq });
    }
    return signed;
  }

  /** One pass at a time per node, so a slow pass and the next tick never interleave. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      this.busy = true;
      try {
        return await work();
      } finally {
        this.busy = false;
      }
    });
    this.queue = run.catch(() => {});
    return run;
  }
}
