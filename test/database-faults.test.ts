/**
 * Issue #15, "database faults" and "fail closed" (docs/architecture.md §11), one node in this
 * process over a private PostgreSQL cluster (paused with SIGSTOP, stopped and restarted) and over
 * SQLite (a file locked by another writer): `/healthz` never asks the database, `/readyz` fails
 * within 1 s, requests that need the database answer 503 `temporarily_unavailable` quickly in the
 * shape their endpoint documents, introspection fails closed past the bound, and the node recovers
 * without a restart. A process that crashed on a lost connection would take this test file with it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';
import { basic, createOAuthFixture, form, MCP, type OAuthFixture } from './support/oauth-fixtures.js';
import { PrivatePostgres, privatePgAvailable } from './support/private-pg.js';

/** Short timeouts so faults show quickly; the bounds asserted below are generous multiples of them. */
const FAULT_CONFIG = {
  failClosedAfterSeconds: 2,
  dbConnectTimeoutMs: 1000,
  dbQueryTimeoutMs: 1000,
  dbStatementTimeoutMs: 1000,
};

/** Polls `check` every 50 ms until it holds or `ms` passes; returns the elapsed milliseconds. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error(`not true within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return Date.now() - started;
}

async function timed(run: () => Promise<LightMyRequestResponse>): Promise<{ res: LightMyRequestResponse; ms: number }> {
  const started = Date.now();
  const res = await run();
  return { res, ms: Date.now() - started };
}

/** A database-backed node over the private cluster: the shape of TestDatabase the helpers take. */
function privateDatabase(cluster: PrivatePostgres, name: string): TestDatabase {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mandate-faults-'));
  return {
    dialect: 'postgres',
    dataDir,
    databaseUrl: cluster.url(name),
    masterKey: Buffer.alloc(32, 9),
    dispose: async () => fs.rmSync(dataDir, { recursive: true, force: true }),
  };
}

function expectUnavailable(res: LightMyRequestResponse, shape: 'oauth' | 'api'): void {
  expect(res.statusCode, res.body).toBe(503);
  expect(res.headers['retry-after']).toBe('1');
  const body = res.json();
  expect(body).toMatchObject({ error: 'temporarily_unavailable', error_description: expect.any(String) });
  // RFC 6749 §5.2 on OAuth endpoints; the documented `/v1` shape, with its request id, elsewhere.
  if (shape === 'oauth') expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
  else expect(body.request_id).toBe(res.headers['x-request-id']);
}

