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
}

export function openRuntime(config: Config, options: RuntimeOptions = {}): Runtime {
  const logger = options.logger ?? createLogger(config.logLevel);
  const master = resolveMasterKey(config.masterKey, config.dataDir);
  if (master.file && (master.created || options.keyFileWarning !== 'when-created')) {
    logger.warn(
      { file: master.file, created: master.created },
      'MANDATE_MASTER_KEY is not set: using a key file next to the data. Production must set MANDATE_MASTER_KEY.',
    );
  }
  const store = openStore({ databaseUrl: config.databaseUrl, sqliteFile: sqliteFileOf(config) });
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
  const runtime = openRuntime(config, options);
  let bus: ClusterBus | undefined;
  try {
    if (config.migrateOnStart) await migrateToLatest(runtime.store);
    const freshness = new Freshness(config.failClosedAfterSeconds * 1000);
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
        await opened.close();
        await runtime.store.close();
      },
    };
  } catch (error) {
    await bus?.close();
    await runtime.store.close();
    throw error;
  }
}
