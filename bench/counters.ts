/**
 * `npm run bench:counters`: what one count costs on each counter (docs/architecture.md §12), the
 * round trip the per-agent rate limit adds to token issuance: a fixed minute window, one key per
 * agent. Sequential latency (p50/p99 in microseconds) and throughput with 64 adds in flight.
 * PostgreSQL from MANDATE_BENCH_PG_URL (migrated here; skipped when unset), Redis from
 * MANDATE_BENCH_REDIS_URL (skipped when unset). Writes bench/results/counters.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Counter } from '../src/counters/counter.js';
import { MemoryCounter } from '../src/counters/memory-counter.js';
import { RedisCounter } from '../src/counters/redis-counter.js';
import { SqlCounter } from '../src/counters/sql-counter.js';
import { migrateToLatest } from '../src/store/migrate.js';
import { openStore, type Store } from '../src/store/store.js';

const root = path.resolve(import.meta.dirname, '..');
const SEQUENTIAL = 3000;
const CONCURRENT = 20_000;
const IN_FLIGHT = 64;
const AGENTS = 100;
const MINUTE = { ms: 60_000 };

async function measure(name: string, counter: Counter): Promise<Record<string, unknown>> {
  for (let i = 0; i < 300; i += 1) await counter.add(`agent-rate|agt_${i % AGENTS}`, 1, Date.now(), MINUTE);
  const samples = new Float64Array(SEQUENTIAL);
  for (let i = 0; i < SEQUENTIAL; i += 1) {
    const start = process.hrtime.bigint();
    await counter.add(`agent-rate|agt_${i % AGENTS}`, 1, Date.now(), MINUTE);
    samples[i] = Number(process.hrtime.bigint() - start) / 1000;
  }
  samples.sort();
  const at = (q: number) => Number((samples[Math.min(SEQUENTIAL - 1, Math.floor(q * SEQUENTIAL))] as number).toFixed(1));
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < CONCURRENT) {
        next += 1;
        await counter.add(`agent-rate|agt_${next % AGENTS}`, 1, Date.now(), MINUTE);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const result = { counter: name, latency_us: { p50: at(0.5), p99: at(0.99) }, adds_per_second: Math.round(CONCURRENT / seconds) };
  process.stdout.write(
    `${name}: p50 ${result.latency_us.p50} µs, p99 ${result.latency_us.p99} µs, ${result.adds_per_second} adds/s with ${IN_FLIGHT} in flight\n`,
  );
  await counter.close();
  return result;
}

const results: Record<string, unknown>[] = [];
results.push(await measure('memory', new MemoryCounter()));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mandate-bench-counters-'));
const sqlite = openStore({ sqliteFile: path.join(dir, 'mandate.db') });
await migrateToLatest(sqlite);
results.push(await measure('sqlite', new SqlCounter({ store: sqlite })));
await sqlite.close();
fs.rmSync(dir, { recursive: true, force: true });

const pgUrl = process.env.MANDATE_BENCH_PG_URL;
if (pgUrl) {
  const store: Store = openStore({ databaseUrl: pgUrl });
  await migrateToLatest(store);
  results.push(await measure('postgres', new SqlCounter({ store })));
  await store.db.deleteFrom('counters').execute();
  await store.close();
}

const redisUrl = process.env.MANDATE_BENCH_REDIS_URL;
if (redisUrl) {
  const redis = new RedisCounter({ url: redisUrl, keyPrefix: `mandate-bench-${process.pid}:` });
  for (let i = 0; i < 100 && !redis.connected; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
  results.push(await measure('redis', redis));
}

const report = {
  name: 'counters',
  description: 'one add to a per-agent fixed minute window (the rate limit on token issuance), per counter',
  date: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  note: 'PostgreSQL and Redis on loopback on the same machine; a network hop adds its round trip',
  results,
};
fs.mkdirSync(path.join(root, 'bench/results'), { recursive: true });
fs.writeFileSync(path.join(root, 'bench/results/counters.json'), `${JSON.stringify(report, null, 2)}\n`);
