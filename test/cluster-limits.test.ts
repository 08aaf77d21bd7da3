import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config.js';
import type { MandateNode } from '../src/node.js';
import { type ServerProcess, startServer, waitForOk } from './support/cli.js';
import { pgAvailable } from './support/databases.js';
import { adminHeaders, createTestDatabase, startListeningNode, TEST_ADMIN_KEY, type TestDatabase } from './support/nodes.js';
import { basic } from './support/oauth-fixtures.js';
import { freePort } from './support/ports.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

/**
 * Per-agent rate limits and anomaly windows count across nodes (docs/architecture.md §12): two
 * real nodes on loopback, a burst spread over both, which neither node alone would notice.
 */
const REDIS_URL = process.env.MANDATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CRM = 'https://crm.cluster.test/';

interface Listening {
  node: MandateNode;
  issuer: string;
}

interface Seeded {
  agentId: string;
  client: { client_id: string; client_secret: string };
}

async function admin<T>(node: MandateNode, url: string, payload: object): Promise<T> {
  const res = await node.app.inject({ method: 'POST', url, payload, headers: adminHeaders });
  if (res.statusCode >= 300) throw new Error(`${url} answered ${res.statusCode}: ${res.body}`);
  return res.json() as T;
}

/** An organization with the given settings, one agent with no role (so every check is denied) and its client. */
async function seedAgent(node: MandateNode, slug: string, settings: object): Promise<Seeded> {
  await admin(node, '/v1/organizations', { slug, name: slug, settings });
  const owner = await admin<{ id: string }>(node, `/v1/organizations/${slug}/members`, { email: `owner@${slug}.test` });
  const agent = await admin<{ id: string }>(node, `/v1/organizations/${slug}/agents`, {
    name: 'Bursty Agent',
    purpose: 'tests cluster-wide limits',
    owner_member_id: owner.id,
    environment: 'prod',
  });
  const client = await admin<Seeded['client']>(node, `/v1/organizations/${slug}/clients`, {
    client_name: 'bursty key',
    client_type: 'confidential',
    grant_types: ['client_credentials'],
    scope: 'crm.read',
    resources: [CRM],
    agent_id: agent.id,
  });
  return { agentId: agent.id, client };
}

async function createResource(node: MandateNode): Promise<void> {
  await admin(node, '/v1/resources', { identifier: CRM, name: 'CRM', scopes: [{ name: 'crm.read', description: 'Read CRM records' }] });
}

