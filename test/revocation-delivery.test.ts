import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { decodeJwt } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { openStore, type Store } from '../src/store/store.js';
import { type Executor, inTransaction } from '../src/store/transaction.js';
import { runCli } from './support/cli.js';
import { CODE_MCP, type CodeFlowFixture, createCodeFlowFixture, obtainUserTokens } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects, PG_ADMIN_URL } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';
import { basic, createOAuthFixture, form, MCP } from './support/oauth-fixtures.js';
import { within } from './support/within.js';

/**
 * Issue #15, "no lost revocation" (docs/architecture.md §10): a token revocation, a grant
 * revocation and the kill switch reach another node within 1 s normally, across a dropped bus
 * connection, when the sender dies between commit and notify, and on a node started later; gaps
 * between concurrent transactions are not skipped; a restore from a backup revives nothing once
 * `mandate restore-fence` has run.
 */

const formPost = (node: MandateNode, url: string, body: Record<string, string>, authorization?: string) =>
  node.app.inject({
    method: 'POST',
    url,
    payload: form(body),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization && { authorization }) },
  });

async function admin(node: MandateNode, method: 'POST' | 'DELETE', url: string, payload?: object): Promise<Record<string, string>> {
  const res = await node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
  if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
  return res.statusCode === 204 ? {} : res.json();
}

