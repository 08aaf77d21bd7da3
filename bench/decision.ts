/**
 * `npm run bench:decision`: in-process latency of the authorization decision (authz/decision.ts),
 * the function every /v1/authz/check and the SDK's local evaluation run. Writes
 * bench/results/decision.json with p50/p99/max in microseconds.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decide, type Permission } from '../src/authz/decision.js';

const root = path.resolve(import.meta.dirname, '..');
const tools = ['crm', 'ticketing', 'email', 'payments', 'warehouse'];
const actions = ['read', 'write', 'export', 'admin', 'approve', 'draft', 'send'];
// A realistic role set: a user and an agent with a few dozen permissions each.
const user: Permission[] = tools.flatMap((tool) =>
  actions.map((action) => ({ tool, action, environments: ['prod', 'staging'] as const, maxClassification: 'confidential' as const })),
);
const agent: Permission[] = tools.flatMap((tool) => ['read', 'write', 'draft'].map((action) => ({ tool, action })));
const consented = tools.flatMap((tool) => [`${tool}.read`, `${tool}.write`]);

const N = 200_000;
const samples = new Float64Array(N);
for (let i = 0; i < 20_000; i++)
  decide({
    request: { tool: 'crm', action: 'write', environment: 'prod', classification: 'internal' },
    user,
    agent,
    consentedScopes: consented,
  });
for (let i = 0; i < N; i++) {
  const tool = tools[i % tools.length] as string;
  const action = i % 3 === 0 ? 'export' : 'write';
  const start = process.hrtime.bigint();
  decide({ request: { tool, action, environment: 'prod', classification: 'internal' }, user, agent, consentedScopes: consented });
  samples[i] = Number(process.hrtime.bigint() - start) / 1000;
}
samples.sort();
const at = (q: number) => Number((samples[Math.min(N - 1, Math.floor(q * N))] as number).toFixed(2));
const result = {
  name: 'decision',
  description: 'in-process authz decision (user ∩ agent ∩ consent), 35 + 15 permissions',
  date: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  iterations: N,
  latency_us: { p50: at(0.5), p99: at(0.99), max: at(1 - 1 / N) },
};
fs.mkdirSync(path.join(root, 'bench/results'), { recursive: true });
fs.writeFileSync(path.join(root, 'bench/results/decision.json'), `${JSON.stringify(result, null, 2)}\n`);
process.stdout.write(`decision: p50 ${result.latency_us.p50} µs, p99 ${result.latency_us.p99} µs, max ${result.latency_us.max} µs\n`);
