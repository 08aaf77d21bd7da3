import path from 'node:path';
import type { Logger } from 'pino';
import { buildApp, type Mandate } from './app.js';
import { type Clock, systemClock } from './clock.js';
import type { Config } from './config.js';
import { Envelope } from './crypto/envelope.js';
import { resolveMasterKey } from './crypto/master-key.js';
import { ClusterBus } from './events/cluster-bus.js';
import { Freshness } from './events/freshness.js';
import { createLogger } from './ops/logging.js';
import { DatabaseHeartbeat } from './store/heartbeat.js';
import { migrateToLatest } from './store/migrate.js';
import { openStore, type Store } from './store/store.js';

/** The SQLite file of the embedded default. */
export function sqliteFileOf(config: Config): string {
  return path.join(config.dataDir, 'mandate.db');
}

/** Store, master key and logger: what both the server and the CLI commands need. */
export interface Runtime {
  config: Config;
  store: Store;
  envelope: Envelope;
  clock: Clock;
  logger: Logger;
}

export interface RuntimeOptions {
  clock?: Clock;
  logger?: Logger;
  /** Warn about a master key file on every start (the server) or only when one is created (CLI). */
  keyFileWarning?: 'always' | 'when-created';
  /**
   * A serving node bounds every query and statement by the configured timeouts, so a hung
   * database fails requests quickly (docs/architecture.md §11); a CLI command (an export, a
   * verification of a long chain) may take as long as it needs.
   */
  serving?: boolean;
}

/** Connection errors arrive in bursts (every pooled connection at once): one log line per this long. */
const CONNECTION_ERROR_LOG_MS = 10_000;

export function openRuntime(config: Config, options: RuntimeOptions = {}): Runtime {
  const logger = options.logger ?? createLogger(config.logLevel);
  const master = resolveMasterKey(config.masterKey, config.dataDir);
  if (master.file && (master.created || options.keyFileWarning !== 'when-created')) {
    logger.warn(
      { file: master.file, created: master.created },
      'MANDATE_MASTER_KEY is not set: using a key file next to the data. Production must set MANDATE_MASTER_KEY.',
    );
  }
  let loggedAt = Number.NEGATIVE_INFINITY;
  const store = openStore({
    databaseUrl: config.databaseUrl,
    sqliteFile: sqliteFileOf(config),
    poolSize: config.dbPoolSize,
    connectTimeoutMs: config.dbConnectTimeoutMs,
    ...(options.serving && { queryTimeoutMs: config.dbQueryTimeoutMs, statementTimeoutMs: config.dbStatementTimeoutMs }),
    applicationName: options.serving ? 'mandate' : 'mandate-cli',
    onConnectionError: (error) => {
      if (performance.now() - loggedAt < CONNECTION_ERROR_LOG_MS) return;
      loggedAt = performance.now();
      // The message and code only: never the connection string, which may hold a password.
      logger.warn({ code: (error as { code?: unknown }).code, message: error.message }, 'database connection lost');
    },
  });
  return { config, store, envelope: new Envelope(master.key, config.previousMasterKeys), clock: options.clock ?? systemClock, logger };
}

/**
 * The cluster bus over the store's events outbox (docs/architecture.md §10). A serving node
 * passes its `freshness` and follows the outbox; a CLI command only records events.
 */
export async function openBus(runtime: Runtime, options: { freshness?: Freshness } = {}): Promise<ClusterBus> {
  const { config, store, logger } = runtime;
  return ClusterBus.open({
    store,
    logger,
    connectTimeoutMs: config.dbConnectTimeoutMs,
    ...(options.freshness && { follow: { pollMs: config.eventsPollMs, freshness: options.freshness } }),
  });
}

/** The database source of a node's freshness (docs/architecture.md §11): confirmed by a heartbeat. */
const DATABASE_SOURCE = 'database';

/** Beats a few times per fail-closed bound, at most once a second. */
function databaseHeartbeat(runtime: Runtime, freshness: Freshness): DatabaseHeartbeat {
  const { config, store, logger } = runtime;
  freshness.track(DATABASE_SOURCE);
  const heartbeat = new DatabaseHeartbeat({
    store,
    intervalMs: Math.min(1_000, (config.failClosedAfterSeconds * 1000) / 4),
    onAnswer: () => freshness.confirm(DATABASE_SOURCE),
    onChange: (answering, error) => {
      if (answering) logger.info('database answers again');
      else
        logger.error(
          { message: error instanceof Error ? error.message : String(error) },
          'database not answering: failing closed past MANDATE_FAIL_CLOSED_AFTER',
        );
    },
  });
  heartbeat.start();
  return heartbeat;
}

export interface MandateNode extends Mandate {
  runtime: Runtime;
  bus: ClusterBus;
  freshness: Freshness;
  /** Closes the app, then the bus and the database, in that order. */
  shutdown(): Promise<void>;
}

/**
 * Starts one node: database (migrated when configured), bus, keys, bootstrap admin key, app.
 * It does not listen; `mandate serve` and tests decide how to expose it.
 */
export async function startNode(
  config: Config,
  options: { clock?: Clock; logger?: Logger; processMetrics?: boolean } = {},
): Promise<MandateNode> {
  const runtime = openRuntime(config, { ...options, serving: true });
  let bus: ClusterBus | undefined;
  let heartbeat: DatabaseHeartbeat | undefined;
  try {
    if (config.migrateOnStart) await migrateToLatest(runtime.store);
    const freshness = new Freshness(config.failClosedAfterSeconds * 1000);
    heartbeat = databaseHeartbeat(runtime, freshness);
    // Before the modules load their state: the follower starts at the outbox head read now.
    const opened = await openBus(runtime, { freshness });
    bus = opened;
    const mandate = await buildApp({ ...runtime, bus: opened, freshness, processMetrics: options.processMetrics ?? false });
    if (config.bootstrapAdminKey && (await mandate.adminKeys.bootstrap(config.bootstrapAdminKey))) {
      runtime.logger.info('installed MANDATE_BOOTSTRAP_ADMIN_KEY as the first admin key');
    }
    return {
      ...mandate,
      runtime,
      bus: opened,
      freshness,
      shutdown: async () => {
        await mandate.close();
        heartbeat?.stop();
        await opened.close();
        await runtime.store.close();
      },
    };
  } catch (error) {
    heartbeat?.stop();
    await bus?.close();
    await runtime.store.close();
    throw error;
  }
}