/** Another process's own connection to the test database. */
async function withStore<T>(db: TestDatabase, work: (store: Store) => Promise<T>): Promise<T> {
  const store = openStore({ databaseUrl: db.databaseUrl, sqliteFile: path.join(db.dataDir, 'mandate.db') });
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/** A committed change and its outbox row, written by a "sender" that dies before it can notify anyone. */
function commitWithoutNotify(db: TestDatabase, change: (trx: Executor) => Promise<{ topic: string; payload: object }>): Promise<void> {
  return withStore(db, (store) =>
    inTransaction(store, async (trx) => {
      const { topic, payload } = await change(trx);
      await trx
        .insertInto('event_outbox')
        .values({ topic, payload: JSON.stringify(payload), origin: 'dead-sender', created_at: new Date().toISOString() })
        .execute();
    }),
  );
}

describe.each(dialects)('revocations reach every node (%s)', (dialect) => {
  let db: TestDatabase;
  let loginApp: CustomerLoginApp;
  let a: MandateNode;
  let b: MandateNode;
  let fx: CodeFlowFixture;
  const agents = new Map<string, { id: string; auth: string }>();
  const agentId = (name: string) => agents.get(name)?.id as string;
  const introspector = () => basic(fx.webClient.client_id, fx.webClient.client_secret);
  const activeOn = async (node: MandateNode, token: string) =>
    (await formPost(node, '/oauth2/introspect', { token }, introspector())).json().active as boolean;
  const inactiveWithin1s = (node: MandateNode, token: string) => within(1000, async () => !(await activeOn(node, token)));
  /** A client_credentials token of the web client, which may revoke it (RFC 7009). */
  const webToken = async (node: MandateNode) =>
    (await formPost(node, '/oauth2/token', { grant_type: 'client_credentials', resource: CODE_MCP }, introspector())).json()
      .access_token as string;
  const agentToken = async (node: MandateNode, agent: string) => {
    const res = await formPost(node, '/oauth2/token', { grant_type: 'client_credentials', resource: CODE_MCP }, agents.get(agent)?.auth);
    if (res.statusCode !== 200) throw new Error(`agent token: ${res.body}`);
    return res.json().access_token as string;
  };
  /** John's access token from a fresh consent, and the grant it derives from. */
  const userToken = async (node: MandateNode) => {
    const { access_token: token } = await obtainUserTokens(node, fx, { resource: CODE_MCP });
    return { token, grantId: decodeJwt(token).auth_event_id as string };
  };
  const revokeToken = (node: MandateNode, token: string) => formPost(node, '/oauth2/revoke', { token }, introspector());
  const revokeGrant = (node: MandateNode, grantId: string) => admin(node, 'DELETE', `/v1/organizations/xcorp/grants/${grantId}`);
  const suspend = (node: MandateNode, agent: string) =>
    admin(node, 'POST', `/v1/organizations/xcorp/agents/${agentId(agent)}/suspend`, { reason: 'kill switch drill' });

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    loginApp = await startCustomerLoginApp({ sub: 'u-1001', email: 'john@xcorp.test', name: 'John Smith' });
    // A short fail-closed bound, for the staleness case.
    const config = { failClosedAfterSeconds: 2 };
    a = await startTestNode(db, { config });
    b = await startTestNode(db, { config });
    fx = await createCodeFlowFixture(a, loginApp);
    const owner = await admin(a, 'POST', '/v1/organizations/xcorp/members', { email: 'owner@xcorp.test' });
    for (const name of ['normal', 'dropped', 'crashed', 'gap', 'restored']) {
      const agent = await admin(a, 'POST', '/v1/organizations/xcorp/agents', {
        name,
        purpose: 'test',
        owner_member_id: owner.id as string,
        environment: 'prod',
      });
      const client = await admin(a, 'POST', '/v1/organizations/xcorp/clients', {
        client_name: name,
        client_type: 'confidential',
        grant_types: ['client_credentials'],
        scope: 'calendar.read',
        resources: [CODE_MCP],
        agent_id: agent.id as string,
      });
      agents.set(name, { id: agent.id as string, auth: basic(client.client_id as string, client.client_secret as string) });
    }
  });
  afterAll(async () => {
    await Promise.all([a?.shutdown(), b?.shutdown()]);
    await loginApp?.close();
    await db?.dispose();
  });

  const revoked: string[] = [];

  it('a token revocation, a grant revocation and the kill switch on node A reach node B within 1 s', async () => {
    const token = await webToken(a);
    const user = await userToken(a);
    const agent = await agentToken(b, 'normal');
    for (const t of [token, user.token, agent]) expect(await activeOn(b, t)).toBe(true);

    expect((await revokeToken(a, token)).statusCode).toBe(200);
    await revokeGrant(a, user.grantId);
    await suspend(a, 'normal');
    for (const t of [token, user.token, agent]) expect(await inactiveWithin1s(b, t)).toBeLessThan(1000);
    revoked.push(token, user.token, agent);
  });

  it.runIf(dialect === 'postgres')("... when node B's bus connection is dropped at the moment of the change", async () => {
    const token = await webToken(a);
    const user = await userToken(a);
    const agent = await agentToken(b, 'dropped');
    for (const t of [token, user.token, agent]) expect(await activeOn(b, t)).toBe(true);

    const adminClient = new pg.Client({ connectionString: PG_ADMIN_URL });
    await adminClient.connect();
    const dropListener = async () => {
      const { rowCount } = await adminClient.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [
        `mandate-events ${b.bus.origin}`,
      ]);
      expect(rowCount).toBe(1);
    };
    try {
      await dropListener();
      expect((await revokeToken(a, token)).statusCode).toBe(200);
      expect(await inactiveWithin1s(b, token)).toBeLessThan(1000);
      // Listening again (the reconnect), so there is a connection to drop once more.
      await within(
        2000,
        async () =>
          (await adminClient.query('select 1 from pg_stat_activity where application_name = $1', [`mandate-events ${b.bus.origin}`]))
            .rowCount === 1,
      );
      await dropListener();
      await revokeGrant(a, user.grantId);
      expect(await inactiveWithin1s(b, user.token)).toBeLessThan(1000);
      await within(
        2000,
        async () =>
          (await adminClient.query('select 1 from pg_stat_activity where application_name = $1', [`mandate-events ${b.bus.origin}`]))
            .rowCount === 1,
      );
      await dropListener();
      await suspend(a, 'dropped');
      expect(await inactiveWithin1s(b, agent)).toBeLessThan(1000);
    } finally {
      await adminClient.end();
    }
    revoked.push(token, user.token, agent);
  });

  it('... when the sender dies between its commit and any notification (both nodes learn it from the outbox)', async () => {
    const token = await webToken(a);
    const user = await userToken(a);
    const agent = await agentToken(b, 'crashed');
    for (const t of [token, user.token, agent]) expect(await activeOn(b, t)).toBe(true);

    const { jti, exp } = decodeJwt(token) as { jti: string; exp: number };
    await commitWithoutNotify(db, async (trx) => {
      await trx
        .insertInto('revoked_access_tokens')
        .values({ jti, expires_at: new Date(exp * 1000).toISOString(), revoked_at: new Date().toISOString() })
        .execute();
      return { topic: 'access_token.revoked', payload: { jti, exp } };
    });
    await commitWithoutNotify(db, async (trx) => {
      await trx
        .updateTable('grants')
        .set({ revoked_at: new Date().toISOString(), revoked_reason: 'test' })
        .where('id', '=', user.grantId)
        .execute();
      return { topic: 'grant.revoked', payload: { id: user.grantId } };
    });
    const stoppedAt = new Date().toISOString();
    await commitWithoutNotify(db, async (trx) => {
      await trx.updateTable('agents').set({ status: 'suspended' }).where('id', '=', agentId('crashed')).execute();
      await trx
        .insertInto('principal_stops')
        .values({ principal_id: agentId('crashed'), org_id: fx.orgId, stopped_at: stoppedAt, lifted_at: null })
        .execute();
      return { topic: 'principal.changed', payload: { id: agentId('crashed'), stoppedAt, lifted: false } };
    });
    for (const node of [a, b]) for (const t of [token, user.token, agent]) expect(await inactiveWithin1s(node, t)).toBeLessThan(1000);
    revoked.push(token, user.token, agent);
  });

  it.runIf(dialect === 'postgres')('does not skip an event whose transaction commits after a later one (a sequence gap)', async () => {
    const slowAgent = await agentToken(b, 'gap');
    const token = await webToken(a);
    const slow = new pg.Client({ connectionString: db.databaseUrl });
    await slow.connect();
    try {
      // The slow transaction takes its sequence number first and commits last.
      await slow.query('begin');
      const stoppedAt = new Date().toISOString();
      await slow.query(`insert into principal_stops (principal_id, org_id, stopped_at, lifted_at) values ($1, $2, $3, null)`, [
        agentId('gap'),
        fx.orgId,
        stoppedAt,
      ]);
      await slow.query(`insert into event_outbox (topic, payload, origin, created_at) values ('principal.changed', $1, 'slow', $2)`, [
        JSON.stringify({ id: agentId('gap'), stoppedAt, lifted: false }),
        stoppedAt,
      ]);
      expect((await revokeToken(a, token)).statusCode).toBe(200);
      expect(await inactiveWithin1s(b, token)).toBeLessThan(1000);
      expect(await activeOn(b, slowAgent)).toBe(true);
      await slow.query('commit');
      expect(await inactiveWithin1s(b, slowAgent)).toBeLessThan(1000);
    } finally {
      await slow.end();
    }
    revoked.push(token, slowAgent);
  });

  it('a node started after the events loads them: every revoked token is inactive there at once', async () => {
    const c = await startTestNode(db);
    try {
      expect(revoked.length).toBeGreaterThanOrEqual(6);
      for (const token of revoked) expect(await activeOn(c, token)).toBe(false);
    } finally {
      await c.shutdown();
    }
  });

  it('a node whose outbox goes back in time (a restore while it runs) notices and reloads everything from the tables', async () => {
    const agent = await agentToken(b, 'restored');
    expect(await activeOn(b, agent)).toBe(true);
    // The database now holds another history: none of the events the nodes read, a stop they never heard of.
    await commitWithoutNotify(db, async (trx) => {
      await trx.deleteFrom('event_outbox').execute();
      await trx
        .insertInto('principal_stops')
        .values({ principal_id: agentId('restored'), org_id: fx.orgId, stopped_at: new Date().toISOString(), lifted_at: null })
        .execute();
      return { topic: 'policies.changed', payload: { orgId: 'org_elsewhere' } };
    });
    expect(await inactiveWithin1s(b, agent)).toBeLessThan(1000);
    // Still following afterwards.
    const token = await webToken(a);
    expect((await revokeToken(a, token)).statusCode).toBe(200);
    expect(await inactiveWithin1s(b, token)).toBeLessThan(1000);
  });

  it('a node that cannot read the outbox becomes stale within the bound, and fresh again once it can', async () => {
    const bound = a.runtime.config.failClosedAfterSeconds * 1000;
    expect(b.freshness.staleSources()).toEqual([]);
    await withStore(db, (store) => store.db.schema.alterTable('event_outbox').renameTo('event_outbox_away').execute());
    try {
      expect(await within(bound + 1000, async () => b.freshness.staleSources().includes('events'))).toBeGreaterThan(bound / 2);
    } finally {
      await withStore(db, (store) => store.db.schema.alterTable('event_outbox_away').renameTo('event_outbox').execute());
    }
    expect(await within(1000, async () => !b.freshness.isStale())).toBeLessThan(1000);
  });
});

