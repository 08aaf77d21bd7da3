import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

export interface SupervisorOptions {
  /** Workers kept running. */
  count: number;
  logger: Logger;
  /** How long a worker asked to stop (SIGTERM) may take to drain before it is killed. */
  drainTimeoutMs: number;
  /** Delay before replacing a crashed worker; doubles with each crash in a row, up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A worker that served this long before it crashed resets the backoff. */
  stableAfterMs?: number;
}

/**
 * The primary process of `mandate serve --workers N` (docs/architecture.md §8): forks N workers
 * that share the listening port (node:cluster hands each accepted connection to one of them),
 * replaces a worker that dies, with a backoff so a worker that cannot start is not forked in a
 * tight loop, replaces them one at a time on a graceful restart, and stops them all. A worker is
 * asked to stop with SIGTERM, the signal a single `mandate serve` drains on: it stops accepting,
 * finishes its in-flight requests, flushes its buffers and closes the database.
 */
export class WorkerSupervisor {
  /** Workers that count towards `count`: serving, or starting. */
  private readonly live = new Set<Worker>();
  /** Workers asked to stop, until they exit. */
  private readonly retiring = new Set<Worker>();
  private readonly startedAt = new Map<Worker, number>();
  private crashesInARow = 0;
  private replaceTimer: NodeJS.Timeout | undefined;
  private restarting: Promise<void> | undefined;
  private restartAgain = false;
  private stopping = false;

  constructor(private readonly options: SupervisorOptions) {
    cluster.on('exit', (worker, code, signal) => this.exited(worker, code, signal));
  }

  /** Forks every worker; resolves once all listen (or rejects when one exits first). */
  async start(): Promise<void> {
    await Promise.all(Array.from({ length: this.options.count }, () => this.fork()));
  }

  /**
   * Replaces every worker, one at a time: a new worker starts and listens before the old one is
   * asked to drain, so the port never stops answering. A restart asked for during one runs once
   * more after it. If a new worker fails to start, the old ones keep serving.
   */
  restart(): Promise<void> {
    if (this.restarting) {
      this.restartAgain = true;
      return this.restarting;
    }
    this.restarting = (async () => {
      do {
        this.restartAgain = false;
        this.options.logger.info({ workers: this.live.size }, 'graceful restart: replacing workers one at a time');
        for (const old of [...this.live]) {
          if (this.stopping) return;
          if (!this.live.has(old)) continue; // It crashed meanwhile and was replaced already.
          try {
            await this.fork();
          } catch (error) {
            this.options.logger.error({ err: error }, 'graceful restart stopped: a new worker did not start; the others keep serving');
            return;
          }
          await this.retire(old);
        }
        this.options.logger.info('graceful restart complete');
      } while (this.restartAgain && !this.stopping);
    })().finally(() => {
      this.restarting = undefined;
    });
    return this.restarting;
  }

  /**
   * Asks every worker to drain and waits for all to exit; true when all exited cleanly (one still
   * starting may simply end on the SIGTERM: it had nothing in flight), false when one failed or had to be killed.
   */
  async stop(): Promise<boolean> {
    this.stopping = true;
    clearTimeout(this.replaceTimer);
    const all = [...this.live, ...this.retiring];
    const exits = await Promise.all(all.map((worker) => this.retire(worker)));
    return exits.every(({ code, signal }) => code === 0 || signal === 'SIGTERM');
  }

  /** Live worker processes' ids (for logs and tests). */
  get pids(): number[] {
    return [...this.live].flatMap((worker) => (worker.process.pid === undefined ? [] : [worker.process.pid]));
  }

  private fork(): Promise<void> {
    const worker = cluster.fork();
    this.live.add(worker);
    this.startedAt.set(worker, Date.now());
    this.options.logger.info({ workerId: worker.id, pid: worker.process.pid }, 'worker started');
    // A failed IPC send to a dying worker surfaces here; unhandled, it would end the primary.
    worker.on('error', (error) => this.options.logger.warn({ workerId: worker.id, err: error }, 'worker channel error'));
    return new Promise((resolve, reject) => {
      const listening = () => {
        worker.off('exit', exit);
        resolve();
      };
      const exit = (code: number | null, signal: string | null) => {
        worker.off('listening', listening);
        reject(new Error(`worker ${worker.id} exited before listening (code ${code}, signal ${signal})`));
      };
      worker.once('listening', listening);
      worker.once('exit', exit);
    });
  }

  /** SIGTERM, then SIGKILL when the worker has not exited within the drain timeout; resolves with how it exited. */
  private retire(worker: Worker): Promise<{ code: number | null; signal: string | null }> {
    this.live.delete(worker);
    this.retiring.add(worker);
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      const { exitCode, signalCode } = worker.process;
      if (exitCode !== null || signalCode !== null) resolve({ code: exitCode, signal: signalCode });
      else worker.process.once('exit', (code, signal) => resolve({ code, signal }));
    });
    worker.process.kill('SIGTERM');
    const kill = setTimeout(() => {
      this.options.logger.error({ workerId: worker.id }, 'worker did not drain in time: killing it');
      worker.process.kill('SIGKILL');
    }, this.options.drainTimeoutMs);
    kill.unref();
    return exited.finally(() => clearTimeout(kill));
  }

  private exited(worker: Worker, code: number | null, signal: string | null): void {
    const started = this.startedAt.get(worker) ?? Date.now();
    this.startedAt.delete(worker);
    if (this.retiring.delete(worker)) {
      this.options.logger.info({ workerId: worker.id, exitCode: code, signal }, 'worker stopped');
      return;
    }
    if (!this.live.delete(worker)) return;
    const { backoffMs = 500, maxBackoffMs = 30_000, stableAfterMs = 30_000 } = this.options;
    if (Date.now() - started >= stableAfterMs) this.crashesInARow = 0;
    this.crashesInARow += 1;
    const delay = Math.min(backoffMs * 2 ** (this.crashesInARow - 1), maxBackoffMs);
    this.options.logger.error({ workerId: worker.id, exitCode: code, signal, restartInMs: delay }, 'worker died: replacing it');
    if (this.stopping || this.replaceTimer) return;
    this.replaceTimer = setTimeout(() => {
      this.replaceTimer = undefined;
      if (this.stopping) return;
      while (this.live.size < this.options.count) {
        this.fork().catch((error: unknown) => this.options.logger.error({ err: error }, 'replacement worker did not start'));
      }
    }, delay);
  }
}