describe.skipIf(!privatePgAvailable)('database faults on PostgreSQL (a private cluster)', () => {
  let cluster: PrivatePostgres;
  let db: TestDatabase;
  let node: MandateNode;
  let fx: OAuthFixture;

  const tokenRequest = () =>
    node.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(fx.agentClient.client_id, fx.agentClient.client_secret),
      },
      payload: form({ grant_type: 'client_credentials', resource: MCP }),
    });
  const issue = async () => {
    const res = await tokenRequest();
    expect(res.statusCode, res.body).toBe(200);
    return res.json().access_token as string;
  };
  const introspect = (token: string) =>
    node.app.inject({
      method: 'POST',
      url: '/oauth2/introspect',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(fx.agentClient.client_id, fx.agentClient.client_secret),
      },
      payload: form({ token }),
    });
  const createOrganization = (slug: string) =>
    node.app.inject({ method: 'POST', url: '/v1/organizations', headers: adminHeaders, payload: { slug, name: slug } });
  const get = (url: string) => node.app.inject({ method: 'GET', url });

  /** Once the database is back: ready, issuing, and a token from before the fault active again. */
  async function recovers(token: string): Promise<void> {
    expect(await within(10_000, async () => (await get('/readyz')).statusCode === 200)).toBeLessThan(10_000);
    expect(await within(5_000, async () => (await introspect(token)).json().active === true)).toBeLessThan(5_000);
    await issue();
  }

  beforeAll(async () => {
    cluster = await PrivatePostgres.create();
    await cluster.sql('CREATE DATABASE mandate');
    db = privateDatabase(cluster, 'mandate');
    node = await startTestNode(db, { config: FAULT_CONFIG });
    fx = await createOAuthFixture(node);
  }, 60_000);

  afterAll(async () => {
    cluster?.resume();
    await node?.shutdown();
    cluster?.destroy();
    await db?.dispose();
  }, 30_000);

  it('while the server is paused: liveness stays up, readiness fails within 1 s, requests answer 503 fast, introspection fails closed; then it recovers', async () => {
    const token = await issue();
    expect((await introspect(token)).json().active).toBe(true);
    cluster.pause();
    try {
      const health = await timed(() => get('/healthz'));
      expect(health.res.statusCode).toBe(200);
      expect(health.ms).toBeLessThan(500);

      const ready = await timed(() => get('/readyz'));
      expect(ready.res.statusCode).toBe(503);
      expect(ready.res.json().error).toBe('not_ready');
      expect(ready.ms).toBeLessThan(1_500);

      const issued = await timed(tokenRequest);
      expectUnavailable(issued.res, 'oauth');
      expect(issued.ms).toBeLessThan(3_000);

      const created = await timed(() => createOrganization('paused'));
      expectUnavailable(created.res, 'api');
      expect(created.ms).toBeLessThan(3_000);

      // Never a stale `active: true` once past the bound (MANDATE_FAIL_CLOSED_AFTER=2).
      expect(await within(5_000, async () => (await introspect(token)).json().active === false)).toBeLessThan(5_000);
      expect(node.freshness.staleSources()).toEqual(expect.arrayContaining(['database', 'events']));
    } finally {
      cluster.resume();
    }
    await recovers(token);
    expect((await createOrganization('resumed')).statusCode).toBe(201);
  }, 60_000);

  it('while the server is down: its connections are lost without crashing the node, requests answer 503 fast; after a restart it recovers', async () => {
    const token = await issue();
    cluster.stop();
    try {
      const issued = await timed(tokenRequest);
      expectUnavailable(issued.res, 'oauth');
      expect(issued.ms).toBeLessThan(3_000);
      const created = await timed(() => createOrganization('stopped'));
      expectUnavailable(created.res, 'api');
      expect((await get('/readyz')).statusCode).toBe(503);
      expect((await get('/healthz')).statusCode).toBe(200);
      expect(await within(5_000, async () => (await introspect(token)).json().active === false)).toBeLessThan(5_000);
    } finally {
      cluster.start();
    }
    await recovers(token);
    // A failed request changed nothing: the organization it tried to create does not exist.
    expect((await node.app.inject({ method: 'GET', url: '/v1/organizations/stopped', headers: adminHeaders })).statusCode).toBe(404);
  }, 60_000);

  it('a full pool answers 503 once the wait for a connection times out, and serves again when one is free', async () => {
    const small = await startTestNode(db, { config: { ...FAULT_CONFIG, dbPoolSize: 1 } });
    try {
      let release!: () => void;
      const held = small.runtime.store.db.connection().execute(() => new Promise<void>((resolve) => (release = resolve)));
      const started = Date.now();
      const res = await small.app.inject({
        method: 'POST',
        url: '/v1/organizations',
        headers: adminHeaders,
        payload: { slug: 'busy', name: 'b' },
      });
      expectUnavailable(res, 'api');
      expect(Date.now() - started).toBeLessThan(3_000);
      release();
      await held;
      const again = await small.app.inject({
        method: 'POST',
        url: '/v1/organizations',
        headers: adminHeaders,
        payload: { slug: 'free', name: 'f' },
      });
      expect(again.statusCode, again.body).toBe(201);
    } finally {
      await small.shutdown();
    }
  }, 30_000);
});

describe('database faults on SQLite', () => {
  let db: TestDatabase;
  let node: MandateNode;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    node = await startTestNode(db, { config: FAULT_CONFIG });
  });

  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it('a write blocked past busy_timeout by another writer answers 503 temporarily_unavailable and changes nothing', async () => {
    await node.app.inject({ method: 'POST', url: '/v1/organizations', headers: adminHeaders, payload: { slug: 'scimcorp', name: 's' } });
    const scimToken = (
      await node.app.inject({
        method: 'POST',
        url: '/v1/organizations/scimcorp/scim-tokens',
        headers: adminHeaders,
        payload: { name: 'IdP' },
      })
    ).json().token as string;
    const other = new SQLite(path.join(db.dataDir, 'mandate.db'));
    try {
      other.exec('BEGIN IMMEDIATE');
      const [res, scim] = await Promise.all([
        node.app.inject({ method: 'POST', url: '/v1/organizations', headers: adminHeaders, payload: { slug: 'locked', name: 'l' } }),
        node.app.inject({
          method: 'POST',
          url: '/scim/v2/Users',
          headers: { authorization: `Bearer ${scimToken}`, 'content-type': 'application/scim+json' },
          payload: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'locked@scimcorp.test' },
        }),
      ]);
      expectUnavailable(res, 'api');
      // SCIM answers in its own error shape (RFC 7644 §3.12), with the same status and Retry-After.
      expect(scim.statusCode, scim.body).toBe(503);
      expect(scim.headers['retry-after']).toBe('1');
      expect(scim.json()).toMatchObject({ status: '503' });
      other.exec('ROLLBACK');
    } finally {
      other.close();
    }
    expect((await node.app.inject({ method: 'GET', url: '/v1/organizations/locked', headers: adminHeaders })).statusCode).toBe(404);
    expect(
      (await node.app.inject({ method: 'POST', url: '/v1/organizations', headers: adminHeaders, payload: { slug: 'locked', name: 'l' } }))
        .statusCode,
    ).toBe(201);
  }, 30_000);

  it('the heartbeat keeps a node on its local file fresh', async () => {
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(node.freshness.staleSources()).toEqual([]);
    expect((await node.app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  });
});
