import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { createCodeFlowFixture } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';

type Json = Record<string, unknown>;

describe.each(dialects)('impersonation checked at every use, and never silent, on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let loginApp: CustomerLoginApp;
  let receiver: http.Server;
  const alerts: Json[] = [];
  const ids: Record<string, string> = {};
  const sessions: Record<string, string> = {};
  const roles: Record<string, string> = {};

  const admin = async (method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) => {
    const res = await node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
    if (res.statusCode >= 300) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
    return res.body ? (res.json() as Json) : undefined;
  };
  const as = (credential: string, method: 'GET' | 'POST', url: string, payload?: object) =>
    node.app.inject({ method, url, headers: { authorization: `Bearer ${credential}` }, ...(payload && { payload }) });
  /** Alice asks to act as `member`, and exchanges the token for an impersonation session. */
  const impersonate = async (member: string) => {
    const asked = await as(sessions.alice as string, 'POST', '/v1/impersonation/tokens', { member_id: member, reason: 'support ticket' });
    if (asked.statusCode !== 201) return asked;
    return node.app.inject({ method: 'POST', url: '/v1/impersonation/authenticate', payload: { token: asked.json().token } });
  };
  const until = async <T>(read: () => T | undefined): Promise<T | undefined> => {
    for (let i = 0; i < 100; i++) {
      const value = read();
      if (value !== undefined) return value;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return undefined;
  };

  beforeAll(async () => {
    receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        alerts.push(JSON.parse(body) as Json);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    db = await createTestDatabase(dialect);
    node = await startTestNode(db, { config: { devAllowLoopbackFetch: true } });
    loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@xcorp.test', name: 'John' });
    await createCodeFlowFixture(node, loginApp);
    await admin('PATCH', '/v1/organizations/xcorp', {
      settings: { security_alert_webhook_url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts` },
    });
    for (const name of ['john', 'alice', 'carol']) {
      const token = await loginApp.mint({ sub: `u-${name}`, email: `${name}@xcorp.test`, name });
      const attested = await node.app.inject({ method: 'POST', url: '/v1/sessions/attest', payload: { organization: 'xcorp', token } });
      ids[name] = attested.json().member.id;
      sessions[name] = attested.json().session_token;
    }
    // Alice supports people and reads calendars in prod only; a calendar reader reads them everywhere.
    roles.support = String(
      (
        await admin('POST', '/v1/organizations/xcorp/roles', {
          name: 'Support',
          permissions: [
            { tool: 'mandate.members', action: 'impersonate' },
            { tool: 'calendar', action: 'read', environments: ['prod'] },
          ],
        })
      )?.id,
    );
    roles.reader = String(
      (await admin('POST', '/v1/organizations/xcorp/roles', { name: 'Reader', permissions: [{ tool: 'calendar', action: 'read' }] }))?.id,
    );
    await admin('POST', `/v1/organizations/xcorp/roles/${roles.support}/bindings`, { member_id: ids.alice });
    await admin('POST', `/v1/organizations/xcorp/roles/${roles.reader}/bindings`, { member_id: ids.carol });
  });
  afterAll(async () => {
    await node?.shutdown();
    await loginApp?.close();
    await new Promise((resolve) => receiver?.close(resolve));
    await db?.dispose();
  });

  it('raises a security alert when an impersonation starts, and the member sees the session among theirs', async () => {
    const started = await impersonate(ids.john as string);
    expect(started.statusCode).toBe(201);
    const sessionId = started.json().session.id;
    const alert = await until(() => alerts.find((a) => a.session_id === sessionId));
    expect(alert).toMatchObject({
      kind: 'impersonation.started',
      member: { id: ids.john, email: 'john@xcorp.test' },
      impersonator: { id: ids.alice, email: 'alice@xcorp.test' },
      organization: { slug: 'xcorp' },
    });
    const mine = (await as(sessions.john as string, 'GET', '/v1/sessions')).json().data as Json[];
    expect(mine.find((s) => s.id === sessionId)).toMatchObject({ amr: ['impersonation'], impersonator_id: ids.alice });
  });

  it('compares whole permissions: a member who reads calendars everywhere is beyond an impersonator who reads them in prod only', async () => {
    const refused = await impersonate(ids.carol as string);
    expect(refused.statusCode).toBe(403);
    expect(refused.json().error_description).toMatch(/calendar:read.*cannot gain privileges/);
  });

  it('ends the session at its next use once the member gains a permission the impersonator lacks', async () => {
    const session = (await impersonate(ids.john as string)).json().session_token as string;
    expect((await as(session, 'GET', '/v1/sessions/me')).statusCode).toBe(200);
    await admin('POST', `/v1/organizations/xcorp/roles/${roles.reader}/bindings`, { member_id: ids.john });
    const refused = await as(session, 'GET', '/v1/sessions/me');
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error_description).toContain('impersonation no longer stands');
    // Ended for good, not just refused once: unbinding the role does not bring it back.
    await admin('DELETE', `/v1/organizations/xcorp/roles/${roles.reader}/bindings/${ids.john}`);
    expect((await as(session, 'GET', '/v1/sessions/me')).statusCode).toBe(401);
  });

  it('ends the session at its next use once the impersonator loses the impersonate permission', async () => {
    const session = (await impersonate(ids.john as string)).json().session_token as string;
    expect((await as(session, 'GET', '/v1/sessions/me')).statusCode).toBe(200);
    await admin('DELETE', `/v1/organizations/xcorp/roles/${roles.support}/bindings/${ids.alice}`);
    const refused = await as(session, 'GET', '/v1/sessions/me');
    expect(refused.statusCode).toBe(401);
    expect(refused.json().error_description).toContain('mandate.members:impersonate');
  });
});
