import cluster from 'node:cluster';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { type Config, workerCount } from './config.js';
import { openRuntime, startNode } from './node.js';
import { joinClusterMetrics, serveClusterMetrics, shareClusterMetrics } from './ops/cluster-metrics.js';
import { createLogger } from './ops/logging.js';
import { WorkerSupervisor } from './ops/workers.js';
import { migrateToLatest } from './store/migrate.js';

/** Graceful shutdown must finish within this long, or the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

/** How long open keep-alive connections of a stopping node may still bring a request. */
const IDLE_CONNECTION_GRACE_MS = 1_000;

/**
 * `mandate serve`: one process, or with `workers` above 1 a primary that prepares the database
 * once and supervises that many worker processes sharing the port (docs/architecture.md §8).
 */
export async function serve(config: Config): Promise<void> {
  if (cluster.isWorker) return serveNode(config, cluster.worker?.id);
  const count = workerCount(config.workers);
  if (count <= 1) return serveNode(config);
  return supervise(config, count);
}

/** One node listening: the whole server, or one worker of it (its log lines carry `worker`). */
async function serveNode(config: Config, workerId?: number): Promise<void> {
  let logger = createLogger(config.logLevel);
  if (workerId !== undefined) {
    logger = logger.child({ worker: workerId });
    joinClusterMetrics();
    // A terminal hang-up reaches the whole process group; the primary decides what happens.
    process.on('SIGHUP', () => {});
  }
  // The primary migrated before forking (and the migrator's lock is not one to contend for).
  const node = await startNode(workerId === undefined ? config : { ...config, migrateOnStart: false }, {
    processMetrics: true,
    logger,
  });
  if (workerId !== undefined) node.metrics.exposition = shareClusterMetrics(node.metrics.registry);
  const address = await node.app.listen({ host: config.host, port: config.port });
  logger.info({ address, issuer: config.issuer, database: node.runtime.store.dialect }, `Mandate listening on ${address}`);
  const stop = onStopSignal(logger, SHUTDOWN_GRACE_MS, () => {
    closeIdleConnectionsLater(node.app.server, IDLE_CONNECTION_GRACE_MS);
    return node.shutdown();
  });
  // Without its primary no connection reaches a worker any more: drain and go rather than linger.
  cluster.worker?.on('disconnect', () => stop('primary gone'));
}

/**
 * The primary: the master key and migrations once, before any worker starts (workers would
 * otherwise race to create them), then the workers. SIGHUP replaces them one at a time;
 * SIGTERM and SIGINT drain them all.
 */
async function supervise(config: Config, count: number): Promise<void> {
  const logger = createLogger(config.logLevel).child({ worker: 0 });
  const runtime = openRuntime(config, { logger });
  try {
    if (config.migrateOnStart) await migrateToLatest(runtime.store);
  } finally {
    await runtime.store.close();
  }
  serveClusterMetrics();
  const supervisor = new WorkerSupervisor({ count, logger, drainTimeoutMs: SHUTDOWN_GRACE_MS + 2_000 });
  process.on('SIGHUP', () => void supervisor.restart());
  // Workers have their own grace period; the primary waits a little longer for them.
  onStopSignal(logger, SHUTDOWN_GRACE_MS + 5_000, async () => {
    if (!(await supervisor.stop())) throw new Error('a worker did not stop cleanly');
  });
  try {
    await supervisor.start();
  } catch (error) {
    logger.error({ err: error }, 'workers did not start');
    await supervisor.stop();
    process.exit(1);
  }
  logger.info({ workers: count, pids: supervisor.pids }, `Mandate serving with ${count} workers; SIGHUP restarts them one at a time`);
}

/**
 * Node's `server.close()` also cuts every idle keep-alive connection at once, and a client may be
 * sending its next request on one at that very moment: it gets a reset instead of an answer.
 * So for `ms` an open connection may still bring a request, answered with `Connection: close`
 * (the closing app does that, app.ts); only those still idle then are cut.
 */
function closeIdleConnectionsLater(server: Server, ms: number): void {
  const closeIdle = server.closeIdleConnections.bind(server);
  server.closeIdleConnections = () => {};
  setTimeout(closeIdle, ms).unref();
}

/**
 * SIGTERM or SIGINT: run `stop` once, within `graceMs`, then exit 0 (1 if it failed or timed out).
 * Returns the same stop, for other reasons to stop.
 */
function onStopSignal(logger: Logger, graceMs: number, stop: () => Promise<void>): (signal: string) => void {
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    const force = setTimeout(() => {
      logger.error('graceful shutdown timed out');
      process.exit(1);
    }, graceMs);
    force.unref();
    stop().then(
      () => {
        logger.info('shutdown complete');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  return onSignal;
}
