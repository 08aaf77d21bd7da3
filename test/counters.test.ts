import { randomBytes } from 'node:crypto';
import { createClient } from '@redis/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Counter } from '../src/counters/counter.js';
import { FallbackCounter } from '../src/counters/fallback-counter.js';
import { MemoryCounter } from '../src/counters/memory-counter.js';
import { RedisCounter } from '../src/counters/redis-counter.js';
import { SqlCounter } from '../src/counters/sql-counter.js';
import { migrateToLatest } from '../src/store/migrate.js';
import { openStore, type Store } from '../src/store/store.js';
import { dialects } from './support/databases.js';
import { createTestDatabase, type TestDatabase } from './support/nodes.js';
import { freePort } from './support/ports.js';
import { startTcpProxy } from './support/tcp-proxy.js';

/** Redis for tests: `MANDATE_TEST_REDIS_URL`, default the local server; every suite writes under its own prefix. */
const REDIS_URL = process.env.MANDATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = () => `mandate-test-${randomBytes(4).toString('hex')}:`;

/** Two counters that share one store, as two nodes would: two pools on one database, two Redis clients. */
interface Shared {
  name: string;
  open(): Promise<{ a: Counter; b: Counter; close(): Promise<void> }>;
}

function sqlBackend(dialect: 'sqlite' | 'postgres'): Shared {
  return {
    name: dialect,
    open: async () => {
      const db: TestDatabase = await createTestDatabase(dialect);
      const stores: Store[] = [0, 1].map(() => openStore({ databaseUrl: db.databaseUrl, sqliteFile: `${db.dataDir}/mandate.db` }));
      await migrateToLatest(stores[0] as Store);
      const [a, b] = stores.map((store) => new SqlCounter({ store })) as [SqlCounter, SqlCounter];
      return {
        a,
        b,
        close: async () => {
          await Promise.all([a.close(), b.close()]);
          for (const store of stores) await store.close();
          await db.dispose();
        },
      };
    },
  };
}

const redisBackend: Shared = {
  name: 'redis',
  open: async () => {
    const keyPrefix = prefix();
    const [a, b] = [0, 1].map(() => new RedisCounter({ url: REDIS_URL, keyPrefix })) as [RedisCounter, RedisCounter];
    await until(() => a.connected && b.connected);
    return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
  },
};

async function until(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const T = Date.parse('2026-12-05T12:00:00.000Z');
const MINUTE = { ms: 60_000 };
const TEN_SECONDS = { ms: 10_000, bucketMs: 1_000 };

const backends: Shared[] = [
  { name: 'memory', open: async () => ({ a: new MemoryCounter(), b: new MemoryCounter(), close: async () => {} }) },
  ...dialects.map(sqlBackend),
  redisBackend,
];

describe.each(backends)('the $name counter', (backend) => {
  let a: Counter;
  let b: Counter;
  let close: () => Promise<void>;
  const shared = backend.name !== 'memory';
  beforeAll(async () => {
    ({ a, b, close } = await backend.open());
  });
  afterAll(async () => close?.());

  it('counts a fixed window aligned to the clock, and starts the next one at zero', async () => {
    expect(await a.add('fixed', 1, T + 1_000, MINUTE)).toEqual({ count: 1, since: T, resetAt: T + 60_000 });
    expect((await a.add('fixed', 4, T + 59_999, MINUTE)).count).toBe(5);
    expect(await a.add('fixed', 1, T + 60_000, MINUTE)).toEqual({ count: 1, since: T + 60_000, resetAt: T + 120_000 });
    // Another key, or the same key with another window, counts apart.
    expect((await a.add('other', 1, T + 1_000, MINUTE)).count).toBe(1);
    expect((await a.add('fixed', 1, T + 60_000, { ms: 30_000 })).count).toBe(1);
  });

  it('slides a window over its buckets: old buckets leave it, and `since` names the oldest one counted', async () => {
    await a.add('sliding', 3, T + 500, TEN_SECONDS);
    await a.add('sliding', 2, T + 4_200, TEN_SECONDS);
    expect(await a.add('sliding', 1, T + 9_900, TEN_SECONDS)).toMatchObject({ count: 6, since: T });
    // At 10.0 s the first bucket [0 s, 1 s) has left the window; the one of 4 s has not.
    expect(await a.add('sliding', 1, T + 10_000, TEN_SECONDS)).toMatchObject({ count: 4, since: T + 4_000 });
    expect(await a.add('sliding', 1, T + 13_999, TEN_SECONDS)).toMatchObject({ count: 5, since: T + 4_000 });
    expect(await a.add('sliding', 1, T + 14_000, TEN_SECONDS)).toMatchObject({ count: 4, since: T + 9_000 });
    expect(await a.add('sliding', 1, T + 30_000, TEN_SECONDS)).toMatchObject({ count: 1, since: T + 30_000 });
  });

  it.runIf(shared)('counts what two nodes add as one count, losing no increment under concurrency', async () => {
    const adds = await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).add('together', 1, T + 2_000, TEN_SECONDS)));
    // Each add saw the count right after its own increment: every value from 1 to 200 exactly once.
    expect(adds.map((c) => c.count).sort((x, y) => x - y)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect((await b.add('together', 0, T + 2_000, TEN_SECONDS)).count).toBe(200);
  });

  it.runIf(!shared)('memory counts only in its own process', async () => {
    await a.add('alone', 5, T, MINUTE);
    expect((await b.add('alone', 1, T, MINUTE)).count).toBe(1);
  });
});

