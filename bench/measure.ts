/** Measuring one scenario on one target with autocannon: shared by bench/run.ts and bench/workers.ts. */
import autocannon, { type Result } from 'autocannon';
import { type BenchRequest, type Scenario, send } from './scenarios.js';
import type { RunningTarget } from './targets/target.js';

/** Concurrent connections and seconds of measurement. */
export interface Load {
  connections: number;
  duration: number;
}

export interface Measurement {
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

async function measure(target: RunningTarget, request: BenchRequest, load: Load): Promise<Measurement> {
  const { path: urlPath, ...rest } = request;
  const options = { ...rest, url: `${target.base}${urlPath}`, ...load };
  // Warm-up, so JIT and caches are steady before measuring.
  await autocannon({ ...options, duration: 2 });
  return summarize(target.name, await autocannon(options));
}

/** Prepares the scenario on a running target, checks one answer, then measures it. */
export async function measureOn(scenario: Scenario, target: RunningTarget, load: Load): Promise<Measurement> {
  const request = await scenario.prepare(target);
  await verify(scenario, target, request);
  return measure(target, request, load);
}

/** {@link measureOn} a freshly started target, stopped afterwards. */
export async function runOn(scenario: Scenario, start: () => Promise<RunningTarget>, load: Load): Promise<Measurement> {
  const target = await start();
  try {
    return await measureOn(scenario, target, load);
  } finally {
    await target.stop();
  }
}
