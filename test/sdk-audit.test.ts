import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MandateAudit, MandateAuditError } from '../sdk/src/index.js';
import type { MandateNode } from '../src/node.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startListeningNode, TEST_ADMIN_KEY, type TestDatabase } from './support/nodes.js';

type Json = { id: string; [key: string]: unknown };

describe.each(dialects)('the SDK records tool calls and runs over HTTP on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let audit: MandateAudit;
  let principals: { organization: string; member_id: string; agent_id: string };

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