/** A token request over HTTP to one node. */
async function token(at: Listening, client: Seeded['client']): Promise<Response> {
  return fetch(`${at.issuer}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, client.client_secret) },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: CRM }),
  });
}

/** A decision over HTTP to one node. */
async function check(at: Listening, org: string, agentId: string): Promise<Response> {
  return fetch(`${at.issuer}/v1/authz/check`, {
    method: 'POST',
    headers: { ...adminHeaders, 'content-type': 'application/json' },
    body: JSON.stringify({
      organization: org,
      agent_id: agentId,
      tool: 'payments',
      action: 'approve',
      context: { environment: 'prod', classification: 'internal' },
    }),
  });
}

async function findings(node: MandateNode, agentId: string): Promise<Record<string, unknown>[]> {
  const rows = await node.runtime.store.db
    .selectFrom('audit_events')
    .select('detail')
    .where('kind', '=', 'anomaly.detected')
    .where('agent_id', '=', agentId)
    .execute();
  return rows.map((r) => JSON.parse(r.detail) as Record<string, unknown>);
}

/**
 * The per-agent limit counts in minutes aligned to the clock: start a burst early enough in one
 * that it does not straddle two.
 */
async function awayFromMinuteEnd(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 20_000) await new Promise((resolve) => setTimeout(resolve, left + 50));
}

async function settled(...nodes: Listening[]): Promise<void> {
  for (const { node } of nodes) await node.anomaly.detector.settled();
}

interface Setup {
  name: string;
  dialect: 'sqlite' | 'postgres';
  config: () => Partial<Config>;
  /** Where the counts should land: the database's counters table, or not (Redis). */
  countsInTable: boolean;
  enabled: boolean;
}

const setups: Setup[] = [
  { name: 'two nodes over one PostgreSQL', dialect: 'postgres', config: () => ({}), countsInTable: true, enabled: pgAvailable },
  {
    name: 'two nodes over PostgreSQL and Redis',
    dialect: 'postgres',
    config: () => ({ redisUrl: REDIS_URL, redisKeyPrefix: `mandate-test-${randomBytes(4).toString('hex')}:` }),
    countsInTable: false,
    enabled: pgAvailable,
  },
  // What `mandate serve --workers 2` runs on SQLite: two processes over one file (here two nodes in one).
  { name: 'two worker nodes over one SQLite file', dialect: 'sqlite', config: () => ({ workers: 2 }), countsInTable: true, enabled: true },
];

describe.each(setups.filter((s) => s.enabled))('$name', (setup) => {
  let db: TestDatabase;
  let a: Listening;
  let b: Listening;

  beforeAll(async () => {
    db = await createTestDatabase(setup.dialect);
    const config = setup.config();
    a = await startListeningNode(db, { config });
    b = await startListeningNode(db, { config });
    await createResource(a.node);
  });
  afterAll(async () => {
    await Promise.all([a?.node.shutdown(), b?.node.shutdown()]);
    await db?.dispose();
  });

  it('a burst of token requests spread over both nodes trips the per-agent rate limit', async () => {
    const { agentId, client } = await seedAgent(a.node, 'limited', { agent_rate_limit_per_minute: 6 });
    await awayFromMinuteEnd();
    // Three on each node: each node alone is well under 6.
    for (let i = 0; i < 6; i += 1) expect((await token(i % 2 ? b : a, client)).status).toBe(200);
    for (const node of [a, b]) {
      const refused = await token(node, client);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('cache-control')).toBe('no-store');
      expect(await refused.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('too many') });
    }
    // Decisions for the agent count against the same limit, on either node.
    const decision = await check(b, 'limited', agentId);
    expect(decision.status).toBe(429);
    expect(Number(decision.headers.get('retry-after'))).toBeGreaterThan(0);
    const rows = await a.node.runtime.store.db.selectFrom('counters').select('key').execute();
    expect(rows.some((r) => r.key.startsWith(`agent-rate|${agentId}|`))).toBe(setup.countsInTable);
  });

  it('refusals spread over both nodes are one denied burst, found once', async () => {
    const { agentId } = await seedAgent(a.node, 'watched', {});
    await awayFromMinuteEnd();
    // denied_burst: 20 refusals within 60 s. Ten on node A are nothing on their own…
    for (let i = 0; i < 10; i += 1)
      expect(((await (await check(a, 'watched', agentId)).json()) as { decision: string }).decision).toBe('deny');
    await settled(a, b);
    expect(await findings(a.node, agentId)).toEqual([]);
    // …ten more on node B make twenty in the cluster.
    for (let i = 0; i < 10; i += 1)
      expect(((await (await check(b, 'watched', agentId)).json()) as { decision: string }).decision).toBe('deny');
    await settled(a, b);
    expect(await findings(a.node, agentId)).toEqual([expect.objectContaining({ rule: 'denied_burst', count: 20, threshold: 20 })]);
    // More refusals on either node within the window raise no second finding: the window was claimed once.
    for (let i = 0; i < 4; i += 1) await check(i % 2 ? a : b, 'watched', agentId);
    await settled(a, b);
    expect(await findings(b.node, agentId)).toHaveLength(1);
  });
});

describe('a single node over SQLite', () => {
  let db: TestDatabase;
  let one: Listening;
  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    one = await startListeningNode(db);
    await createResource(one.node);
  });
  afterAll(async () => {
    await one?.node.shutdown();
    await db?.dispose();
  });

  it('counts in memory: limits and windows hold, and nothing is written to the counters table', async () => {
    const { agentId, client } = await seedAgent(one.node, 'solo', { agent_rate_limit_per_minute: 25 });
    await awayFromMinuteEnd();
    for (let i = 0; i < 5; i += 1) expect((await token(one, client)).status).toBe(200);
    for (let i = 0; i < 20; i += 1) await check(one, 'solo', agentId);
    expect((await token(one, client)).status).toBe(429);
    await settled(one);
    expect(await findings(one.node, agentId)).toEqual([expect.objectContaining({ rule: 'denied_burst', count: 20 })]);
    expect(await one.node.runtime.store.db.selectFrom('counters').select('key').execute()).toEqual([]);
  });
});

describe.runIf(pgAvailable)('a node whose Redis is unreachable', () => {
  let db: TestDatabase;
  let node: Listening;
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    node = await startListeningNode(db, { config: { redisUrl: `redis://127.0.0.1:${await freePort()}` } });
    await createResource(node.node);
  });
  afterAll(async () => {
    await node?.node.shutdown();
    await db?.dispose();
  });

  it('starts, serves, and still enforces the limit, counting on its own', async () => {
    const { client } = await seedAgent(node.node, 'cut-off', { agent_rate_limit_per_minute: 3 });
    await awayFromMinuteEnd();
    const started = Date.now();
    for (let i = 0; i < 3; i += 1) expect((await token(node, client)).status).toBe(200);
    expect((await token(node, client)).status).toBe(429);
    expect(Date.now() - started).toBeLessThan(3000);
    expect((await fetch(`${node.issuer}/healthz`)).status).toBe(200);
  });
});

async function counterLocal(at: Listening): Promise<number> {
  const text = await (await fetch(`${at.issuer}/metrics`)).text();
  return Number(/^mandate_counter_local (\d+)/m.exec(text)?.[1]);
}

