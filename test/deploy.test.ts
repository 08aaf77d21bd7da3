import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../src/config.js';
import type { MandateNode } from '../src/node.js';
import { createTestDatabase, startListeningNode, type TestDatabase } from './support/nodes.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

interface Service {
  read_only?: boolean;
  tmpfs?: string[];
  environment?: Record<string, string>;
  secrets?: string[];
  networks?: string[] | Record<string, { ipv4_address?: string }>;
  volumes?: string[];
}
interface Compose {
  services: Record<string, Service>;
  networks: Record<string, { ipam: { config: { subnet: string }[] } }>;
}

/** The Dockerfile's HEALTHCHECK command, as the runtime runs it (exec form). */
function healthcheckCommand(): string[] {
  const line = read('Dockerfile')
    .split('\n')
    .find((l) => l.startsWith('HEALTHCHECK '));
  const exec = /CMD (\[.*\])$/.exec(line ?? '')?.[1];
  if (!exec) throw new Error('the Dockerfile has no exec-form HEALTHCHECK');
  return JSON.parse(exec) as string[];
}

/** Runs the health check with the image's /app mapped onto this checkout; resolves to its exit code. */
function runHealthcheck(port: number): Promise<number | null> {
  const [command, ...args] = healthcheckCommand();
  const mapped = args.map((arg) => arg.replace(/^\/app\//, `${ROOT}/`));
  expect(command).toBe('node');
  const child = spawn(process.execPath, mapped, { env: { ...process.env, MANDATE_PORT: String(port) }, timeout: 10_000 });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

function ipv4ToInt(address: string): number {
  return address.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
}

describe('the container image and compose.yaml', () => {
  const compose = parse(read('compose.yaml'), { merge: true }) as Compose;
  const mandateNodes = Object.entries(compose.services).filter(([name]) => name.startsWith('mandate-'));
  let db: TestDatabase;
  let node: MandateNode;
  let port: number;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    const started = await startListeningNode(db);
    node = started.node;
    port = Number(new URL(started.issuer).port);
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it("the image's health check passes against a running server and fails once it stops", async () => {
    expect(await runHealthcheck(port)).toBe(0);
    await node.app.close();
    expect(await runHealthcheck(port)).toBe(1);
  });

  it('the image runs as an unprivileged user, entered through the secrets-reading entrypoint', () => {
    const dockerfile = read('Dockerfile');
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    expect(runtime).toMatch(/\nUSER node\n/);
    expect(runtime).toContain('ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]');
    expect(fs.statSync(path.join(ROOT, 'deploy/docker-entrypoint.sh')).mode & 0o111).not.toBe(0);
  });

  it('runs two read-only Mandate nodes with /tmp on tmpfs, the same master key and PostgreSQL', () => {
    expect(mandateNodes.map(([name]) => name)).toEqual(['mandate-1', 'mandate-2']);
    for (const [, service] of mandateNodes) {
      expect(service.read_only).toBe(true);
      expect(service.tmpfs).toContain('/tmp');
      expect(service.volumes?.some((volume) => volume.endsWith(':/data'))).toBe(true);
      expect(service.environment?.MANDATE_MASTER_KEY_FILE).toBe('/run/secrets/master_key');
      expect(service.secrets).toContain('master_key');
      expect(service.environment?.MANDATE_DATABASE_URL_FILE).toBe('/run/secrets/database_url');
    }
    expect(compose.services.postgres).toBeDefined();
  });

  it("the nodes trust exactly the proxy's fixed address, a valid MANDATE_TRUST_PROXY inside the network", () => {
    const proxyNetworks = compose.services.proxy?.networks as Record<string, { ipv4_address: string }>;
    const [networkName, proxyNetwork] = Object.entries(proxyNetworks)[0] as [string, { ipv4_address: string }];
    const [subnet, bits] = (compose.networks[networkName]?.ipam.config[0]?.subnet ?? '').split('/') as [string, string];
    const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
    expect((ipv4ToInt(proxyNetwork.ipv4_address) & mask) >>> 0).toBe((ipv4ToInt(subnet) & mask) >>> 0);
    for (const [, service] of mandateNodes) {
      const setting = service.environment?.MANDATE_TRUST_PROXY;
      expect(loadConfig({ MANDATE_TRUST_PROXY: setting }).trustProxy).toEqual([proxyNetwork.ipv4_address]);
    }
  });

  it('the proxy balances over every node, on the port the image listens on, and checks readiness', () => {
    const caddyfile = read('deploy/Caddyfile');
    const imagePort = /MANDATE_PORT=(\d+)/.exec(read('Dockerfile'))?.[1];
    const upstreams = /reverse_proxy ([^{]+)\{/.exec(caddyfile)?.[1]?.trim().split(/\s+/);
    expect(upstreams).toEqual(mandateNodes.map(([name]) => `${name}:${imagePort}`));
    expect(caddyfile).toMatch(/health_uri \/readyz/);
  });
});
