/** The ceiling server (bench/peers/ceiling.ts), run as its own process. */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { freePort, startServer } from './process.js';
import type { RunningTarget } from './target.js';

const root = path.resolve(import.meta.dirname, '../..');

export async function startCeiling(): Promise<RunningTarget> {
  const port = await freePort();
  const client = { id: 'bench-agent', secret: randomBytes(32).toString('base64url') };
  const server = await startServer({
    name: 'ceiling',
    args: ['--import', 'tsx', path.join(root, 'bench/peers/ceiling.ts'), String(port)],
    env: { BENCH_CLIENT_ID: client.id, BENCH_CLIENT_SECRET: client.secret },
    port,
    readyPath: '/healthz',
  });
  return {
    name: 'ceiling (bare Fastify: ES256 sign / Map lookup)',
    base: server.base,
    endpoints: { token: '/token', introspection: '/introspect' },
    client,
    stop: server.stop,
  };
}
