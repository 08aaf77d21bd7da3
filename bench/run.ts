/**
 * `npm run bench -- <name|all> [--duration 10] [--connections 50]`
 *
 * Starts the built server (`dist/main.js serve`) on loopback over a fresh SQLite data dir, runs
 * autocannon against it, and writes req/s, p50/p99 latency and errors to bench/results/<name>.json.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { SCENARIOS, type Scenario } from './scenarios.js';

const root = path.resolve(import.meta.dirname, '..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { duration: { type: 'string', default: '10' }, connections: { type: 'string', default: '50' } },
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function startMandate(): Promise<{ base: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mandate-bench-'));
  const child = spawn(process.execPath, [path.join(root, 'dist/main.js'), 'serve'], {
    env: {
      ...process.env,
      MANDATE_DATA_DIR: dataDir,
      MANDATE_PORT: String(port),
      MANDATE_LOG_LEVEL: 'warn',
      MANDATE_PUBLIC_RATE_LIMIT: '10000000',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  let up = false;
  for (let i = 0; i < 100 && !up; i++) {
    up = await fetch(`${base}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (!up) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!up) throw new Error('Mandate did not start within 10 s (run npm run build first)');
  return {
    base,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function run(scenario: Scenario): Promise<Record<string, unknown>> {
  const server = await startMandate();
  try {
    const options = {
      url: `${server.base}${scenario.path}`,
      method: scenario.method,
      connections: Number(values.connections),
      duration: Number(values.duration),
    };
    // Warm-up, so JIT and caches are steady before measuring.
    await autocannon({ ...options, duration: 2 });
    const result = await autocannon(options);
    return {
      name: scenario.name,
      description: scenario.description,
      target: 'mandate',
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      connections: options.connections,
      duration_s: options.duration,
      requests_per_sec: result.requests.average,
      latency_ms: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
      requests_total: result.requests.total,
      errors: result.errors,
      timeouts: result.timeouts,
      non_2xx: result.non2xx,
    };
  } finally {
    await server.stop();
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
  process.stdout.write(
    `${scenario.name}: ${Math.round(result.requests_per_sec as number)} req/s, p50 ${(result.latency_ms as { p50: number }).p50} ms, p99 ${(result.latency_ms as { p99: number }).p99} ms, errors ${result.errors}, non-2xx ${result.non_2xx}\n`,
  );
}