describe.runIf(pgAvailable)('two nodes whose Redis goes away and comes back', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let a: Listening;
  let b: Listening;
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const target = new URL(REDIS_URL);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 6379) });
    const config = { redisUrl: proxy.url('redis'), redisKeyPrefix: `mandate-test-${randomBytes(4).toString('hex')}:` };
    a = await startListeningNode(db, { config });
    b = await startListeningNode(db, { config });
    await createResource(a.node);
  });
  afterAll(async () => {
    await Promise.all([a?.node.shutdown(), b?.node.shutdown()]);
    await proxy?.close();
    await db?.dispose();
  });

  it('each node limits on its own while Redis is cut, says so in /metrics, and counts together again once it is back', async () => {
    const cut = await seedAgent(a.node, 'cut', { agent_rate_limit_per_minute: 4 });
    await awayFromMinuteEnd();
    await proxy.cut();
    const started = Date.now();
    // Per node: four each, then refused on each. Never an unlimited burst, never a failed request.
    for (const node of [a, b]) {
      for (let i = 0; i < 4; i += 1) expect((await token(node, cut.client)).status).toBe(200);
      expect((await token(node, cut.client)).status).toBe(429);
    }
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await counterLocal(a)).toBe(1);
    expect(await counterLocal(b)).toBe(1);

    await proxy.restore();
    // The client reconnects within its 2 s backoff, and the counter is retried a second after the last failure.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const back = await seedAgent(a.node, 'back', { agent_rate_limit_per_minute: 4 });
    await awayFromMinuteEnd();
    for (let i = 0; i < 4; i += 1) expect((await token(i % 2 ? b : a, back.client)).status).toBe(200);
    expect((await token(a, back.client)).status).toBe(429);
    expect((await token(b, back.client)).status).toBe(429);
    expect(await counterLocal(a)).toBe(0);
    expect(await counterLocal(b)).toBe(0);
  }, 60_000);
});

/** One request on its own connection (no keep-alive), so the primary hands it to the next worker in turn. */
function call(port: number, path: string, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, agent: false, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The worker that answered each request id, from the workers' request logs. */
function workersOf(output: string, requestIds: string[]): (number | undefined)[] {
  const byRequest = new Map<string, number>();
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as { msg?: string; reqId?: string; worker?: number };
    if (entry.msg === 'request completed' && entry.reqId && entry.worker !== undefined) byRequest.set(entry.reqId, entry.worker);
  }
  return requestIds.map((id) => byRequest.get(id));
}

describe('mandate serve --workers 2 on SQLite', () => {
  let db: TestDatabase;
  let server: ServerProcess;
  let port: number;
  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    port = await freePort();
    server = startServer(
      {
        MANDATE_DATA_DIR: db.dataDir,
        MANDATE_MASTER_KEY: db.masterKey.toString('base64'),
        MANDATE_PORT: String(port),
        MANDATE_HOST: '127.0.0.1',
        MANDATE_ISSUER: `http://localhost:${port}`,
        MANDATE_BOOTSTRAP_ADMIN_KEY: TEST_ADMIN_KEY,
      },
      ['--workers', '2'],
    );
    await waitForOk(`http://127.0.0.1:${port}/readyz`, 60_000);
    // Both workers listening before the burst, so that it is spread over both.
    const started = Date.now();
    while ((server.output().match(/Mandate listening/g) ?? []).length < 2) {
      if (Date.now() - started > 60_000) throw new Error(`workers did not start: ${server.output().slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }, 70_000);
  afterAll(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    await db?.dispose();
  }, 30_000);

  it('the worker processes count one per-agent limit together', async () => {
    const json = { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/json' };
    const post = async (path: string, payload: object) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: json, body: JSON.stringify(payload) });
      if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as Record<string, string>;
    };
    await post('/v1/resources', { identifier: CRM, name: 'CRM', scopes: [{ name: 'crm.read', description: 'r' }] });
    await post('/v1/organizations', { slug: 'workers', name: 'workers', settings: { agent_rate_limit_per_minute: 6 } });
    const owner = await post('/v1/organizations/workers/members', { email: 'owner@workers.test' });
    const agent = await post('/v1/organizations/workers/agents', {
      name: 'A',
      purpose: 'p',
      owner_member_id: owner.id,
      environment: 'prod',
    });
    const client = await post('/v1/organizations/workers/clients', {
      client_name: 'k',
      client_type: 'confidential',
      grant_types: ['client_credentials'],
      scope: 'crm.read',
      resources: [CRM],
      agent_id: agent.id,
    });
    const headers = {
      authorization: basic(client.client_id as string, client.client_secret as string),
      'content-type': 'application/x-www-form-urlencoded',
    };
    const body = new URLSearchParams({ grant_type: 'client_credentials', resource: CRM }).toString();
    await awayFromMinuteEnd();
    const statuses: number[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 8; i += 1) {
      ids.push(`limits-${process.pid}-${i}`);
      statuses.push(await call(port, '/oauth2/token', { ...headers, 'x-request-id': ids.at(-1) as string }, body));
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429]);
    // The six accepted were spread over both workers, so neither alone reached the limit.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const answeredBy = workersOf(server.output(), ids.slice(0, 6));
    expect(new Set(answeredBy).size).toBe(2);
    expect(answeredBy.every((w) => w !== undefined)).toBe(true);
  });
});
