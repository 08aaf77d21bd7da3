import cluster from 'node:cluster';
import type { Logger } from 'pino';
import { type Config, workerCount } from '../config.js';
import type { Store } from '../store/store.js';
import type { Counter } from './counter.js';
import { FallbackCounter } from './fallback-counter.js';
import { MemoryCounter } from './memory-counter.js';
import { RedisCounter } from './redis-counter.js';
import { SqlCounter } from './sql-counter.js';

export interface OpenCounterOptions {
  config: Pick<Config, 'redisUrl' | 'redisKeyPrefix' | 'workers'>;
  store: Store;
  logger: Logger;
  /** Counting went local (true) or shared again (false): for a metric operators alert on. */
  onLocal?: (local: boolean) => void;
}

/**
 * Where this node counts per-agent rate limits and anomaly windows: the one place that decides
 * (docs/architecture.md §12).
 * - `MANDATE_REDIS_URL` set: Redis.
 * - PostgreSQL: the `counters` table, which every node shares.
 * - SQLite with worker processes: the same table in the shared file, so the workers count together.
 * - SQLite, one process: memory, as fast as before.
 * A shared counter falls back to memory while its store is out of reach.
 */
export function openCounter(options: OpenCounterOptions): Counter {
  const { config, store, logger } = options;
  // Worker processes (serve.ts) share the SQLite file, and so must their counts.
  const sharedSqlite = cluster.isWorker || workerCount(config.workers) > 1;
  let shared: Counter;
  if (config.redisUrl) {
    let lastError = 0;
    shared = new RedisCounter({
      url: config.redisUrl,
      keyPrefix: config.redisKeyPrefix,
      // The client reports every failed reconnect: once every 30 s is enough to see Redis is down.
      onError: (error) => {
        if (Date.now() - lastError < 30_000) return;
        lastError = Date.now();
        logger.warn({ err: error }, 'Redis counter connection failed; counting in memory until it is back');
      },
    });
  } else if (store.dialect === 'postgres' || sharedSqlite) {
    shared = new SqlCounter({ store, onPruneError: (error) => logger.warn({ err: error }, 'pruning expired counters failed') });
  } else {
    return new MemoryCounter();
  }
  return new FallbackCounter({
    shared,
    onSwitch: ({ to, kind, error }) => {
      options.onLocal?.(to === 'memory');
      if (to === 'memory')
        logger.error(
          { err: error, counter: kind },
          'cluster-wide counter unreachable: limits and anomaly windows count per node until it is back',
        );
      else logger.info({ counter: kind }, 'cluster-wide counter reachable again: limits and anomaly windows count across nodes');
    },
  });
}
