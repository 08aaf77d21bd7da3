/**
 * `npm run bench:workers -- [--duration 10] [--connections 50] [--pg postgres://…/db]`
 *
 * `mandate serve` with 1 and then 2 worker processes (`MANDATE_WORKERS`), each over a fresh
 * database: client_credentials and /v1/authz/check (the `client-credentials` and `authz-check`
 * scenarios of bench/scenarios.ts), on SQLite and, with `--pg` (a PostgreSQL server where a
 * scratch database may be created and dropped), on PostgreSQL. Results go to
 * bench/results/workers.json, with the 2-worker/1-worker ratio of each.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { type Measurement, measureOn } from './measure.js';
import { SCENARIOS } from './scenarios.js';
import { startMandate } from './targets/mandate.js';

const root = path.resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    pg: { type: 'string' },
  },
});
const load = { connections: Number(values.connections), duration: Number(values.duration) };
const scenarios = SCENARIOS.filter((s) => s.name === 'client-credentials' || s.name === 'authz-check');
const WORKERS = [1, 2];

/** A fresh PostgreSQL database on the `--pg` server, dropped afterwards. */
async function scratchDatabase(adminUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `mandate_bench_${randomBytes(4).toString('hex')}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

interface Run {
  database: 'sqlite' | 'postgres';
  workers: number;
  results: Record<string, Measurement>;
}

async function runWith(database: Run['database'], workers: number): Promise<Run> {
  const scratch = database === 'postgres' ? await scratchDatabase(values.pg as string) : undefined;
  try {
    const target = await startMandate({ databaseUrl: scratch?.url, workers });
    try {
      const results: Record<string, Measurement> = {};
      for (const scenario of scenarios) {
        results[scenario.name] = await measureOn(scenario, target, load);
        const m = results[scenario.name] as Measurement;
        process.stdout.write(
          `${database} workers=${workers} ${scenario.name}: ${m.requests_per_sec} req/s, p50 ${m.latency_ms.p50} ms, p99 ${m.latency_ms.p99} ms, errors ${m.errors}, non-2xx ${m.non_2xx}\n`,
        );
      }
      return { database, workers, results };
    } finally {
      await target.stop();
    }
  } finally {
    await scratch?.drop();
  }
}

const databases: Run['database'][] = values.pg ? ['sqlite', 'postgres'] : ['sqlite'];
const runs: Run[] = [];
for (const database of databases) for (const workers of WORKERS) runs.push(await runWith(database, workers));

/** Requests per second with 2 workers over 1, per database and scenario. */
const ratios = Object.fromEntries(
  databases.map((database) => {
    const [one, two] = WORKERS.map((workers) => runs.find((r) => r.database === database && r.workers === workers) as Run);
    return [
      database,
      Object.fromEntries(
        scenarios.map((s) => {
          const base = one?.results[s.name]?.requests_per_sec ?? 0;
          const scaled = two?.results[s.name]?.requests_per_sec ?? 0;
          return [s.name, base > 0 ? Math.round((scaled / base) * 100) / 100 : null];
        }),
      ),
    ];
  }),
);

const result = {
  name: 'workers',
  description: 'client_credentials and /v1/authz/check with 1 and 2 worker processes (mandate serve --workers), same load',
  date: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  connections: load.connections,
  duration_s: load.duration,
  runs,
  ratio_2_over_1: ratios,
};
fs.mkdirSync(path.join(root, 'bench/results'), { recursive: true });
fs.writeFileSync(path.join(root, 'bench/results/workers.json'), `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`2 workers / 1 worker: ${JSON.stringify(ratios)}\n`);
