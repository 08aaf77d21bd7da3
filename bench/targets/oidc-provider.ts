/** oidc-provider (panva), run from bench/peers/oidc-provider.ts as its own process. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, startServer } from './process.js';
import type { RunningTarget } from './target.js';

const root = path.resolve(import.meta.dirname, '../..');
const packageJson = path.join(root, 'node_modules/oidc-provider/package.json');
const version = (JSON.parse(fs.readFileSync(packageJson, 'utf8')) as { version: string }).version;

export interface OidcProviderOptions {
  /** Format of the access tokens it issues for the bench resource. */
  accessTokenFormat: 'jwt' | 'opaque';
}

export async function startOidcProvider(options: OidcProviderOptions): Promise<RunningTarget> {
  const port = await freePort();
  const client = { id: 'bench-agent', secret: randomBytes(32).toString('base64url') };
  const server = await startServer({
    name: 'oidc-provider',
    args: ['--import', 'tsx', path.join(root, 'bench/peers/oidc-provider.ts'), String(port), options.accessTokenFormat],
    env: { BENCH_CLIENT_ID: client.id, BENCH_CLIENT_SECRET: client.secret },
    port,
    readyPath: '/.well-known/openid-configuration',
  });
  return {
    name: `oidc-provider ${version}`,
    base: server.base,
    endpoints: { token: '/token', introspection: '/token/introspection' },
    client,
    stop: server.stop,
  };
}
