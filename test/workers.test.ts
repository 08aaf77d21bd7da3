/**
 * `mandate serve --workers 2` as real processes, on SQLite (several processes over one WAL file)
 * and on PostgreSQL: the workers share the port, a kill switch reaches every worker within 1 s,
 * concurrent writes through all workers keep each organization's audit chain one linear chain, a
 * killed worker is replaced, and SIGHUP replaces the workers one at a time failing no request,
 * on fresh and on keep-alive connections.
 */
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/store/store.js';
import { runCli, type ServerProcess, startServer } from './support/cli.js';
import { dialects } from './support/databases.js';
import { createTestDatabase, TEST_ADMIN_KEY, type TestDatabase } from './support/nodes.js';
import { basic, form } from './support/oauth-fixtures.js';
import { freePort } from './support/ports.js';

const RESOURCE = 'https://mcp.workers.test/';
/** Starting a worker compiles the TypeScript sources with tsx: slow on a busy machine. */
const START_MS = 60_000;

interface LogLine {
  msg?: string;
  worker?: number;
  workerId?: number;
  pid?: number;
  reqId?: string;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
  requestId: string;
}

let sequence = 0;

/** One request on its own connection (no keep-alive), so the primary hands it to the next worker in turn. */
function call(
  port: number,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  sequence += 1;
  const requestId = `wt-${process.pid}-${sequence}`;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path, agent: false, headers: { ...options.headers, 'x-request-id': requestId } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => {
          let body: Record<string, unknown> = {};
          try {
            body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
          } catch {
            body = { text };
          }
          resolve({ status: res.statusCode ?? 0, body, requestId });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function lines(server: ServerProcess): LogLine[] {
  return server
    .output()
    .split('\n')
    .flatMap((line) => {
      if (!line.startsWith('{')) return [];
      try {
        return [JSON.parse(line) as LogLine];
      } catch {
        return [];
      }
    });
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const started = Date.now();
  for (;;) {
    const found = await probe();
    if (found !== undefined && found !== false) return found;
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The worker that answered each request, from the workers' request logs. */
async function workersOf(server: ServerProcess, requestIds: string[]): Promise<number[]> {
  return waitFor('request logs of every request', 5_000, () => {
    const byRequest = new Map<string, number>();
    for (const line of lines(server)) {
      if (line.msg === 'request completed' && line.reqId && line.worker !== undefined) byRequest.set(line.reqId, line.worker);
    }
    const workers = requestIds.map((id) => byRequest.get(id));
    return workers.every((w) => w !== undefined) ? (workers as number[]) : undefined;
  });
}

/** Workers the primary started and has not seen exit: worker id to pid. */
function liveWorkers(server: ServerProcess): Map<number, number> {
  const live = new Map<number, number>();
  for (const line of lines(server)) {
    if (line.worker !== 0 || line.workerId === undefined) continue;
    if (line.msg === 'worker started' && line.pid !== undefined) live.set(line.workerId, line.pid);
    if (line.msg === 'worker stopped' || line.msg === 'worker died: replacing it') live.delete(line.workerId);
  }
  return live;
}

/** Workers that logged that they listen. */
function listening(server: ServerProcess): Set<number> {
  return new Set(lines(server).flatMap((l) => (l.msg?.startsWith('Mandate listening') && l.worker !== undefined ? [l.worker] : [])));
}

for (const dialect of dialects) {
  describe(`mandate serve --workers 2 on ${dialect}`, () => {
    let db: TestDatabase;
    let server: ServerProcess;
    let port: number;
    let env: Record<string, string>;
    const admin = { authorization: `Bearer ${TEST_ADMIN_KEY}`, 'content-type': 'application/json' };

    async function post(path: string, payload: object): Promise<Record<string, unknown>> {
      const res = await call(port, 'POST', path, { headers: admin, body: JSON.stringify(payload) });
      if (res.status >= 300) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body;
    }

    /** An organization with a resource and a confidential client_credentials client acting as one agent. */
    async function agentClient(slug: string): Promise<{ orgId: string; agentId: string; authorization: string }> {
      const org = await post('/v1/organizations', { slug, name: slug });
      const owner = await post(`/v1/organizations/${slug}/members`, { email: `owner@${slug}.test` });
      const agent = await post(`/v1/organizations/${slug}/agents`, {
        name: 'Runaway',
        purpose: 'test',
        owner_member_id: owner.id,
        environment: 'prod',
      });
      const client = await post(`/v1/organizations/${slug}/clients`, {
        client_name: 'worker test agent',
        client_type: 'confidential',
        grant_types: ['client_credentials'],
        scope: 'calendar.read',
        resources: [RESOURCE],
        agent_id: agent.id,
      });
      return {
        orgId: org.id as string,
        agentId: agent.id as string,
        authorization: basic(client.client_id as string, client.client_secret as string),
      };
    }

    const formPost = (path: string, authorization: string, values: Record<string, string>) =>
      call(port, 'POST', path, {
        headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
        body: form(values),
      });

    beforeAll(async () => {
      db = await createTestDatabase(dialect);
      port = await freePort();
      env = {
        MANDATE_DATA_DIR: db.dataDir,
        ...(db.databaseUrl && { MANDATE_DATABASE_URL: db.databaseUrl }),
        MANDATE_MASTER_KEY: db.masterKey.toString('base64'),
        MANDATE_PORT: String(port),
        MANDATE_HOST: '127.0.0.1',
        MANDATE_ISSUER: `http://localhost:${port}`,
        MANDATE_BOOTSTRAP_ADMIN_KEY: TEST_ADMIN_KEY,
      };
      server = startServer(env, ['--workers', '2']);
      await waitFor('two workers listening', START_MS, () => listening(server).size === 2 || undefined);
      await post('/v1/resources', { identifier: RESOURCE, name: 'Calendar', scopes: [{ name: 'calendar.read', description: 'r' }] });
    }, START_MS + 10_000);

    afterAll(async () => {
      if (server && server.child.exitCode === null) {
        server.child.kill('SIGTERM');
        expect(await server.exited, server.output().slice(-2000)).toBe(0);
        expect(server.output()).toContain('shutdown complete');
      }
      await db?.dispose();
    }, 30_000);

    it('shares one port between two worker processes, and /metrics counts requests of both', async () => {
      const answers = [];
      for (let i = 0; i < 6; i++) answers.push(await call(port, 'GET', '/healthz'));
      expect(answers.map((a) => a.status)).toEqual(Array(6).fill(200));
      expect(
        new Set(
          await workersOf(
            server,
            answers.map((a) => a.requestId),
          ),
        ).size,
      ).toBe(2);
      expect(new Set(liveWorkers(server).values()).size).toBe(2);

      // Whichever worker takes the scrape, it reports every worker's requests, not its own share.
      for (let i = 0; i < 2; i++) {
        const scrape = await new Promise<string>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
              let text = '';
              res.on('data', (chunk) => {
                text += chunk;
              });
              res.on('end', () => resolve(text));
            })
            .on('error', reject);
        });
        const healthz = /mandate_http_requests_total\{method="GET",route="\/healthz",status="200"\} (\d+)/.exec(scrape);
        expect(Number(healthz?.[1])).toBeGreaterThanOrEqual(6);
      }
    });

    it('an agent suspended through one worker is refused by every worker within 1 s', async () => {
      const { agentId, authorization } = await agentClient('killcorp');
      const token = (await formPost('/oauth2/token', authorization, { grant_type: 'client_credentials', resource: RESOURCE })).body
        .access_token as string;
      expect(token).toBeTruthy();
      const introspect = () => formPost('/oauth2/introspect', authorization, { token });
      const before = [await introspect(), await introspect()];
      expect(before.map((a) => a.body.active)).toEqual([true, true]);
      expect(
        new Set(
          await workersOf(
            server,
            before.map((a) => a.requestId),
          ),
        ).size,
      ).toBe(2);

      const suspended = await call(port, 'POST', `/v1/organizations/killcorp/agents/${agentId}/suspend`, {
        headers: admin,
        body: JSON.stringify({ reason: 'kill switch drill' }),
      });
      expect(suspended.status).toBe(200);
      const started = Date.now();
      // Done when both workers in a row (connections alternate between them) answer inactive.
      const last = await waitFor('inactive on every worker', 5_000, async () => {
        const pair = [await introspect(), await introspect()];
        return pair.every((a) => a.body.active === false) ? pair : undefined;
      });
      const elapsed = Date.now() - started;
      expect(
        new Set(
          await workersOf(
            server,
            last.map((a) => a.requestId),
          ),
        ).size,
      ).toBe(2);
      expect(elapsed).toBeLessThan(1000);
      const refused = [
        await formPost('/oauth2/token', authorization, { grant_type: 'client_credentials', resource: RESOURCE }),
        await formPost('/oauth2/token', authorization, { grant_type: 'client_credentials', resource: RESOURCE }),
      ];
      expect(refused.map((a) => a.body.error)).toEqual(['unauthorized_client', 'unauthorized_client']);
    });

    it('keeps one linear audit chain for an organization written concurrently through both workers', async () => {
      const { orgId, authorization } = await agentClient('chaincorp');
      // Token issuance (group-committed events) and management writes (an event in the change's
      // own transaction), all on one organization's chain, at once through both workers.
      const writes = await Promise.all([
        ...Array.from({ length: 40 }, () =>
          formPost('/oauth2/token', authorization, { grant_type: 'client_credentials', resource: RESOURCE }),
        ),
        ...Array.from({ length: 20 }, (_, i) =>
          call(port, 'POST', '/v1/organizations/chaincorp/members', {
            headers: admin,
            body: JSON.stringify({ email: `m${i}@chaincorp.test` }),
          }),
        ),
      ]);
      expect(writes.map((w) => w.status).filter((s) => s !== 200 && s !== 201)).toEqual([]);
      expect(
        new Set(
          await workersOf(
            server,
            writes.map((w) => w.requestId),
          ),
        ).size,
      ).toBe(2);

      const store = openStore({ databaseUrl: db.databaseUrl, sqliteFile: `${db.dataDir}/mandate.db` });
      try {
        const events = await store.db.selectFrom('audit_events').selectAll().where('chain_id', '=', orgId).orderBy('seq').execute();
        expect(events.filter((e) => e.kind === 'token.issued')).toHaveLength(40);
        expect(events.filter((e) => e.kind === 'member.created')).toHaveLength(21); // with the agent's owner
        expect(new Set(events.map((e) => e.hash)).size).toBe(events.length);
        events.forEach((event, index) => {
          expect(event.seq).toBe(index + 1);
          if (index > 0) expect(event.prev_hash).toBe(events[index - 1]?.hash);
        });
        const head = await store.db.selectFrom('audit_chain_heads').selectAll().where('chain_id', '=', orgId).executeTakeFirstOrThrow();
        expect({ seq: head.seq, hash: head.hash }).toEqual({ seq: events.length, hash: events.at(-1)?.hash });
      } finally {
        await store.close();
      }
      const verified = runCli(['audit', 'verify', '--org', 'chaincorp', '--json'], env);
      expect(verified.status, verified.stderr).toBe(0);
      expect(JSON.parse(verified.stdout)[0]).toMatchObject({ ok: true, chainId: orgId });
    }, 60_000);

    it(
      'replaces a killed worker',
      async () => {
        const before = liveWorkers(server);
        const [victimId, victimPid] = [...before][0] as [number, number];
        process.kill(victimPid, 'SIGKILL');
        await waitFor('the replacement listening', START_MS, () => {
          const fresh = [...listening(server)].filter((w) => w > Math.max(...before.keys()));
          return fresh.length > 0 || undefined;
        });
        expect(server.output()).toMatch(new RegExp(`"workerId":${victimId},"exitCode":null,"signal":"SIGKILL","restartInMs":\\d+`));
        const answers = [];
        for (let i = 0; i < 4; i++) answers.push(await call(port, 'GET', '/healthz'));
        expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
        const served = new Set(
          await workersOf(
            server,
            answers.map((a) => a.requestId),
          ),
        );
        expect(served.size).toBe(2);
        expect(served.has(victimId)).toBe(false);
      },
      START_MS + 10_000,
    );

    it(
      'replaces every worker on SIGHUP, one at a time, failing no request under load',
      async () => {
        const { authorization } = await agentClient('restartcorp');
        const before = new Set(liveWorkers(server).keys());
        const failures: string[] = [];
        const answered: string[] = [];
        let loading = true;
        const load = async () => {
          while (loading) {
            try {
              const res = await formPost('/oauth2/token', authorization, { grant_type: 'client_credentials', resource: RESOURCE });
              if (res.status === 200) answered.push(res.requestId);
              else failures.push(`${res.status} ${JSON.stringify(res.body)}`);
            } catch (error) {
              failures.push(String(error));
            }
          }
        };
        // Keep-alive clients too: a stopping worker must not cut a connection a request is on its way on.
        const keepAlive = async () => {
          while (loading) {
            sequence += 1;
            const requestId = `wt-${process.pid}-${sequence}`;
            try {
              const res = await fetch(`http://127.0.0.1:${port}/oauth2/token`, {
                method: 'POST',
                headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', 'x-request-id': requestId },
                body: form({ grant_type: 'client_credentials', resource: RESOURCE }),
              });
              const text = await res.text();
              if (res.status === 200) answered.push(requestId);
              else failures.push(`${res.status} ${text}`);
            } catch (error) {
              failures.push(`keep-alive: ${String((error as { cause?: unknown }).cause ?? error)}`);
            }
          }
        };
        const loops = [load(), load(), keepAlive(), keepAlive()];
        const restartLogged = () => lines(server).some((l) => l.msg === 'graceful restart complete');
        server.child.kill('SIGHUP');
        await waitFor('graceful restart complete', 2 * START_MS, () => restartLogged() || undefined);
        const after = new Set(liveWorkers(server).keys());
        // Keep the load on the new workers for a moment.
        const countAtRestart = answered.length;
        await waitFor('requests on the new workers', 10_000, () => answered.length >= countAtRestart + 20 || undefined);
        loading = false;
        await Promise.all(loops);

        expect(failures).toEqual([]);
        expect(after.size).toBe(2);
        expect([...after].filter((w) => before.has(w))).toEqual([]);
        const served = new Set(await workersOf(server, answered));
        // Old and new workers both answered the load: it ran across the whole restart.
        expect([...before].some((w) => served.has(w))).toBe(true);
        expect([...after].every((w) => served.has(w))).toBe(true);
      },
      3 * START_MS,
    );
  });
}
