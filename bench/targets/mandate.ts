/**
 * Mandate from the build (`node dist/src/main.js serve`) over a fresh SQLite data dir (or the given
 * PostgreSQL database), with one organization, the bench resource and a confidential client
 * created through the admin API.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, startServer } from './process.js';
import { type Credentials, RESOURCE, type RunningTarget } from './target.js';

const root = path.resolve(import.meta.dirname, '../..');
const version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;

export interface MandateOptions {
  /** `postgres://…` (an empty database); unset: SQLite in the temp data dir. */
  databaseUrl?: string | undefined;
  /** `MANDATE_WORKERS`: worker processes sharing the port (default 1). */
  workers?: number;
}

/** Waits until `/metrics` counts `workers` serving processes: the first answers before the others listen. */
async function allWorkersServing(base: string, workers: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const text = await fetch(`${base}/metrics`).then(
      (r) => r.text(),
      () => '',
    );
    if (Number(/^mandate_workers (\d+)/m.exec(text)?.[1]) === workers) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Mandate: ${workers} workers did not all start within 30 s`);
}

async function admin<T>(base: string, adminKey: string, urlPath: string, payload: object): Promise<T> {
  const res = await fetch(`${base}${urlPath}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
  if (!res.ok) throw new Error(`Mandate: POST ${urlPath} answered ${res.status}: ${await res.text()}`);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

/** A member, an agent and a role, for the decision benchmark: the body of one /v1/authz/check. */
async function provisionDecision(base: string, adminKey: string): Promise<{ adminKey: string; body: string }> {
  const member = await admin<{ id: string }>(base, adminKey, '/v1/organizations/bench/members', { email: 'owner@bench.test' });
  const agent = await admin<{ id: string }>(base, adminKey, '/v1/organizations/bench/agents', {
    name: 'Bench agent',
    purpose: 'benchmark',
    owner_member_id: member.id,
    environment: 'prod',
  });
  const role = await admin<{ id: string }>(base, adminKey, '/v1/organizations/bench/roles', {
    name: 'Bench role',
    permissions: [{ tool: 'crm', action: 'read' }],
  });
  await admin(base, adminKey, `/v1/organizations/bench/roles/${role.id}/bindings`, { agent_id: agent.id });
  await admin(base, adminKey, `/v1/organizations/bench/roles/${role.id}/bindings`, { member_id: member.id });
  const body = {
    organization: 'bench',
    member_id: member.id,
    agent_id: agent.id,
    tool: 'crm',
    action: 'read',
    context: { environment: 'prod', classification: 'internal' },
  };
  return { adminKey, body: JSON.stringify(body) };
}

/** The organization, resource and client the scenarios use. */
async function provision(base: string, adminKey: string): Promise<Credentials> {
  const slug = 'bench';
  await admin(base, adminKey, '/v1/organizations', { slug, name: 'Bench' });
  await admin(base, adminKey, '/v1/resources', { identifier: RESOURCE, name: 'Bench API', scopes: [{ name: 'read', description: 'r' }] });
  const client = await admin<{ client_id: string; client_secret: string }>(base, adminKey, `/v1/organizations/${slug}/clients`, {
    client_name: 'Bench agent',
    client_type: 'confidential',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    scope: 'read',
    resources: [RESOURCE],
  });
  return { id: client.client_id, secret: client.client_secret };
}

export async function startMandate(options: MandateOptions = {}): Promise<RunningTarget> {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mandate-bench-'));
  const adminKey = `mnd_ak_${randomBytes(32).toString('base64url')}`;
  const removeDataDir = () => fs.rmSync(dataDir, { recursive: true, force: true });
  const server = await startServer({
    name: 'Mandate (run npm run build first)',
    args: [path.join(root, 'dist/src/main.js'), 'serve'],
    env: {
      MANDATE_DATA_DIR: dataDir,
      ...(options.databaseUrl && { MANDATE_DATABASE_URL: options.databaseUrl }),
      MANDATE_PORT: String(port),
      MANDATE_LOG_LEVEL: 'warn',
      MANDATE_PUBLIC_RATE_LIMIT: '10000000',
      MANDATE_SIGNING_ALG: 'ES256',
      MANDATE_BOOTSTRAP_ADMIN_KEY: adminKey,
      MANDATE_WORKERS: String(options.workers ?? 1),
    },
    port,
    readyPath: '/healthz',
  }).catch((error: unknown) => {
    removeDataDir();
    throw error;
  });
  const stop = async () => {
    await server.stop();
    removeDataDir();
  };
  try {
    await allWorkersServing(server.base, options.workers ?? 1);
    return {
      name: `mandate ${version}`,
      base: server.base,
      endpoints: { token: '/oauth2/token', introspection: '/oauth2/introspect' },
      client: await provision(server.base, adminKey),
      decision: await provisionDecision(server.base, adminKey),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
