import fs from 'node:fs';

/**
 * Makes committed SQLite writes durable off the event loop (docs/architecture.md §7). SQLite runs
 * with `synchronous = NORMAL` in WAL mode, where a commit writes its frames to the `-wal` file
 * without fsync (the database stays consistent, but the last commits could be lost on power
 * failure); every write's caller then awaits {@link WalSync.sync}, an `fdatasync` of that file
 * on libuv's thread pool, before it goes on. That is the durability of `synchronous = FULL`
 * (a write is on disk before anyone is told it happened) without blocking the event loop for
 * the fsync, and concurrent commits share one fsync (group commit).
 *
 * fsync flushes a file, whichever descriptor names it; the WAL file is only deleted when the
 * last connection closes, and this process keeps its connection open while it syncs.
 */
export class WalSync {
  private fd: number | undefined;
  /** The fsync running now, and the one queued after it for writes committed while it ran. */
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(private readonly walFile: string) {}

  /** Resolves once every write committed before the call is on disk. */
  sync(): Promise<void> {
    // A sync already running may have started before this caller's commit: wait for the next one.
    if (this.running) {
      this.queued ??= this.running.then(
        () => this.start(),
        () => this.start(),
      );
      return this.queued;
    }
    return this.start();
  }

  /** Waits for syncs in flight, then closes the descriptor. */
  async close(): Promise<void> {
    await Promise.allSettled([this.running, this.queued]);
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private start(): Promise<void> {
    this.queued = undefined;
    this.fd ??= fs.openSync(this.walFile, 'r');
    const fd = this.fd;
    const running = new Promise<void>((resolve, reject) => fs.fdatasync(fd, (error) => (error ? reject(error) : resolve())));
    this.running = running;
    const clear = () => {
      if (this.running === running) this.running = undefined;
    };
    running.then(clear, clear);
    return running;
  }
}
