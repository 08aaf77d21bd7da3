import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config.js';
import type { MandateNode } from '../src/node.js';
import { FrozenClock } from './support/clock.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startListeningNode, type TestDatabase } from './support/nodes.js';

/** The answer to one request sent over real HTTP from a chosen loopback address. */
interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** POSTs or GETs from `from` (any 127.0.0.0/8 address is this machine), with an optional X-Forwarded-For. */
function send(
  issuer: string,
  options: { method?: string; path: string; from: string; xff?: string; body?: unknown; admin?: boolean },
): Promise<Answer> {
  const url = new URL(options.path, issuer);
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: '127.0.0.1',
        port: url.port,
        path: url.pathname,
        method: options.method ?? 'GET',
        localAddress: options.from,
        headers: {
          ...(options.admin !== false && adminHeaders),
          ...(payload !== undefined && { 'content-type': 'application/json' }),
          ...(options.xff !== undefined && { 'x-forwarded-for': options.xff }),
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => {
          text += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text ? JSON.parse(text) : {} }));
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

describe.each(dialects)('trusted proxies (MANDATE_TRUST_PROXY) on %s', (dialect) => {
  let db: TestDatabase;
  let clock: FrozenClock;
  let agentId: string;
  const nodes: MandateNode[] = [];

  /** A node listening on loopback with this trust setting over the shared database. */
  async function start(config: Partial<Config>): Promise<{ node: MandateNode; issuer: string }> {
    const started = await startListeningNode(db, { clock, config });
    nodes.push(started.node);
    return started;
  }

  /** The address the node recorded as the audit client_ip of an intent sent this way. */
  async function recordedIp(target: { node: MandateNode; issuer: string }, from: string, xff?: string): Promise<string | null> {
    const res = await send(target.issuer, {
      method: 'POST',
      path: '/v1/audit/intents',
      from,
      ...(xff !== undefined && { xff }),
      body: { organization: 'acme', agent_id: agentId, tool: 'calendar', action: 'read' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const row = await target.node.runtime.store.db
      .selectFrom('audit_events')
      .select('client_ip')
      .where('id', '=', res.body.id as string)
      .executeTakeFirstOrThrow();
    return row.client_ip ?? null;
  }

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    clock = new FrozenClock(Date.now());
    const setup = await start({});
    const org = await send(setup.issuer, {
      method: 'POST',
      path: '/v1/organizations',
      from: '127.0.0.1',
      body: { slug: 'acme', name: 'Acme' },
    });
    expect(org.status).toBe(201);
    const owner = await send(setup.issuer, {
      method: 'POST',
      path: '/v1/organizations/acme/members',
      from: '127.0.0.1',
      body: { email: 'owner@acme.test' },
    });
    const agent = await send(setup.issuer, {
      method: 'POST',
      path: '/v1/organizations/acme/agents',
      from: '127.0.0.1',
      body: { name: 'Bot', purpose: 'p', owner_member_id: owner.body.id, environment: 'prod' },
    });
    agentId = agent.body.id as string;
  });
  afterAll(async () => {
    for (const node of nodes) await node.shutdown();
    await db?.dispose();
  });

  it('not trusted (the default): X-Forwarded-For is ignored, a spoofed one changes nothing', async () => {
    const node = await start({});
    expect(await recordedIp(node, '127.0.0.1')).toBe('127.0.0.1');
    expect(await recordedIp(node, '127.0.0.1', '203.0.113.9')).toBe('127.0.0.1');
    expect(await recordedIp(node, '127.0.0.3', '203.0.113.9, 198.51.100.1')).toBe('127.0.0.3');
  });

  it('a hop count of 1: the last X-Forwarded-For entry (the one the proxy appended) is the client', async () => {
    const node = await start({ trustProxy: 1 });
    expect(await recordedIp(node, '127.0.0.1', '203.0.113.9')).toBe('203.0.113.9');
    // A client's own forged entries come first: the proxy appends the address it saw.
    expect(await recordedIp(node, '127.0.0.1', '6.6.6.6, 203.0.113.9')).toBe('203.0.113.9');
    expect(await recordedIp(node, '127.0.0.1')).toBe('127.0.0.1');
  });

  it('a hop count of 2: two proxies in a row', async () => {
    const node = await start({ trustProxy: 2 });
    expect(await recordedIp(node, '127.0.0.1', '6.6.6.6, 203.0.113.9, 10.0.0.5')).toBe('203.0.113.9');
  });

  it('a list of addresses and CIDRs: believed only from a listed peer, walking back past every listed proxy', async () => {
    const node = await start({ trustProxy: ['127.0.0.2', '10.0.0.0/8'] });
    // From a peer not in the list, the header is a client's claim and is ignored.
    expect(await recordedIp(node, '127.0.0.1', '203.0.113.9')).toBe('127.0.0.1');
    // From the proxy: the entries it and the inner proxies appended are walked back.
    expect(await recordedIp(node, '127.0.0.2', '203.0.113.9')).toBe('203.0.113.9');
    expect(await recordedIp(node, '127.0.0.2', '203.0.113.9, 10.1.2.3, 10.0.0.5')).toBe('203.0.113.9');
    // The walk stops at the first address that is not a listed proxy: what comes before it is forgeable.
    expect(await recordedIp(node, '127.0.0.2', '6.6.6.6, 203.0.113.9, 10.0.0.5')).toBe('203.0.113.9');
  });

  it('the new_network anomaly rule sees the forwarded address', async () => {
    const node = await start({ trustProxy: ['127.0.0.2'] });
    // Past the rule's learning period (a day by default): a new network is a finding.
    clock.advance(2 * 86_400);
    expect(await recordedIp(node, '127.0.0.2', '198.51.100.77')).toBe('198.51.100.77');
    await node.node.anomaly.detector.settled();
    const findings = await node.node.runtime.store.db
      .selectFrom('audit_events')
      .select('detail')
      .where('kind', '=', 'anomaly.detected')
      .where('agent_id', '=', agentId)
      .execute();
    const details = findings.map((row) => JSON.parse(row.detail as string) as Record<string, unknown>);
    expect(details).toContainEqual(expect.objectContaining({ rule: 'new_network', network: '198.51.100.0/24', ip: '198.51.100.77' }));
  });

  it('per-client rate limits count the forwarded client, and a spoofed header buys no fresh budget', async () => {
    const trusted = await start({ trustProxy: 1, publicRateLimitPerMinute: 2 });
    const jwks = (target: { issuer: string }, xff?: string) =>
      send(target.issuer, { path: '/oauth2/jwks', from: '127.0.0.1', admin: false, ...(xff !== undefined && { xff }) });
    expect((await jwks(trusted, '203.0.113.1')).status).toBe(200);
    expect((await jwks(trusted, '203.0.113.1')).status).toBe(200);
    expect((await jwks(trusted, '203.0.113.1')).status).toBe(429);
    // Another client behind the same proxy has its own budget.
    expect((await jwks(trusted, '203.0.113.2')).status).toBe(200);

    const untrusted = await start({ publicRateLimitPerMinute: 2 });
    expect((await jwks(untrusted, '203.0.113.1')).status).toBe(200);
    expect((await jwks(untrusted, '203.0.113.2')).status).toBe(200);
    expect((await jwks(untrusted, '203.0.113.3')).status).toBe(429);
  });
});