describe.each(dialects)('a restore from an old backup (%s)', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode | undefined;
  const backup = () => path.join(db.dataDir, dialect === 'sqlite' ? 'backup.db' : 'backup.dump');
  const sqliteFile = () => path.join(db.dataDir, 'mandate.db');

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it('revives no revoked token once `mandate restore-fence` has run; tokens issued after it work', async () => {
    node = await startTestNode(db);
    const fx = await createOAuthFixture(node);
    const auth = basic(fx.agentClient.client_id, fx.agentClient.client_secret);
    const issue = async (n: MandateNode) =>
      (await formPost(n, '/oauth2/token', { grant_type: 'client_credentials', resource: MCP }, auth)).json().access_token as string;
    const activeOn = async (n: MandateNode, token: string) =>
      (await formPost(n, '/oauth2/introspect', { token }, auth)).json().active as boolean;
    const token = await issue(node);
    expect(await activeOn(node, token)).toBe(true);

    // The backup, taken while the token is live; then the token is revoked.
    if (dialect === 'sqlite') {
      const { sql } = await import('kysely');
      await sql`vacuum into ${backup()}`.execute(node.runtime.store.db);
    } else {
      execFileSync('pg_dump', ['--format=custom', `--file=${backup()}`, db.databaseUrl as string]);
    }
    expect((await formPost(node, '/oauth2/revoke', { token }, auth)).statusCode).toBe(200);
    expect(await activeOn(node, token)).toBe(false);
    await node.shutdown();
    node = undefined;

    // The operator restores the backup: the revocation is gone with everything after it.
    if (dialect === 'sqlite') {
      for (const suffix of ['-wal', '-shm']) fs.rmSync(`${sqliteFile()}${suffix}`, { force: true });
      fs.copyFileSync(backup(), sqliteFile());
    } else {
      execFileSync('pg_restore', ['--clean', '--if-exists', '--no-owner', `--dbname=${db.databaseUrl}`, backup()]);
    }
    node = await startTestNode(db);
    expect(await activeOn(node, token)).toBe(true);

    // …and runs the fence, from the CLI, while the node runs.
    const cli = runCli(['restore-fence', '--reason', 'restored the 09:00 backup', '--json'], {
      MANDATE_DATA_DIR: db.dataDir,
      MANDATE_MASTER_KEY: db.masterKey.toString('base64'),
      ...(db.databaseUrl && { MANDATE_DATABASE_URL: db.databaseUrl }),
    });
    expect(cli.status, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout).fenced_at).toMatch(/^\d{4}-/);
    const running = node;
    expect(await within(1000, async () => !(await activeOn(running, token)))).toBeLessThan(1000);
    const fresh = await issue(running);
    expect(await activeOn(running, fresh)).toBe(true);

    // A node started later knows the fence from the table.
    const later = await startTestNode(db);
    try {
      expect(await activeOn(later, token)).toBe(false);
      expect(await activeOn(later, fresh)).toBe(true);
      const kinds = await later.runtime.store.db
        .selectFrom('audit_events')
        .select('kind')
        .where('kind', '=', 'credentials.fenced')
        .execute();
      expect(kinds).toHaveLength(1);
    } finally {
      await later.shutdown();
    }
    // Three node starts and a CLI process.
  }, 60_000);
});
