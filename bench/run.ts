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
import { type Measurement, runOn } from './measure.js';
import { SCENARIOS, type Scenario } from './scenarios.js';
import { startCeiling } from './targets/ceiling.js';
import { startMandate } from './targets/mandate.js';
import { startOidcProvider } from './targets/oidc-provider.js';

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
  const mandate = await runOn(scenario, () => startMandate({ databaseUrl: values.database }), load);
  if (!scenario.peer) {
    const { name: _name, ...figures } = mandate;
    return { ...common, target: 'mandate', ...figures };
  }
  const { note, ...peerOptions } = scenario.peer;
  const peer = await runOn(scenario, () => startOidcProvider(peerOptions), load);
  const ratio = peer.requests_per_sec > 0 ? Math.round((mandate.requests_per_sec / peer.requests_per_sec) * 100) / 100 : null;
  if (!scenario.ceiling) return { ...common, mandate, peer, ratio, ...(note && { note }) };
  const ceiling = await runOn(scenario, startCeiling, load);
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
