/**
 * Durability of group-committed audit events (GitHub issue #5, docs/architecture.md §7): a real `mandate
 * serve` process is SIGKILLed in the middle of a burst of 10,000 concurrent audited decisions,
 * restarted on the same database, and every decision it had answered 200 must be in the audit
 * log, with every chain verifying — on SQLite and on PostgreSQL.
 */
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChainReport } from '../src/audit/chain.js';
import { openStore } from '../src/store/store.js';
import { runCli, type ServerProcess, startServer, waitForOk } from './support/cli.js';
import { dialects } from './support/databases.js';
import { createTestDatabase, TEST_ADMIN_KEY, type TestDatabase } from './support/nodes.js';
import { freePort } from './support/ports.js';

/** Requests in the burst, how many are in flight at once, and the acknowledged count that triggers the kill. */
const BURST = 10_000;
const CONCURRENCY = 200;
const KILL_AFTER_ACKS = Math.round(BURST * 0.4);

const json = { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/json' };

async function post<T>(base: string, urlPath: string, payload: object): Promise<T> {
  const res = await fetch(`${base}${urlPath}`, { method: 'POST', headers: json, body: JSON.stringify(payload) });
  if (!res.ok) throw new Error(`POST ${urlPath} answered ${res.status}: ${await res.text()}`);
  return (res.status === 204 ? undefined : await res.json()) as T;
}

/** An organization, a member and an agent both bound to a role allowing crm:read: the body of an allowed, audited check. */
async function provision(base: string): Promise<string> {
  await post(base, '/v1/organizations', { slug: 'durable', name: 'Durable Inc' });
  const member = await post<{ id: string }>(base, '/v1/organizations/durable/members', { email: 'owner@durable.test' });
  const agent = await post<{ id: string }>(base, '/v1/organizations/durable/agents', {
    name: 'Durable agent',
    purpose: 'durability test',
    owner_member_id: member.id,
    environment: 'prod',
  });
  const role = await post<{ id: string }>(base, '/v1/organizations/durable/roles', {
    name: 'CRM reader',
    permissions: [{ tool: 'crm', action: 'read' }],
  });
  await post(base, `/v1/organizations/durable/roles/${role.id}/bindings`, { agent_id: agent.id });
  await post(base, `/v1/organizations/durable/roles/${role.id}/bindings`, { member_id: member.id });
  return JSON.stringify({
    organization: 'durable',
    member_id: member.id,
    agent_id: agent.id,
    tool: 'crm',
    action: 'read',
    context: { environment: 'prod', classification: 'internal' },
  });
}

async function check(base: string, body: string, requestId: string): Promise<Response> {
  return fetch(`${base}/v1/authz/check`, { method: 'POST', headers: { ...json, 'x-request-id': requestId }, body });
}

/**
 * One check over node:http (much lighter than fetch, so the client keeps the server busy):
 * resolves with the status as soon as the status line arrives, rejects if none does.
 */
function sendCheck(agent: http.Agent, port: number, body: string, requestId: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/authz/check',
        headers: { ...json, 'content-length': Buffer.byteLength(body), 'x-request-id': requestId },
      },
      (res) => {
        // The status line is written only after the handler returned, i.e. after the commit.
        resolve(res.statusCode ?? 0);
        res.on('error', () => {});
        res.resume();
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

interface BurstResult {
  /** Request ids answered 200, in the order the answers arrived. */
  acked: string[];
  /** How many of those had arrived when SIGKILL was sent (the rest were already on the wire). */
  ackedBeforeKill: number;
  /** Requests in flight when SIGKILL was sent. */
  inFlightAtKill: number;
  /** Requests that got no answer (connection reset or refused). */
  failed: number;
  /** Answers other than 200. */
  otherStatus: number;
  attempted: number;
  /** Milliseconds from the first request to the kill, and to the last answer or failure. */
  killAtMs: number;
  burstMs: number;
}

/**
 * Sends BURST checks, CONCURRENCY at a time, each with its own x-request-id, and SIGKILLs the
 * server from the response handler that brings the acknowledged count to KILL_AFTER_ACKS — a
 * count, not a sleep, so the kill lands mid-burst however fast the machine is. Requests after
 * the kill still go out (and fail), so the burst is BURST requests in all.
 */
async function burstAndKill(server: ServerProcess, port: number, body: string, prefix: string): Promise<BurstResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const result: BurstResult = {
    acked: [],
    ackedBeforeKill: -1,
    inFlightAtKill: -1,
    failed: 0,
    otherStatus: 0,
    attempted: 0,
    killAtMs: -1,
    burstMs: 0,
  };
  let next = 0;
  let inFlight = 0;
  const started = Date.now();
  const worker = async () => {
    while (next < BURST) {
      const requestId = `${prefix}-${next++}`;
      result.attempted++;
      inFlight++;
      try {
        if ((await sendCheck(agent, port, body, requestId)) === 200) result.acked.push(requestId);
        else result.otherStatus++;
      } catch {
        result.failed++;
      } finally {
        inFlight--;
      }
      if (result.ackedBeforeKill < 0 && result.acked.length >= KILL_AFTER_ACKS) {
        server.child.kill('SIGKILL');
        result.ackedBeforeKill = result.acked.length;
        result.inFlightAtKill = inFlight;
        result.killAtMs = Date.now() - started;
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  result.burstMs = Date.now() - started;
  agent.destroy();
  return result;
}

describe.each(dialects)('audit durability across SIGKILL on %s', (dialect) => {
  let db: TestDatabase | undefined;
  let server: ServerProcess | undefined;

  afterEach(async () => {
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    await db?.dispose();
    server = undefined;
    db = undefined;
  });

  it('finds every acknowledged decision after a kill mid-burst and a restart, with every chain verifying', async () => {
    const t0 = Date.now();
    db = await createTestDatabase(dialect);
    const port = await freePort();
    const base = `http://localhost:${port}`;
    const env: Record<string, string> = {
      MANDATE_DATA_DIR: db.dataDir,
      ...(db.databaseUrl && { MANDATE_DATABASE_URL: db.databaseUrl }),
      MANDATE_MASTER_KEY: db.masterKey.toString('base64'),
      MANDATE_BOOTSTRAP_ADMIN_KEY: TEST_ADMIN_KEY,
      MANDATE_PORT: String(port),
      MANDATE_PUBLIC_RATE_LIMIT: '10000000',
      MANDATE_LOG_LEVEL: 'warn',
    };

    server = startServer(env);
    await waitForOk(`${base}/healthz`, 20_000);
    const body = await provision(base);
    const warm = await check(base, body, `${dialect}-warmup`);
    expect(warm.status).toBe(200);
    const orgId = ((await warm.json()) as { decision: string; principal: { org_id: string } }).principal.org_id;

    const first = server;
    const burst = await burstAndKill(first, port, body, `${dialect}-burst`);
    if (burst.ackedBeforeKill < 0) {
      // Too few acknowledgements to trigger the kill: stop the server so the failure is reported, not a hang.
      first.child.kill('SIGKILL');
      await first.exited;
      throw new Error(`only ${burst.acked.length} of ${BURST} checks were acknowledged; the server said:\n${first.output()}`);
    }
    await first.exited;

    // The kill really happened mid-burst: the process died of SIGKILL with requests in flight,
    // some were acknowledged and others never were.
    expect(first.child.signalCode, first.output()).toBe('SIGKILL');
    expect(burst.attempted).toBe(BURST);
    expect(burst.ackedBeforeKill).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);
    expect(burst.inFlightAtKill).toBeGreaterThan(0);
    expect(burst.otherStatus).toBe(0);
    expect(burst.failed).toBeGreaterThan(0);
    expect(burst.acked.length + burst.failed).toBe(BURST);
    expect(burst.acked.length).toBeLessThan(BURST);

    // Restart on the same database; it recovers and still records decisions.
    const t1 = Date.now();
    server = startServer(env);
    await waitForOk(`${base}/healthz`, 20_000);
    const restartMs = Date.now() - t1;
    const after = await check(base, body, `${dialect}-after-restart`);
    expect(after.status).toBe(200);
    expect(((await after.json()) as { decision: string }).decision).toBe('allow');
    server.child.kill('SIGTERM');
    expect(await server.exited, server.output()).toBe(0);

    // Every acknowledged decision is in the log, once; the chains are whole.
    let orgEvents = -1;
    const store = openStore({ databaseUrl: db.databaseUrl, sqliteFile: path.join(db.dataDir, 'mandate.db') });
    try {
      const rows = await store.db
        .selectFrom('audit_events')
        .select(['request_id', 'seq'])
        .where('chain_id', '=', orgId)
        .where('kind', '=', 'decision')
        .orderBy('seq')
        .execute();
      const stored = new Map<string, number>();
      const duplicates: string[] = [];
      for (const row of rows) {
        if (row.request_id === null) continue;
        if (stored.has(row.request_id)) duplicates.push(row.request_id);
        stored.set(row.request_id, row.seq);
      }
      expect(duplicates).toEqual([]);
      const missing = burst.acked.filter((id) => !stored.has(id));
      expect(missing.length, `acknowledged but missing after restart: ${missing.slice(0, 20).join(', ')}`).toBe(0);

      const burstStored = [...stored.keys()].filter((id) => id.startsWith(`${dialect}-burst-`)).length;
      expect(burstStored).toBeGreaterThanOrEqual(burst.acked.length);
      expect(burstStored).toBeLessThanOrEqual(BURST);
      // The decision made after the restart follows the recovered chain.
      const lastBurstSeq = Math.max(...burst.acked.map((id) => stored.get(id) as number));
      expect(stored.get(`${dialect}-after-restart`)).toBeGreaterThan(lastBurstSeq);

      const verifiedJson = runCli(['audit', 'verify', '--json'], env);
      expect(verifiedJson.status, verifiedJson.stderr).toBe(0);
      const reports = JSON.parse(verifiedJson.stdout) as ChainReport[];
      expect(reports.filter((r) => !r.ok)).toEqual([]);
      const orgReport = reports.find((r) => r.chainId === orgId);
      expect(orgReport).toMatchObject({ ok: true });
      orgEvents = orgReport?.ok ? orgReport.events : -1;

      console.info(
        `[audit-durability ${dialect}] sent ${burst.attempted} (${CONCURRENCY} in flight), ` +
          `acknowledged ${burst.acked.length} (${burst.ackedBeforeKill} before SIGKILL, ${burst.inFlightAtKill} in flight at the kill), ` +
          `no answer ${burst.failed}, stored ${burstStored} (${burstStored - burst.acked.length} committed but unacknowledged, ` +
          `${burst.inFlightAtKill - (burst.acked.length - burst.ackedBeforeKill) - (burstStored - burst.acked.length)} in flight at the kill lost uncommitted), ` +
          `kill at ${burst.killAtMs} ms, burst ${burst.burstMs} ms, restart ${restartMs} ms`,
      );
    } finally {
      await store.close();
    }

    // And the operator's tool agrees.
    const verified = runCli(['audit', 'verify'], env);
    expect(verified.status, verified.stderr).toBe(0);
    expect(verified.stdout).toContain(`ok      ${orgId}: ${orgEvents} events`);
    expect(verified.stdout).not.toContain('BROKEN');
    console.info(`[audit-durability ${dialect}] total ${Date.now() - t0} ms`);
  }, 60_000);
});
