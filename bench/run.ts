/**
 * `npm run bench -- <name|all> [--duration 10] [--connections 50] [--rounds 1] [--database postgres://…]`
 *
 * For each scenario, starts the built Mandate (`dist/src/main.js serve`) on loopback over a fresh
 * SQLite data dir (or the given, empty, PostgreSQL database), prepares and checks the request once,
 * warms up for 2 s and measures it with autocannon; comparative scenarios then do the same against a
 * fresh oidc-provider process and the ceiling server (bench/peers/ceiling.ts). With `--rounds N`
 * the targets take turns N times, so background load falls on all of them alike; the JSON gives
 * each target's median round with the range, the ratios per round and their medians, and the
 * scenario's target (issue #15 item 8) with whether the median meets it. Results go to
 * bench/results/<name>.json.
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
import type { RunningTarget } from './targets/target.js';

const root = path.resolve(import.meta.dirname, '..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '1' },
    database: { type: 'string' },
  },
});
const load = { connections: Number(values.connections), duration: Number(values.duration) };
const rounds = Math.max(1, Number(values.rounds));

type Role = 'mandate' | 'peer' | 'ceiling';

/** The targets a scenario runs on, in the order they take turns. */
function targetsOf(scenario: Scenario): [Role, () => Promise<RunningTarget>][] {
  const targets: [Role, () => Promise<RunningTarget>][] = [['mandate', () => startMandate({ databaseUrl: values.database })]];
  if (scenario.peer) {
    const { note: _note, ...peerOptions } = scenario.peer;
    targets.push(['peer', () => startOidcProvider(peerOptions)]);
  }
  if (scenario.ceiling) targets.push(['ceiling', startCeiling]);
  return targets;
}

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
const round2 = (x: number): number => Math.round(x * 100) / 100;

/** A target's median round (its latencies and counts) with the range of its rates over the rounds. */
function summary(measurements: Measurement[]): Measurement & { requests_per_sec_rounds: number[] } {
  const byRate = [...measurements].sort((a, b) => a.requests_per_sec - b.requests_per_sec);
  const mid = byRate[Math.floor((byRate.length - 1) / 2)] as Measurement;
  return {
    ...mid,
    requests_per_sec: Math.round(median(measurements.map((m) => m.requests_per_sec))),
    requests_per_sec_rounds: measurements.map((m) => m.requests_per_sec),
  };
}

/** A ratio per round (same round, same background load), and its median. */
function ratio(numerators: Measurement[], denominators: Measurement[]): { median: number; rounds: number[] } {
  const perRound = numerators.map((n, i) => round2(n.requests_per_sec / Math.max(1, denominators[i]?.requests_per_sec ?? 0)));
  return { median: round2(median(perRound)), rounds: perRound };
}

async function run(scenario: Scenario): Promise<Record<string, unknown>> {
  const common = {
    name: scenario.name,
    description: scenario.description,
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    load_average_1m_at_start: round2(os.loadavg()[0] ?? 0),
    connections: load.connections,
    duration_s: load.duration,
    rounds,
    database: values.database ? 'postgres' : 'sqlite',
  };
  const measured = new Map<Role, Measurement[]>();
  for (let i = 0; i < rounds; i++) {
    for (const [role, start] of targetsOf(scenario)) {
      const m = await runOn(scenario, start, load);
      measured.set(role, [...(measured.get(role) ?? []), m]);
    }
  }
  const mandate = measured.get('mandate') ?? [];
  const peer = measured.get('peer');
  const ceiling = measured.get('ceiling');
  const ratios = {
    ...(peer && { mandate_to_peer: ratio(mandate, peer) }),
    ...(ceiling && { mandate_to_ceiling: ratio(mandate, ceiling) }),
    ...(peer && ceiling && { ceiling_to_peer: ratio(ceiling, peer) }),
  };
  const target = scenario.target && judge(scenario, summary(mandate).requests_per_sec, ratios);
  return {
    ...common,
    legend: {
      requests_per_sec: "a target's median round: 2xx answers per second (requests_per_sec_rounds: every round)",
      ratios: 'x_to_y: x / y within each round (the same background load), and the median of those',
      ...(peer && { peer: 'oidc-provider configured as closely as it allows (bench/peers/oidc-provider.ts)' }),
      ...(ceiling && {
        ceiling: 'bare Fastify doing only the core work of the endpoint: what this stack reaches at best (bench/peers/ceiling.ts)',
      }),
      ...(target && { target: 'issue #15 item 8, judged on the medians' }),
    },
    mandate: summary(mandate),
    ...(peer && { peer: summary(peer) }),
    ...(ceiling && { ceiling: summary(ceiling) }),
    ...(Object.keys(ratios).length > 0 && { ratios }),
    ...(target && { target }),
    ...(scenario.peer?.note && { note: scenario.peer.note }),
  };
}

