import path from 'node:path';
import type { Logger } from 'pino';
import { buildApp, type Mandate } from './app.js';
import { type Clock, systemClock } from './clock.js';
import type { Config } from './config.js';
import { Envelope } from './crypto/envelope.js';
import { resolveMasterKey } from './crypto/master-key.js';
import type { EventBus } from './events/bus.js';
import { Freshness } from './events/freshness.js';
import { LocalBus } from './events/local-bus.js';
import { PgBus } from './events/pg-bus.js';
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

/** A cluster bus fitting the store: LISTEN/NOTIFY on PostgreSQL, in-process on SQLite. */
export async function openBus(runtime: Runtime): Promise<EventBus> {
  const onError = (error: unknown) => runtime.logger.error({ err: error }, 'events bus error');
  if (runtime.store.databaseUrl) return PgBus.start({ databaseUrl: runtime.store.databaseUrl, onError });
  return new LocalBus((error) => onError(error));
}

export interface MandateNode extends Mandate {
  runtime: Runtime;
  bus: EventBus;
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
  try {
    if (config.migrateOnStart) await migrateToLatest(runtime.store);
    const bus = await openBus(runtime);
    const freshness = new Freshness(config.failClosedAfterSeconds * 1000);
    const mandate = await buildApp({ ...runtime, bus, freshness, processMetrics: options.processMetrics ?? false });
    if (config.bootstrapAdminKey && (await mandate.adminKeys.bootstrap(config.bootstrapAdminKey))) {
      runtime.logger.info('installed MANDATE_BOOTSTRAP_ADMIN_KEY as the first admin key');
    }
    return {
      ...mandate,
      runtime,
      bus,
      freshness,
      shutdown: async () => {
        await mandate.close();
        await bus.close();
        await runtime.store.close();
      },
    };
  } catch (error) {
    await runtime.store.close();
    throw error;
  }
}
