import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnomalyDetection } from '../src/anomaly/install.js';
import { anomalyRoutes } from '../src/anomaly/routes.js';
import { ErrorBody } from '../src/http/common-schemas.js';
import type { MandateNode } from '../src/node.js';
import { ENTERPRISE_EXAMPLE } from '../src/seed/enterprise-example.js';
import { dialects, pgAvailable } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';
import { basic, form } from './support/oauth-fixtures.js';

const CRM = 'https://crm.acme.test/';
const ctx = { environment: 'prod', classification: 'internal' };

/** A node with anomaly detection installed the way app.ts will. */
async function startAnomalyNode(db: TestDatabase): Promise<{ node: MandateNode; anomaly: AnomalyDetection }> {
  const node = await startTestNode(db, { config: { devAllowLoopbackFetch: true } });
  return { node, anomaly: node.anomaly };
}

/** A loopback webhook receiver that keeps what it was sent. */
async function startReceiver(): Promise<{ url: string; alerts: Record<string, unknown>[]; close(): Promise<void> }> {
  const alerts: Record<string, unknown>[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      alerts.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/alerts`, alerts, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

interface SeededAgent {
  id: string;
  role: string;
  client: { client_id: string; client_secret: string };
}

/**
 * An organization with the seeded enterprise example's roles, one agent (and its
 * client_credentials client) per agent role, and the given settings.
 */
async function seedOrganization(node: MandateNode, slug: string, settings: object): Promise<SeededAgent[]> {
  const admin = async (url: string, payload: object) => {
    const res = await node.app.inject({ method: 'POST', url, payload, headers: adminHeaders });
    if (res.statusCode >= 300) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
    return res.json();
  };
  await admin('/v1/organizations', { slug, name: slug, settings });
  const owner = await admin(`/v1/organizations/${slug}/members`, { email: `owner@${slug}.test` });
  const agents: SeededAgent[] = [];
  for (const seed of ENTERPRISE_EXAMPLE) {
    const role = await node.roles.create(slug, seed, { actorId: 'test' });
    if (!seed.name.endsWith('Agent')) continue;
    const agent = await admin(`/v1/organizations/${slug}/agents`, {
      name: seed.name,
      purpose: seed.description,
      owner_member_id: owner.id,
      environment: 'prod',
    });
    const bound = await node.app.inject({
      method: 'POST',
      url: `/v1/organizations/${slug}/roles/${role.id}/bindings`,
      payload: { agent_id: agent.id },
      headers: adminHeaders,
    });
    expect(bound.statusCode).toBe(204);
    const client = await admin(`/v1/organizations/${slug}/clients`, {
      client_name: `${seed.name} key`,
      client_type: 'confidential',
      grant_types: ['client_credentials'],
      scope: 'crm.read crm.write',
      resources: [CRM],
      agent_id: agent.id,
    });
    agents.push({ id: agent.id, role: seed.name, client });
  }
  return agents;
}

async function createCrmResource(node: MandateNode): Promise<void> {
  const res = await node.app.inject({
    method: 'POST',
    url: '/v1/resources',
    headers: adminHeaders,
    payload: {
      identifier: CRM,
      name: 'CRM',
      scopes: [
        { name: 'crm.read', description: 'Read CRM records' },
        { name: 'crm.write', description: 'Change CRM records' },
      ],
    },
  });
  expect(res.statusCode).toBe(201);
}

const check = (node: MandateNode, org: string, agentId: string, tool: string, action: string) =>
  node.app.inject({
    method: 'POST',
    url: '/v1/authz/check',
    headers: adminHeaders,
    payload: { organization: org, agent_id: agentId, tool, action, context: ctx },
  });

const token = (node: MandateNode, client: { client_id: string; client_secret: string }) =>
  node.app.inject({
    method: 'POST',
    url: '/oauth2/token',
    payload: form({ grant_type: 'client_credentials', resource: CRM }),
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, client.client_secret) },
  });

async function findings(node: MandateNode, agentId?: string): Promise<{ agent_id: string | null; detail: Record<string, unknown> }[]> {
  let query = node.runtime.store.db.selectFrom('audit_events').select(['agent_id', 'detail']).where('kind', '=', 'anomaly.detected');
  if (agentId) query = query.where('agent_id', '=', agentId);
  const rows = await query.orderBy('at').execute();
  return rows.map((r) => ({ agent_id: r.agent_id, detail: JSON.parse(r.detail) as Record<string, unknown> }));
}

const byRole = (agents: SeededAgent[], role: string) => agents.find((a) => a.role === role) as SeededAgent;

describe.each(dialects)('anomaly detection on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let anomaly: AnomalyDetection;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let agents: SeededAgent[];

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    ({ node, anomaly } = await startAnomalyNode(db));
    receiver = await startReceiver();
    await createCrmResource(node);
    agents = await seedOrganization(node, 'acme', {
      anomaly_responses: { denied_burst: 'downscope', bulk_export: 'suspend' },
      anomaly_webhook_url: receiver.url,
    });
  });
  afterAll(async () => {
    await anomaly?.stop();
    await node?.shutdown();
    await receiver?.close();
    await db?.dispose();
  });

  it('raises no finding for normal traffic of the seeded example', async () => {
    for (const agent of agents) {
      const seed = ENTERPRISE_EXAMPLE.find((r) => r.name === agent.role);
      for (const permission of seed?.permissions.filter((p) => !p.approval_required) ?? []) {
        const res = await check(node, 'acme', agent.id, permission.tool, permission.action);
        expect(res.json().decision).toBe('allow');
      }
      expect((await token(node, agent.client)).statusCode).toBe(200);
    }
    await anomaly.detector.settled();
    expect(await findings(node)).toEqual([]);
    expect(receiver.alerts).toEqual([]);
  });

  it('a burst of 500 calls in 10 s is a rate spike: an audit event and a webhook alert', async () => {
    const agent = byRole(agents, 'Support Agent');
    const started = Date.now();
    for (let i = 0; i < 5; i += 1) {
      const answers = await Promise.all(Array.from({ length: 100 }, () => check(node, 'acme', agent.id, 'ticketing', 'read')));
      expect(answers.every((r) => r.json().decision === 'allow')).toBe(true);
    }
    expect(Date.now() - started).toBeLessThan(10_000);
    await anomaly.detector.settled();
    const found = await findings(node, agent.id);
    expect(found).toHaveLength(1);
    expect(found[0]?.detail).toMatchObject({ rule: 'rate_spike', response: 'alert', count: 301, threshold: 300, window_seconds: 10 });
    expect(receiver.alerts).toEqual([expect.objectContaining({ type: 'anomaly.detected', rule: 'rate_spike', agent_id: agent.id })]);
    // Alert only: the agent keeps working.
    expect(anomaly.restrictions.restrictionOf(agent.id)).toBeNull();
    expect((await check(node, 'acme', agent.id, 'ticketing', 'write')).json().decision).toBe('allow');
  });

  it('20 denied decisions in a minute down-scope the agent: its next token is read-only', async () => {
    const agent = byRole(agents, 'Sales Ops Agent');
    const before = await token(node, agent.client);
    expect(before.json().scope).toBe('crm.read crm.write');
    for (let i = 0; i < 20; i += 1) expect((await check(node, 'acme', agent.id, 'payments', 'approve')).json().decision).toBe('deny');
    await anomaly.detector.settled();
    expect((await findings(node, agent.id)).map((f) => f.detail)).toEqual([
      expect.objectContaining({ rule: 'denied_burst', response: 'downscope', count: 20 }),
    ]);
    const restricted = await node.runtime.store.db
      .selectFrom('audit_events')
      .select('detail')
      .where('kind', '=', 'agent.restricted')
      .where('agent_id', '=', agent.id)
      .execute();
    expect(restricted.map((r) => JSON.parse(r.detail))).toEqual([expect.objectContaining({ restriction: 'read_only' })]);
    const after = await token(node, agent.client);
    expect(after.statusCode).toBe(200);
    expect(after.json().scope).toBe('crm.read');
    // Decisions follow: reads stand, writes are refused.
    expect((await check(node, 'acme', agent.id, 'crm', 'read')).json().decision).toBe('allow');
    expect((await check(node, 'acme', agent.id, 'crm', 'write')).json()).toMatchObject({
      decision: 'deny',
      reasons: [expect.stringContaining('read-only')],
    });
  });

  it('an administrator lifts the restriction through the API', async () => {
    const agent = byRole(agents, 'Sales Ops Agent');
    const api = Fastify().withTypeProvider<TypeBoxTypeProvider>();
    api.addSchema(ErrorBody);
    await api.register(anomalyRoutes, { prefix: '/v1', restrictions: anomaly.restrictions, organizations: node.organizations });
    const url = `/v1/organizations/acme/agents/${agent.id}/restriction`;
    expect((await api.inject({ method: 'GET', url })).json()).toEqual({ restriction: 'read_only' });
    const lifted = await api.inject({ method: 'PUT', url, payload: { restriction: null, reason: 'false positive' } });
    expect(lifted.json()).toEqual({ restriction: null });
    expect((await token(node, agent.client)).json().scope).toBe('crm.read crm.write');
    expect((await api.inject({ method: 'GET', url })).json()).toEqual({ restriction: null });
    await api.close();
  });

  it('a bulk export suspends the agent', async () => {
    const agent = byRole(agents, 'Finance Agent');
    // With the export of the normal traffic above, the fourth here is the fifth in a minute.
    for (let i = 0; i < 4; i += 1) expect((await check(node, 'acme', agent.id, 'warehouse', 'export')).json().decision).toBe('allow');
    await anomaly.detector.settled();
    expect((await findings(node, agent.id)).map((f) => f.detail)).toEqual([
      expect.objectContaining({ rule: 'bulk_export', response: 'suspend', count: 5 }),
    ]);
    expect((await node.agents.get('acme', agent.id)).status).toBe('suspended');
    expect((await token(node, agent.client)).json()).toMatchObject({ error: 'unauthorized_client' });
    expect((await check(node, 'acme', agent.id, 'warehouse', 'read')).json().decision).toBe('deny');
  });

  it('an organization may require approval for everything an agent does', async () => {
    await seedOrganization(node, 'initech', { anomaly_responses: { outside_environment: 'require_approval' } });
    const agent = (await node.agents.list('initech', { limit: 10 })).data.find((a) => a.name === 'IT Ops Agent') as { id: string };
    const res = await node.app.inject({
      method: 'POST',
      url: '/v1/authz/check',
      headers: adminHeaders,
      payload: { organization: 'initech', agent_id: agent.id, tool: 'ticketing', action: 'read', context: { ...ctx, environment: 'dev' } },
    });
    // Outside its registered environment the agent is refused, and the attempt is still an anomaly.
    expect(res.json()).toMatchObject({ decision: 'deny', reasons: ['the agent is registered for prod, not dev'] });
    await anomaly.detector.settled();
    expect((await findings(node, agent.id)).map((f) => f.detail)).toEqual([
      expect.objectContaining({ rule: 'outside_environment', response: 'require_approval', environment: 'dev' }),
    ]);
    expect((await check(node, 'initech', agent.id, 'ticketing', 'read')).json()).toMatchObject({ decision: 'approval_required' });
  });

  it('limits an agent’s requests per minute when the organization sets a limit', async () => {
    const [agent] = await seedOrganization(node, 'globex', { agent_rate_limit_per_minute: 3 });
    if (!agent) throw new Error('no agent seeded');
    for (let i = 0; i < 3; i += 1) expect((await check(node, 'globex', agent.id, 'ticketing', 'read')).statusCode).toBe(200);
    const limited = await check(node, 'globex', agent.id, 'ticketing', 'read');
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ error: 'rate_limited' });
    expect(limited.headers['retry-after']).toBeDefined();
    const refused = await token(node, agent.client);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('too many') });
  });

  it('validates the anomaly settings', async () => {
    const patch = (settings: object) =>
      node.app.inject({ method: 'PATCH', url: '/v1/organizations/acme', headers: adminHeaders, payload: { settings } });
    expect((await patch({ anomaly_responses: { rate_spike: 'explode' } })).statusCode).toBe(400);
    expect((await patch({ anomaly_responses: { made_up_rule: 'alert' } })).statusCode).toBe(400);
    expect((await patch({ anomaly_webhook_url: 'not a url' })).statusCode).toBe(400);
    expect((await patch({ agent_rate_limit_per_minute: 0 })).statusCode).toBe(400);
    expect((await patch({ anomaly_responses: { rate_spike: 'suspend' }, agent_rate_limit_per_minute: 600 })).statusCode).toBe(200);
  });
});

describe.runIf(pgAvailable)('anomaly responses across two nodes on one PostgreSQL', () => {
  let db: TestDatabase;
  let a: { node: MandateNode; anomaly: AnomalyDetection };
  let b: { node: MandateNode; anomaly: AnomalyDetection };
  let agents: SeededAgent[];

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    a = await startAnomalyNode(db);
    b = await startAnomalyNode(db);
    await createCrmResource(a.node);
    agents = await seedOrganization(a.node, 'acme', { anomaly_responses: { bulk_export: 'suspend', denied_burst: 'downscope' } });
  });
  afterAll(async () => {
    await Promise.all([a?.anomaly.stop(), b?.anomaly.stop()]);
    await Promise.all([a?.node.shutdown(), b?.node.shutdown()]);
    await db?.dispose();
  });

  it('a bulk export on node A: the agent is refused on node B within 1 s', async () => {
    const agent = byRole(agents, 'Finance Agent');
    expect((await token(b.node, agent.client)).statusCode).toBe(200);
    for (let i = 0; i < 5; i += 1) expect((await check(a.node, 'acme', agent.id, 'warehouse', 'export')).json().decision).toBe('allow');
    const started = Date.now();
    while ((await token(b.node, agent.client)).statusCode === 200) {
      if (Date.now() - started > 1000) throw new Error('node B still issues tokens to the agent after 1 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(Date.now() - started).toBeLessThan(1000);
    expect((await check(b.node, 'acme', agent.id, 'warehouse', 'read')).json()).toMatchObject({ decision: 'deny' });
  });

  it('a down-scope on node A applies to tokens node B mints', async () => {
    const agent = byRole(agents, 'Sales Ops Agent');
    for (let i = 0; i < 20; i += 1) await check(a.node, 'acme', agent.id, 'payments', 'approve');
    const started = Date.now();
    while ((await token(b.node, agent.client)).json().scope !== 'crm.read') {
      if (Date.now() - started > 1000) throw new Error('node B still mints write scopes after 1 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(b.anomaly.restrictions.restrictionOf(agent.id)).toBe('read_only');
  });
});