/** The scenario's target, and whether the median of the rounds meets it. */
function judge(
  scenario: Scenario,
  mandateRate: number,
  ratios: Partial<Record<'mandate_to_peer' | 'mandate_to_ceiling', { median: number }>>,
): Record<string, unknown> | undefined {
  const target = scenario.target;
  if (!target) return undefined;
  if ('requestsPerSec' in target) {
    return { goal: `at least ${target.requestsPerSec} req/s`, measured: mandateRate, met: mandateRate >= target.requestsPerSec };
  }
  const measured = (target.of === 'peer' ? ratios.mandate_to_peer : ratios.mandate_to_ceiling)?.median ?? 0;
  return { goal: `mandate at least ${target.atLeast}x the ${target.of} in the same run`, measured, met: measured >= target.atLeast };
}

function line(scenario: string, role: string, m: Measurement & { requests_per_sec_rounds?: number[] }): string {
  const range =
    m.requests_per_sec_rounds && m.requests_per_sec_rounds.length > 1 ? ` (rounds ${m.requests_per_sec_rounds.join(', ')})` : '';
  return `${scenario} ${role} ${m.name}: ${Math.round(m.requests_per_sec)} req/s${range}, p50 ${m.latency_ms.p50} ms, p99 ${m.latency_ms.p99} ms, errors ${m.errors}, non-2xx ${m.non_2xx}\n`;
}

function print(result: Record<string, unknown>): void {
  const name = result.name as string;
  for (const role of ['mandate', 'peer', 'ceiling'] as const) {
    if (result[role]) process.stdout.write(line(name, role, result[role] as Measurement));
  }
  for (const [key, value] of Object.entries((result.ratios ?? {}) as Record<string, { median: number; rounds: number[] }>)) {
    process.stdout.write(`${name} ${key}: ${value.median}x${value.rounds.length > 1 ? ` (rounds ${value.rounds.join(', ')})` : ''}\n`);
  }
  const target = result.target as { goal: string; measured: number; met: boolean } | undefined;
  if (target) process.stdout.write(`${name} target: ${target.goal}: ${target.measured} ${target.met ? 'met' : 'NOT met'}\n`);
}

const wanted = positionals[0] ?? 'all';
const selected = wanted === 'all' ? SCENARIOS : SCENARIOS.filter((s) => s.name === wanted);
if (selected.length === 0) {
  process.stderr.write(`unknown benchmark "${wanted}"; known: ${SCENARIOS.map((s) => s.name).join(', ')}, all\n`);
  process.exit(2);
}
fs.mkdirSync(path.join(root, 'bench/results'), { recursive: true });
let failed = false;
for (const scenario of selected) {
  // One scenario failing (a target that did not start on a busy machine) does not lose the others.
  try {
    const result = await run(scenario);
    fs.writeFileSync(path.join(root, 'bench/results', `${scenario.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
    print(result);
  } catch (error) {
    failed = true;
    process.stderr.write(`${scenario.name} failed: ${error instanceof Error ? error.message : String(error)}\n`);
  }
}
process.exitCode = failed ? 1 : 0;