describe.each(dialects)('the SQL counter on %s', (dialect) => {
  it('prunes buckets that have left every window', async () => {
    const { a, close } = await sqlBackend(dialect).open();
    const store = (a as unknown as { deps: { store: Store } }).deps.store;
    await a.add('old', 1, T, MINUTE);
    const count = async () => (await store.db.selectFrom('counters').select('key').execute()).length;
    expect(await count()).toBe(1);
    // The next add runs the pruning, in the background: close() waits for it.
    const later = new SqlCounter({ store });
    await later.add('new', 1, T + 3 * 60_000, MINUTE);
    await later.close();
    expect(await store.db.selectFrom('counters').select('key').execute()).toEqual([{ key: 'new|60000|60000' }]);
    await close();
  });
});

describe('the Redis counter', () => {
  it('keeps its keys under the prefix and lets them expire with their window', async () => {
    const keyPrefix = prefix();
    const counter = new RedisCounter({ url: REDIS_URL, keyPrefix });
    const raw = createClient({ url: REDIS_URL });
    await raw.connect();
    try {
      await until(() => counter.connected);
      await counter.add('agent-rate|agt_x', 2, Date.now(), MINUTE);
      const keys = await raw.keys(`${keyPrefix}*`);
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatch(new RegExp(`^${keyPrefix}\\{agent-rate\\|agt_x\\|60000\\|60000\\}:\\d+$`));
      const ttl = await raw.pTTL(keys[0] as string);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(61_000);
    } finally {
      await counter.close();
      await raw.close();
    }
  });
});

describe('when the shared store is out of reach', () => {
  const switches: string[] = [];
  const onSwitch = ({ to }: { to: string }) => void switches.push(to);

  it('a Redis nobody listens on: the node counts in memory at once, and never throws', async () => {
    switches.length = 0;
    const port = await freePort();
    const errors: unknown[] = [];
    const counter = new FallbackCounter({
      shared: new RedisCounter({ url: `redis://127.0.0.1:${port}`, keyPrefix: prefix(), onError: (e) => errors.push(e) }),
      onSwitch,
    });
    const started = Date.now();
    for (let i = 1; i <= 5; i += 1) expect((await counter.add('agent-rate|agt_down', 1, T, MINUTE)).count).toBe(i);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(counter.degraded).toBe(true);
    expect(switches).toEqual(['memory']);
    await counter.close();
  });

  it('Redis cut, stalled and back: memory within the timeout each time, then Redis again', async () => {
    switches.length = 0;
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(REDIS_URL).port || 6379) });
    const redis = new RedisCounter({ url: proxy.url('redis'), keyPrefix: prefix() });
    const counter = new FallbackCounter({ shared: redis, timeoutMs: 200, retryAfterMs: 300, onSwitch });
    const window = { ms: 3_600_000 };
    try {
      await until(() => redis.connected);
      expect((await counter.add('k', 10, T, window)).count).toBe(10);

      await proxy.cut();
      let started = Date.now();
      expect((await counter.add('k', 1, T, window)).count).toBe(1);
      expect(Date.now() - started).toBeLessThan(1000);
      expect(switches).toEqual(['memory']);

      await proxy.restore();
      await until(() => redis.connected, 5000);
      await new Promise((resolve) => setTimeout(resolve, 350));
      // Back in Redis: the count it held before the outage, plus this one.
      expect((await counter.add('k', 1, T, window)).count).toBe(11);
      expect(switches).toEqual(['memory', 'shared']);

      proxy.stall();
      started = Date.now();
      expect((await counter.add('k', 1, T, window)).count).toBe(2);
      expect(Date.now() - started).toBeLessThan(1000);
      expect(switches).toEqual(['memory', 'shared', 'memory']);
      await proxy.restore();
      await new Promise((resolve) => setTimeout(resolve, 350));
      // The stalled increment reached Redis once the connection flowed again.
      expect((await counter.add('k', 1, T, window)).count).toBe(13);
    } finally {
      await counter.close();
      await proxy.close();
    }
  });
});
