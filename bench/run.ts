/**
 * `npm run bench -- <name|all> [--duration 10] [--connections 50] [--database postgres://…]`
 *
 * For each scenario, starts the built Mandate (`dist/src/main.js serve`) on loopback over a fresh SQLite
 * data dir (or the given, empty, PostgreSQL database), prepares and checks the request once, warms
 * up for 2 s and measures it with autocannon; comparative scenarios then do the same against a fresh
 * oidc-provider process. Results go to bench/results/<name>.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon, { type Result } from 'autocannon';
import { type BenchRequest, SCENARIOS, type Scenario, send } from './scenarios.js';
import { startCeiling } from './targets/ceiling.js';
import { startMandate } from './targets/mandate.js';
import { startOidcProvider } from './targets/oidc-provider.js';
import type { RunningTarget } from './targets/target.js';

const root = path.resolve(import.meta.dirname, '..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    database: { type: 'string' },
  },
});
const load = { connections: Number(values.connections), duration: Number(values.duration) };

interface Measurement {
  name: string;
  /** 2xx responses per second: non-2xx answers are not counted as throughput. */
  requests_per_sec: number;
  latency_ms: { p50: number; p99: number; max: number };
  requests_total: number;
  errors: number;
  timeouts: number;
  non_2xx: number;
  status_codes?: Record<string, number>;
}

function summarize(name: string, result: Result): Measurement {
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count]));
  return {
    name,
    requests_per_sec: result.requests.total > 0 ? Math.round((result.requests.average * result['2xx']) / result.requests.total) : 0,
    latency_ms: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    requests_total: result.requests.total,
    errors: result.errors,
    timeouts: result.timeouts,
    non_2xx: result.non2xx,
    ...(result.non2xx > 0 && { status_codes: statusCodes }),
  };
}

/** One request outside the measurement: it must answer 200 and pass the scenario's check. */
async function verify(scenario: Scenario, target: RunningTarget, request: BenchRequest): Promise<void> {
  const res = await send(target, request);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${target.name}: ${scenario.name} answered ${res.status}: ${text}`);
  scenario.check?.(JSON.parse(text) as Record<string, unknown>);
}

async function measure(target: RunningTarget, request: BenchRequest): Promise<Measurement> {
  const { path: urlPath, ...rest } = request;
  const options = { ...rest, url: `${target.base}${urlPath}`, ...load };
  // Warm-up, so JIT and caches are steady before measuring.
  await autocannon({ ...options, duration: 2 });
  return summarize(target.name, await autocannon(options));
}

async function runOn(scenario: Scenario, start: () => Promise<RunningTarget>): Promise<Measurement> {
  const target = await start();
  try {
    const request = await scenario.prepare(target);
    await verify(scenario, target, request);
    return await measure(target, request);
  } finally {
    await target.stop();
  }
}

async function run(scenario: Scenario): Promise<Record<string, unknown>> {
  const common = {
    name: scenario.name,
    description: scenario.description,
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    connections: load.connections,
    duration_s: load.duration,
    database: values.database ? 'postgres' : 'sqlite',
  };
  const mandate = await runOn(scenario, () => startMandate({ databaseUrl: values.database }));
  if (!scenario.peer) {
    const { name: _name, ...figures } = mandate;
    return { ...common, target: 'mandate', ...figures };
  }
  const { note, ...peerOptions } = scenario.peer;
  const peer = await runOn(scenario, () => startOidcProvider(peerOptions));
  const ratio = peer.requests_per_sec > 0 ? Math.round((mandate.requests_per_sec / peer.requests_per_sec) * 100) / 100 : null;
  if (!scenario.ceiling) return { ...common, mandate, peer, ratio, ...(note && { note }) };
  const ceiling = await runOn(scenario, startCeiling);
  const ceilingRatio = Math.round((ceiling.requests_per_sec / peer.requests_per_sec) * 100) / 100;
  return { ...common, mandate, peer, ratio, ceiling, ceiling_ratio: ceilingRatio, ...(note && { note }) };
}

function line(scenario: string, m: Measurement): string {
  return `${scenario} ${m.name}: ${Math.round(m.requests_per_sec)} req/s, p50 ${m.latency_ms.p50} ms, p99 ${m.latency_ms.p99} ms, errors ${m.errors}, non-2xx ${m.non_2xx}\n`;
}

function print(result: Record<string, unknown>): void {
  const name = result.name as string;
  if ('peer' in result) {
    const mandate = result.mandate as Measurement;
    const peer = result.peer as Measurement;
    process.stdout.write(`${line(name, mandate)}${line(name, peer)}${name} ratio mandate/${peer.name}: ${result.ratio}x\n`);
    if ('ceiling' in result) {
      process.stdout.write(`${line(name, result.ceiling as Measurement)}${name} ratio ceiling/${peer.name}: ${result.ceiling_ratio}x\n`);
    }
  } else {
    process.stdout.write(line(name, { ...(result as unknown as Measurement), name: 'mandate' }));
  }
}

const wanted = positionals[0] ?? 'all';
const selected = wanted === 'all' ? SCENARIOS : SCENARIOS.filter((s) => s.name === wanted);
if (selected.length === 0) {
  process.stderr.write(`unknown benchmark "${wanted}"; known: ${SCENARIOS.map((s) => s.name).join(', ')}, all\n`);
  process.exit(2);
}
fs.mkdirSync(path.join(root, 'bench/results'), { recursive: true });
for (const scenario of selected) {
  const result = await run(scenario);
  fs.writeFileSync(path.join(root, 'bench/results', `${scenario.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  print(result);
}
