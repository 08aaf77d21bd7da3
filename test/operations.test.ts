import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, TEST_ADMIN_KEY, type TestDatabase } from './support/nodes.js';

describe.each(dialects)('operations on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  const logLines: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db, {
      config: { publicRateLimitPerMinute: 5 },
      logDestination: { write: (line: string) => void logLines.push(line) },
    });
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it('answers liveness and readiness', async () => {
    expect((await node.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await node.app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready' });
  });

  it('is not ready while a migration is pending', async () => {
    const db = node.runtime.store.db;
    const rows = await db
      .selectFrom('kysely_migration' as never)
      .selectAll()
      .execute();
    await sql`delete from kysely_migration`.execute(db);
    try {
      const res = await node.app.inject({ method: 'GET', url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ error: 'not_ready', error_description: expect.stringContaining('0001-foundation') });
    } finally {
      await db
        .insertInto('kysely_migration' as never)
        .values(rows as never)
        .execute();
    }
    const after = await node.app.inject({ method: 'GET', url: '/readyz' });
    expect(after.json()).toEqual({ status: 'ready' });
  });

  it('exports Prometheus metrics by route and status', async () => {
    await node.app.inject({ method: 'GET', url: '/v1/organizations', headers: adminHeaders });
    await node.app.inject({ method: 'GET', url: '/v1/organizations/nope', headers: adminHeaders });
    const text = (await node.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(text).toMatch(/mandate_http_requests_total\{method="GET",route="\/v1\/organizations",status="200"\} \d+/);
    expect(text).toMatch(/mandate_errors_total\{code="not_found"\} \d+/);
    expect(text).toContain('mandate_http_request_duration_seconds_bucket');
    expect(text).toContain('mandate_tokens_issued_total');
  });

  it('returns x-request-id on every response, keeping a safe caller id and replacing an unsafe one', async () => {
    const kept = await node.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'trace-abc.123' } });
    expect(kept.headers['x-request-id']).toBe('trace-abc.123');
    const replaced = await node.app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'bad id\nforged: 1' } });
    expect(replaced.headers['x-request-id']).toMatch(/^req_[0-9a-z]{26}$/);
    const missing = await node.app.inject({ method: 'GET', url: '/nowhere' });
    expect(missing.json().request_id).toBe(missing.headers['x-request-id']);
  });

  it('sets security headers', async () => {
    const res = await node.app.inject({ method: 'GET', url: '/v1/organizations', headers: adminHeaders });
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['strict-transport-security']).toBeUndefined(); // http://localhost issuer
    expect(res.headers['referrer-policy']).toBe('no-referrer');
  });

  it('rate-limits public endpoints per IP with the documented error', async () => {
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof node.app.inject>> | undefined;
    for (let i = 0; i < 7; i++) {
      last = await node.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server', remoteAddress: '198.51.100.7' });
      statuses.push(last.statusCode);
    }
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.slice(5)).toEqual([429, 429]);
    expect(last?.json()).toMatchObject({ error: 'rate_limited' });
    expect(last?.headers['retry-after']).toBeDefined();
    // Another client is not affected.
    const other = await node.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server', remoteAddress: '198.51.100.8' });
    expect(other.statusCode).toBe(200);
  });

  it('publishes an OpenAPI document generated from the route schemas', async () => {
    const doc = (await node.app.inject({ method: 'GET', url: '/v1/openapi.json' })).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/organizations',
        '/v1/organizations/{org}',
        '/v1/organizations/{org}/members/{member}',
        '/v1/audit/events',
      ]),
    );
    const create = doc.paths['/v1/organizations'].post;
    expect(create.requestBody.content['application/json'].schema.required).toEqual(expect.arrayContaining(['slug', 'name']));
    expect(create.security).toEqual([{ adminKey: [] }]);
    expect(doc.components.securitySchemes.adminKey).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('never writes an admin key or a secret-named field to the logs', async () => {
    await node.app.inject({ method: 'GET', url: '/v1/organizations?client_secret=s3cr3t-in-query', headers: adminHeaders });
    node.runtime.logger.info({ detail: { client_secret: 'nested-s3cr3t' } }, 'probe');
    const joined = logLines.join('');
    expect(joined).toContain('/v1/organizations');
    expect(joined).toContain('probe');
    expect(joined).not.toContain(TEST_ADMIN_KEY);
    expect(joined).not.toContain('s3cr3t');
  });
});
