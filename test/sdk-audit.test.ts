import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MandateAudit, MandateAuditError } from '../sdk/src/index.js';
import type { MandateNode } from '../src/node.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startListeningNode, TEST_ADMIN_KEY, type TestDatabase } from './support/nodes.js';
import { basic } from './support/oauth-fixtures.js';

type Json = { id: string; [key: string]: unknown };

describe.each(dialects)('the SDK records tool calls and runs over HTTP on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let audit: MandateAudit;
  let principals: { organization: string; member_id: string; agent_id: string };
  let issuer: string;

  const created = async (url: string, payload: object): Promise<Json> => {
    const res = await node.app.inject({ method: 'POST', url, payload, headers: adminHeaders });
    if (res.statusCode !== 201) throw new Error(`${url}: ${res.body}`);
    return res.json();
  };
  const trail = async (query: string): Promise<Json[]> =>
    (await node.app.inject({ method: 'GET', url: `/v1/audit/events?${query}`, headers: adminHeaders })).json().data;

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    const started = await startListeningNode(db);
    node = started.node;
    issuer = started.issuer;
    audit = new MandateAudit({ issuer: started.issuer, apiKey: TEST_ADMIN_KEY });
    await created('/v1/organizations', { slug: 'xcorp', name: 'XCorp' });
    const john = await created('/v1/organizations/xcorp/members', { email: 'john@xcorp.test' });
    const agent = await created('/v1/organizations/xcorp/agents', {
      name: 'Filer',
      purpose: 'files',
      owner_member_id: john.id,
      environment: 'prod',
    });
    principals = { organization: 'xcorp', member_id: john.id, agent_id: agent.id };
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it('writes the intent before the tool runs and the outcome after it', async () => {
    let seenBeforeRun: Json[] = [];
    const result = await audit.track({ ...principals, tool: 'drive', action: 'read', correlationId: 'sdk-ok' }, async () => {
      seenBeforeRun = await trail('correlation_id=sdk-ok');
      return { files: 3 };
    });
    expect(result).toEqual({ files: 3 });
    expect(seenBeforeRun.map((e) => e.kind)).toEqual(['tool.intent']);
    const events = await trail('correlation_id=sdk-ok');
    expect(events.map((e) => [e.kind, e.result])).toEqual([
      ['tool.intent', 'success'],
      ['tool.outcome', 'success'],
    ]);
  });

  it('records a failure with the error code when the tool throws, and rethrows', async () => {
    const failure = Object.assign(new Error('quota exceeded'), { code: 'QUOTA_EXCEEDED' });
    await expect(
      audit.track({ ...principals, tool: 'drive', action: 'write', correlationId: 'sdk-fail' }, async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    const [, outcome] = await trail('correlation_id=sdk-fail');
    expect(outcome).toMatchObject({
      kind: 'tool.outcome',
      result: 'failure',
      error_code: 'QUOTA_EXCEEDED',
      tool: 'drive',
      action: 'write',
    });
  });

  it('does not run the tool when the intent is refused', async () => {
    let ran = false;
    const refused = audit.track(
      { organization: 'xcorp', agent_id: 'agt_00000000000000000000000000', tool: 'drive', action: 'read' },
      async () => {
        ran = true;
      },
    );
    await expect(refused).rejects.toMatchObject({ name: 'MandateAuditError', status: 404, code: 'not_found' });
    await expect(refused).rejects.toBeInstanceOf(MandateAuditError);
    expect(ran).toBe(false);
  });

  it('records with the agent’s own access token as the credential', async () => {
    await created('/v1/resources', {
      identifier: 'https://drive.xcorp.test/',
      name: 'Drive',
      scopes: [{ name: 'drive.read', description: 'r' }],
    });
    const client = await created('/v1/organizations/xcorp/clients', {
      client_name: 'Filer key',
      client_type: 'confidential',
      grant_types: ['client_credentials'],
      scope: 'drive.read',
      resources: ['https://drive.xcorp.test/'],
      agent_id: principals.agent_id,
    });
    const res = await fetch(`${issuer}/oauth2/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(String(client.client_id), String(client.client_secret)),
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: 'https://drive.xcorp.test/' }),
    });
    expect(res.status).toBe(200);
    const { access_token } = (await res.json()) as { access_token: string };
    const asAgent = new MandateAudit({ issuer, apiKey: access_token });
    await asAgent.track({ tool: 'drive', action: 'read', correlationId: 'sdk-token' }, async () => 'ok');
    const events = await trail('correlation_id=sdk-token');
    expect(events.map((e) => [e.kind, e.actor_id, e.agent_id, e.client_id])).toEqual([
      ['tool.intent', principals.agent_id, principals.agent_id, client.client_id],
      ['tool.outcome', principals.agent_id, principals.agent_id, client.client_id],
    ]);
    // Principals come from the token; naming others is refused before anything runs.
    let ran = false;
    await expect(
      asAgent.track({ organization: 'xcorp', member_id: principals.member_id, tool: 'drive', action: 'read' }, async () => {
        ran = true;
      }),
    ).rejects.toMatchObject({ status: 400, code: 'invalid_request' });
    expect(ran).toBe(false);
  });

  it('resumes a run from the state of its last successful step', async () => {
    const run = await audit.startRun({ ...principals, name: 'import' });
    await audit.track({ run_id: run.id, step: 'page-1', tool: 'drive', action: 'read' }, async () => ({ next: 'p2' }), {
      state: (r) => r,
    });
    await expect(
      audit.track({ run_id: run.id, step: 'page-2', tool: 'drive', action: 'read' }, async () => {
        throw new Error('crash');
      }),
    ).rejects.toThrow('crash');
    const resumed = await audit.getRun(run.id);
    expect(resumed.last_successful_step).toMatchObject({ name: 'page-1', state: { next: 'p2' } });
    expect(resumed.resumable).toBe(true);
    expect((await audit.finishRun(run.id, 'completed')).status).toBe('completed');
  });
});
