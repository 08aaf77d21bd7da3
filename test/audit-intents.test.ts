import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { runCli } from './support/cli.js';
import { FrozenClock } from './support/clock.js';
import { type CodeFlowFixture, createCodeFlowFixture, obtainCode, obtainUserTokens } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, snapshot, startTestNode, type TestDatabase } from './support/nodes.js';

type Json = { id: string; [key: string]: unknown };

describe.each(dialects)('tool intents, outcomes, runs and the audit query on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let loginApp: CustomerLoginApp;
  let fx: CodeFlowFixture;
  // Set up now (trusted tokens are checked against this clock); the last test moves it back to "last Tuesday".
  let clock: FrozenClock;
  let john: Json;
  let mary: Json;
  let agent: Json;
  let otherAgent: Json;
  let ycorpJohn: Json;
  let ycorpAgent: Json;

  const call = async (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object, headers: Record<string, string> = {}) =>
    node.app.inject({ method, url, headers: { ...adminHeaders, ...headers }, ...(payload && { payload }) });
  const created = async (url: string, payload: object, headers: Record<string, string> = {}): Promise<Json> => {
    const res = await call('POST', url, payload, headers);
    if (res.statusCode !== 201) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
    return res.json();
  };
  const events = async (query: string): Promise<Json[]> => {
    const res = await call('GET', `/v1/audit/events?limit=200&${query}`);
    expect(res.statusCode).toBe(200);
    return res.json().data;
  };

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    clock = new FrozenClock(Date.now());
    node = await startTestNode(db, { clock });
    loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@xcorp.test', name: 'John' });
    fx = await createCodeFlowFixture(node, loginApp);
    john = (await call('GET', '/v1/organizations/xcorp/members?email=john@xcorp.test')).json().data[0];
    mary = await created('/v1/organizations/xcorp/members', { email: 'mary@xcorp.test' });
    agent = await created('/v1/organizations/xcorp/agents', {
      name: 'Calendar Assistant',
      purpose: 'scheduling',
      owner_member_id: john.id,
      environment: 'prod',
      version: '2.3.0',
    });
    otherAgent = await created('/v1/organizations/xcorp/agents', {
      name: 'Expense Bot',
      purpose: 'expenses',
      owner_member_id: mary.id,
      environment: 'prod',
    });
    // YCorp has its own John, with the same email: the query must never cross organizations.
    await created('/v1/organizations', { slug: 'ycorp', name: 'YCorp' });
    ycorpJohn = await created('/v1/organizations/ycorp/members', { email: 'john@xcorp.test' });
    ycorpAgent = await created('/v1/organizations/ycorp/agents', {
      name: 'Y Assistant',
      purpose: 'y',
      owner_member_id: ycorpJohn.id,
      environment: 'prod',
    });
  });
  afterAll(async () => {
    await node?.shutdown();
    await loginApp?.close();
    await db?.dispose();
  });

  it('records an intent under a user token with who, for whom, which grant and token; the outcome carries timing', async () => {
    const tokens = await obtainUserTokens(node, fx, { scope: 'calendar.read' });
    const claims = decodeJwt(tokens.access_token);
    const intent = await created(
      '/v1/audit/intents',
      { token: tokens.access_token, tool: 'calendar', action: 'read', classification: 'internal', detail: { calendar: 'primary' } },
      { 'x-correlation-id': 'corr-token-1' },
    );
    expect(intent).toMatchObject({ org_id: fx.orgId, correlation_id: 'corr-token-1', grant_valid: true, run_id: null });

    clock.advance(2);
    const outcome = await created(`/v1/audit/intents/${intent.id}/outcome`, { result: 'success', detail: { events: 3 } });
    expect(outcome).toMatchObject({ intent_id: intent.id, result: 'success', latency_ms: 2000, grant_valid: true });

    const [recorded, completed] = (await events('correlation_id=corr-token-1')) as [Json, Json];
    expect(recorded).toMatchObject({
      id: intent.id,
      kind: 'tool.intent',
      org_id: fx.orgId,
      subject_id: john.id,
      client_id: fx.publicClient,
      grant_id: claims.auth_event_id,
      jti: claims.jti,
      scope: 'calendar.read',
      tool: 'calendar',
      action: 'read',
      classification: 'internal',
      grant_valid: true,
      detail: { calendar: 'primary' },
      // Where the request came from: what the new_network anomaly rule watches.
      client_ip: '127.0.0.1',
    });
    expect(completed).toMatchObject({
      kind: 'tool.outcome',
      intent_id: intent.id,
      subject_id: john.id,
      grant_id: claims.auth_event_id,
      result: 'success',
      started_at: recorded.at,
      latency_ms: 2000,
      correlation_id: 'corr-token-1',
    });
    expect(Date.parse(String(completed.ended_at)) - Date.parse(String(completed.started_at))).toBe(2000);
  });

  it('takes one outcome per intent, and refuses bad input without changing anything', async () => {
    const intent = await created('/v1/audit/intents', {
      organization: 'xcorp',
      member_id: john.id,
      agent_id: agent.id,
      tool: 'crm',
      action: 'export',
    });
    const failed = await created(`/v1/audit/intents/${intent.id}/outcome`, { result: 'failure', error_code: 'rate_limited' });
    expect(failed.result).toBe('failure');
    const before = await snapshot(node);
    const again = await call('POST', `/v1/audit/intents/${intent.id}/outcome`, { result: 'success' });
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toBe('conflict');
    const cases: [string, object, number][] = [
      ['/v1/audit/intents', { organization: 'xcorp', tool: 'crm' }, 400],
      ['/v1/audit/intents', { organization: 'xcorp', agent_id: agent.id, tool: 'CRM!', action: 'read' }, 400],
      ['/v1/audit/intents', { tool: 'crm', action: 'read' }, 400],
      ['/v1/audit/intents', { token: 'not-a-token', tool: 'crm', action: 'read' }, 401],
      ['/v1/audit/intents', { organization: 'nope', agent_id: agent.id, tool: 'crm', action: 'read' }, 404],
      // An agent of XCorp named under YCorp: not found, never recorded in either chain.
      ['/v1/audit/intents', { organization: 'ycorp', agent_id: agent.id, tool: 'crm', action: 'read' }, 404],
      [`/v1/audit/intents/evt_00000000000000000000000000/outcome`, { result: 'success' }, 404],
      [`/v1/audit/intents/${intent.id}/outcome`, { result: 'maybe' }, 400],
    ];
    for (const [url, payload, status] of cases) {
      const res = await call('POST', url, payload);
      expect(res.statusCode, `${url} ${JSON.stringify(payload)}`).toBe(status);
      expect(res.json()).toMatchObject({
        error: expect.any(String),
        error_description: expect.any(String),
        request_id: expect.any(String),
      });
    }
    const unauthenticated = await node.app.inject({
      method: 'POST',
      url: '/v1/audit/intents',
      payload: { organization: 'xcorp', agent_id: agent.id, tool: 'crm', action: 'read' },
    });
    expect(unauthenticated.statusCode).toBe(401);
    expect(await snapshot(node)).toBe(before);
    const [outcome] = await events(`kind=tool.outcome&agent=${agent.id}&tool=crm`);
    expect(outcome).toMatchObject({ result: 'failure', error_code: 'rate_limited', agent_version: '2.3.0', agent_environment: 'prod' });
  });

  it('records, then refuses, an intent made with a token whose grant was revoked', async () => {
    const tokens = await obtainUserTokens(node, fx, { scope: 'calendar.read' });
    const grant = String(decodeJwt(tokens.access_token).auth_event_id);
    expect((await call('DELETE', `/v1/organizations/xcorp/grants/${grant}`)).statusCode).toBe(204);
    const refused = await call('POST', '/v1/audit/intents', { token: tokens.access_token, tool: 'calendar', action: 'read' });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error).toBe('forbidden');
    const [attempt] = await events(`grant=${grant}&kind=tool.intent`);
    expect(attempt).toMatchObject({ result: 'failure', error_code: 'grant_revoked', grant_valid: false, subject_id: john.id });
  });

  it('resumes a run at its last successful step, and not once its grant is revoked', async () => {
    const tokens = await obtainUserTokens(node, fx, { scope: 'calendar.read calendar.write' });
    const run = await created('/v1/runs', { token: tokens.access_token, name: 'weekly planning' });
    expect(run).toMatchObject({ status: 'active', steps_completed: 0, last_successful_step: null, resumable: true, member_id: john.id });

    const step1 = await created('/v1/audit/intents', { run_id: run.id, step: 'fetch-week', tool: 'calendar', action: 'read' });
    expect(step1.correlation_id).toBe(run.correlation_id);
    await created(`/v1/audit/intents/${step1.id}/outcome`, { result: 'success', state: { cursor: 'wk-47', fetched: 12 } });
    const step2 = await created('/v1/audit/intents', { run_id: run.id, step: 'book-slots', tool: 'calendar', action: 'write' });
    await created(`/v1/audit/intents/${step2.id}/outcome`, { result: 'failure', error_code: 'ECONNRESET', state: { ignored: true } });

    // The agent crashed; on restart it asks where it stopped.
    const resumed = (await call('GET', `/v1/runs/${run.id}`)).json();
    expect(resumed).toMatchObject({
      steps_completed: 1,
      resumable: true,
      last_successful_step: { name: 'fetch-week', state: { cursor: 'wk-47', fetched: 12 } },
    });
    const trail = await events(`run=${run.id}`);
    expect(trail.map((e) => e.kind)).toEqual(['run.created', 'tool.intent', 'tool.outcome', 'tool.intent', 'tool.outcome']);
    expect(new Set(trail.map((e) => e.correlation_id))).toEqual(new Set([run.correlation_id]));

    expect((await call('DELETE', `/v1/organizations/xcorp/grants/${run.grant_id}`)).statusCode).toBe(204);
    expect((await call('GET', `/v1/runs/${run.id}`)).json()).toMatchObject({
      resumable: false,
      last_successful_step: { name: 'fetch-week' },
    });
    const blocked = await call('POST', '/v1/audit/intents', { run_id: run.id, step: 'book-slots', tool: 'calendar', action: 'write' });
    expect(blocked.statusCode).toBe(403);

    const finished = (await call('POST', `/v1/runs/${run.id}/finish`, { status: 'failed' })).json();
    expect(finished).toMatchObject({ status: 'failed', resumable: false });
    expect((await call('POST', `/v1/runs/${run.id}/finish`, { status: 'completed' })).statusCode).toBe(409);
    expect((await call('GET', '/v1/runs/run_00000000000000000000000000')).statusCode).toBe(404);
  });

  it('lets an agent or MCP server write with the user token itself, confined to that token’s grant', async () => {
    const tokens = await obtainUserTokens(node, fx, { scope: 'calendar.read' });
    // Another grant of John's: one for another client (a new consent to the same client would supersede the first).
    const c = await obtainCode(node, fx, {
      clientId: fx.webClient.client_id,
      redirectUri: 'https://agent.xcorp.test/cb',
      scope: 'calendar.write',
    });
    const other = (
      await node.app.inject({
        method: 'POST',
        url: '/oauth2/token',
        payload: new URLSearchParams({
          grant_type: 'authorization_code',
          code: c.code,
          code_verifier: c.verifier,
          redirect_uri: c.redirectUri,
        }).toString(),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${fx.webClient.client_id}:${fx.webClient.client_secret}`).toString('base64')}`,
        },
      })
    ).json() as { access_token: string };
    const grant = String(decodeJwt(tokens.access_token).auth_event_id);
    expect(String(decodeJwt(other.access_token).auth_event_id)).not.toBe(grant);
    const asToken = (token: string) => ({ authorization: `Bearer ${token}` });
    const send = (url: string, payload: object, token: string) =>
      node.app.inject({ method: 'POST', url, payload, headers: asToken(token) });

    const intent = await send('/v1/audit/intents', { tool: 'calendar', action: 'read' }, tokens.access_token);
    expect(intent.statusCode).toBe(201);
    const [recorded] = await events(`grant=${grant}&kind=tool.intent`);
    expect(recorded).toMatchObject({ id: intent.json().id, actor_id: john.id, subject_id: john.id, grant_valid: true });

    // Naming principals, or reaching another grant's records, is not for a token caller.
    expect(
      (await send('/v1/audit/intents', { organization: 'xcorp', member_id: mary.id, tool: 'x', action: 'y' }, tokens.access_token))
        .statusCode,
    ).toBe(400);
    expect((await send(`/v1/audit/intents/${intent.json().id}/outcome`, { result: 'success' }, other.access_token)).statusCode).toBe(404);
    expect((await send(`/v1/audit/intents/${intent.json().id}/outcome`, { result: 'success' }, tokens.access_token)).statusCode).toBe(201);
    const run = await send('/v1/runs', { name: 'mine' }, tokens.access_token);
    expect(run.statusCode).toBe(201);
    expect(run.json().grant_id).toBe(grant);
    const foreign = await node.app.inject({ method: 'GET', url: `/v1/runs/${run.json().id}`, headers: asToken(other.access_token) });
    expect(foreign.statusCode).toBe(404);
    const bad = await node.app.inject({
      method: 'POST',
      url: '/v1/audit/intents',
      payload: { tool: 'x', action: 'y' },
      headers: asToken('eyJhbGciOiJub25lIn0.e30.'),
    });
    expect(bad.statusCode).toBe(401);
  });

  it('keeps the admin key as the author of asserted principals, and checks them', async () => {
    const intent = await created('/v1/audit/intents', {
      organization: 'xcorp',
      member_id: john.id,
      agent_id: agent.id,
      tool: 'crm',
      action: 'read',
    });
    const [recorded] = await events(`kind=tool.intent&tool=crm&action=read&agent=${agent.id}`);
    expect(recorded).toMatchObject({ id: intent.id, actor_id: expect.stringMatching(/^ak_/), agent_id: agent.id, subject_id: john.id });
    const res = await call('POST', '/v1/audit/intents', { organization: 'xcorp', member_id: ycorpJohn.id, tool: 'crm', action: 'read' });
    expect(res.statusCode).toBe(404);
  });

  it('gives a refused intent no outcome, and a run step acts only for the run’s parties', async () => {
    const tokens = await obtainUserTokens(node, fx, { scope: 'calendar.read' });
    const grant = String(decodeJwt(tokens.access_token).auth_event_id);
    const run = await created('/v1/runs', { token: tokens.access_token, name: 'short' });
    const mismatch = await call('POST', '/v1/audit/intents', {
      run_id: run.id,
      organization: 'xcorp',
      member_id: mary.id,
      tool: 'calendar',
      action: 'read',
    });
    expect(mismatch.statusCode).toBe(400);
    expect((await call('DELETE', `/v1/organizations/xcorp/grants/${grant}`)).statusCode).toBe(204);
    const refused = await call('POST', '/v1/audit/intents', { token: tokens.access_token, tool: 'calendar', action: 'read' });
    expect(refused.statusCode).toBe(403);
    const [attempt] = await events(`grant=${grant}&kind=tool.intent&result=failure`);
    const outcome = await call('POST', `/v1/audit/intents/${attempt?.id}/outcome`, { result: 'success' });
    expect(outcome.statusCode).toBe(409);
  });

  it('answers "what did the agent do on behalf of John from XCorp last Tuesday?" with exactly his events', async () => {
    const act = async (
      org: string,
      member: Json,
      agentId: string,
      tool: string,
      action: string,
      result: 'success' | 'failure' = 'success',
    ) => {
      const intent = await created('/v1/audit/intents', { organization: org, member_id: member.id, agent_id: agentId, tool, action });
      clock.advance(1);
      const outcome = await created(`/v1/audit/intents/${intent.id}/outcome`, {
        result,
        ...(result === 'failure' && { error_code: 'denied' }),
      });
      clock.advance(1);
      return [intent.id as string, outcome.id as string];
    };
    // Tuesday 17 November: what we expect to find, interleaved with what we must not.
    clock.advance(Date.parse('2026-11-17T08:00:00.000Z') / 1000 - clock.now() / 1000);
    const expected = [
      ...(await act('xcorp', john, agent.id, 'calendar', 'read')),
      ...(await act('xcorp', mary, agent.id, 'calendar', 'read')).slice(0, 0),
      ...(await act('ycorp', ycorpJohn, ycorpAgent.id, 'crm', 'export')).slice(0, 0),
      ...(await act('xcorp', john, otherAgent.id, 'expenses', 'submit', 'failure')),
    ];
    clock.advance(6 * 3600);
    expected.push(...(await act('xcorp', john, agent.id, 'email', 'send')));
    // Wednesday: outside the window.
    clock.advance(Date.parse('2026-11-18T00:00:00.000Z') / 1000 - clock.now() / 1000);
    await act('xcorp', john, agent.id, 'calendar', 'write');

    const found = await events('org=xcorp&member=john@xcorp.test&since=2026-11-17T00:00:00Z&until=2026-11-18T00:00:00Z');
    expect(found.map((e) => e.id)).toEqual(expected);
    expect(found.every((e) => e.org_id === fx.orgId && e.subject_id === john.id)).toBe(true);
    const byAgent = await events(`org=xcorp&member=${john.id}&agent=${agent.id}&since=2026-11-17T00:00:00Z&until=2026-11-18T00:00:00Z`);
    expect(byAgent.map((e) => e.tool)).toEqual(['calendar', 'calendar', 'email', 'email']);
    expect((await events('org=xcorp&member=john@xcorp.test&result=failure&tool=expenses')).map((e) => e.kind)).toEqual(['tool.outcome']);
    expect(await events('member=nobody@xcorp.test')).toEqual([]);
    expect((await call('GET', '/v1/audit/events?since=yesterday')).statusCode).toBe(400);

    // The same question from the CLI, against the same database.
    const env = {
      MANDATE_DATA_DIR: db.dataDir,
      MANDATE_MASTER_KEY: db.masterKey.toString('base64'),
      ...(db.databaseUrl && { MANDATE_DATABASE_URL: db.databaseUrl }),
    };
    const args = ['audit', 'query', '--org', 'xcorp', '--user', 'john@xcorp.test', '--since', '2026-11-17', '--until', '2026-11-18'];
    const json = runCli([...args, '--json'], env);
    expect(json.status, json.stderr).toBe(0);
    expect((JSON.parse(json.stdout) as Json[]).map((e) => e.id)).toEqual(expected);
    const table = runCli(args, env);
    expect(table.status, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^at\s+kind\s+user\s+agent\s+tool\s+result\s+latency\s+correlation$/);
    expect(lines).toHaveLength(expected.length + 1);
    expect(lines[1]).toMatch(/2026-11-17 08:00:00Z\s+tool\.intent\s+john@xcorp\.test\s+Calendar Assistant\s+calendar:read\s+success/);
    expect(lines[4]).toMatch(/tool\.outcome\s+john@xcorp\.test\s+Expense Bot\s+expenses:submit\s+failure \(denied\)\s+1000 ms/);
    expect(table.stdout).not.toMatch(/mary|Y Assistant|crm/);

    // John's email names a member of XCorp and one of YCorp: without the organization the answer
    // would mix two people's trails, so both the CLI and the API refuse and say which to choose.
    const mixed = runCli(['audit', 'query', '--user', 'john@xcorp.test', '--since', '2026-11-17', '--until', '2026-11-18'], env);
    expect(mixed.status).not.toBe(0);
    expect(mixed.stdout).toBe('');
    expect(mixed.stderr).toMatch(/several organizations \(xcorp, ycorp\).*--org/);
    const mixedApi = await call('GET', '/v1/audit/events?member=john@xcorp.test');
    expect(mixedApi.statusCode).toBe(400);
    expect(mixedApi.json().detail ?? mixedApi.json().message ?? mixedApi.body).toMatch(/xcorp, ycorp/);
    // An email of one organization needs no --org.
    const maryOnly = runCli(['audit', 'query', '--user', 'mary@xcorp.test', '--json'], env);
    expect(maryOnly.status, maryOnly.stderr).toBe(0);

    expect((await node.auditVerifier.verify()).every((r) => r.ok)).toBe(true);
  });
});
