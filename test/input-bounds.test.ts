import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NestingTooDeepError } from '../src/audit/canonical-json.js';
import type { MandateNode } from '../src/node.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, snapshot, startListeningNode, type TestDatabase } from './support/nodes.js';

/** `{"a":{"a":…1…}}`: `levels` objects inside each other. */
function nestedText(levels: number): string {
  return `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
}

/** The same as a value, built without recursion. */
function nestedValue(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { a: 1 };
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

describe.each(dialects)('input bounds over HTTP on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let issuer: string;
  let agentId: string;

  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${issuer}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...adminHeaders, ...headers }, body });
  /** An intent whose body (the outer object, `detail`, and its contents) nests `levels` deep. */
  const intentBody = (levels: number) =>
    `{"organization":"acme","agent_id":"${agentId}","tool":"calendar","action":"read","detail":${nestedText(levels - 1)}}`;
  const auditCount = async () =>
    (
      await node.runtime.store.db
        .selectFrom('audit_events')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n;

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    ({ node, issuer } = await startListeningNode(db));
    expect((await post('/v1/organizations', JSON.stringify({ slug: 'acme', name: 'Acme' }))).status).toBe(201);
    const owner = (await (await post('/v1/organizations/acme/members', JSON.stringify({ email: 'owner@acme.test' }))).json()) as {
      id: string;
    };
    const agent = await post(
      '/v1/organizations/acme/agents',
      JSON.stringify({ name: 'Bot', purpose: 'p', owner_member_id: owner.id, environment: 'prod' }),
    );
    agentId = ((await agent.json()) as { id: string }).id;
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it('accepts a body exactly MANDATE_JSON_MAX_DEPTH (32) deep and records its detail', async () => {
    const before = Number(await auditCount());
    const res = await post('/v1/audit/intents', intentBody(32));
    expect(res.status, await res.clone().text()).toBe(201);
    expect(Number(await auditCount())).toBe(before + 1);
  });

  it.each([33, 40, 3000, 5000])('refuses a body %i levels deep with 400 invalid_request and writes nothing', async (levels) => {
    const before = await snapshot(node);
    const res = await post('/v1/audit/intents', intentBody(levels));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { request_id: string };
    expect(body).toMatchObject({ error: 'invalid_request', error_description: 'request body is nested more than 32 levels deep' });
    expect(body.request_id).toBe(res.headers.get('x-request-id'));
    expect(await snapshot(node)).toBe(before);
  });

  it('counts arrays too, and not brackets inside strings', async () => {
    const before = await snapshot(node);
    for (const levels of [40, 30_000]) {
      const arrays = await post(
        '/v1/audit/intents',
        intentBody(2).replace('"detail":{"a":1}', `"detail":{"a":${'['.repeat(levels)}${']'.repeat(levels)}}`),
      );
      expect(arrays.status).toBe(400);
    }
    expect(await snapshot(node)).toBe(before);
    const text = `"${'[{'.repeat(3000)}\\"${'}]'.repeat(3000)}"`;
    const inString = await post('/v1/audit/intents', intentBody(2).replace('"detail":{"a":1}', `"detail":{"note":${text}}`));
    expect(inString.status, await inString.clone().text()).toBe(201);
  });

  it('still refuses prototype poisoning as Fastify does', async () => {
    const before = await snapshot(node);
    const res = await post('/v1/audit/intents', intentBody(2).replace('"detail":{"a":1}', '"detail":{"__proto__":{"admin":true}}'));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_request' });
    expect(await snapshot(node)).toBe(before);
  });

  it('refuses a body over MANDATE_BODY_LIMIT with 413 payload_too_large and writes nothing', async () => {
    const before = await snapshot(node);
    const res = await post('/v1/audit/intents', intentBody(2).replace('"detail":{"a":1}', `"detail":{"a":"${'x'.repeat(70_000)}"}`));
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: 'payload_too_large' });
    expect(await snapshot(node)).toBe(before);
  });

  it('answers a deep body on an OAuth endpoint in the RFC 6749 §5.2 shape', async () => {
    const deep = `{"redirect_uris":["http://127.0.0.1/cb"],"client_name":"x","jwks":${nestedText(40)}}`;
    const res = await fetch(`${issuer}/oauth2/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: deep });
    expect(res.status).toBe(400);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ error: 'invalid_request', error_description: 'request body is nested more than 32 levels deep' });
  });

  it('bounds form bodies on OAuth endpoints by size', async () => {
    const res = await fetch(`${issuer}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=client_credentials&scope=${'a'.repeat(20_000)}`,
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('refuses a deep audit detail built in code before it is queued: the batch it would have shared is written', async () => {
    const before = Number(await auditCount());
    const deep = node.auditBatcher.record({ kind: 'decision', orgId: null, detail: nestedValue(5000) });
    const fine = node.auditBatcher.record({ kind: 'decision', orgId: null, detail: { ok: true } });
    await expect(deep).rejects.toBeInstanceOf(NestingTooDeepError);
    await fine;
    expect(Number(await auditCount())).toBe(before + 1);
  });
});
