import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { CODE_MCP, type CodeFlowFixture, createCodeFlowFixture, obtainUserTokens } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { pgAvailable } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';
import { basic } from './support/oauth-fixtures.js';
import { within } from './support/within.js';

describe.runIf(pgAvailable)('SCIM deprovisioning across two nodes on one PostgreSQL', () => {
  let db: TestDatabase;
  let a: MandateNode;
  let b: MandateNode;
  let loginApp: CustomerLoginApp;
  let fx: CodeFlowFixture;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    [a, b] = await Promise.all([startTestNode(db), startTestNode(db)]);
    loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@xcorp.test', name: 'John' });
    fx = await createCodeFlowFixture(a, loginApp);
  });
  afterAll(async () => {
    await Promise.all([a?.shutdown(), b?.shutdown()]);
    await loginApp?.close();
    await db?.dispose();
  });

  it('PATCH active false on node A refuses the session, the delegated token and the owned agent on node B within 1 s', async () => {
    const admin = (node: MandateNode, url: string, payload: object) =>
      node.app.inject({ method: 'POST', url, payload, headers: adminHeaders });
    const form = (node: MandateNode, url: string, body: Record<string, string>, authorization: string) =>
      node.app.inject({
        method: 'POST',
        url,
        payload: new URLSearchParams(body).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
      });
    const scimToken = (await admin(a, '/v1/organizations/xcorp/scim-tokens', { name: 'Okta' })).json().token as string;
    const scim = (node: MandateNode, method: 'GET' | 'PATCH', url: string, body?: object) =>
      node.app.inject({
        method,
        url: `/scim/v2${url}`,
        headers: { authorization: `Bearer ${scimToken}`, ...(body && { 'content-type': 'application/scim+json' }) },
        ...(body && { payload: JSON.stringify(body) }),
      });

    const john = (await scim(b, 'GET', `/Users?filter=${encodeURIComponent('userName eq "john@xcorp.test"')}`)).json().Resources[0];
    const agent = (
      await admin(a, '/v1/organizations/xcorp/agents', {
        name: 'Assistant',
        purpose: 'test',
        owner_member_id: john.id,
        environment: 'prod',
      })
    ).json();
    const client = (
      await admin(a, '/v1/organizations/xcorp/clients', {
        client_name: 'assistant',
        client_type: 'confidential',
        grant_types: ['client_credentials'],
        scope: 'calendar.read',
        resources: [CODE_MCP],
        agent_id: agent.id,
      })
    ).json();
    const role = (
      await admin(a, '/v1/organizations/xcorp/roles', { name: 'Calendar reader', permissions: [{ tool: 'calendar', action: 'read' }] })
    ).json();
    await admin(a, `/v1/organizations/xcorp/roles/${role.id}/bindings`, { member_id: john.id });
    const agentAuth = basic(client.client_id, client.client_secret);
    const introspector = basic(fx.webClient.client_id, fx.webClient.client_secret);
    const userToken = (await obtainUserTokens(a, fx, { scope: 'calendar.read' })).access_token;
    const agentToken = (await form(b, '/oauth2/token', { grant_type: 'client_credentials', resource: CODE_MCP }, agentAuth)).json()
      .access_token as string;

    const sessionOnB = async () =>
      (await b.app.inject({ method: 'GET', url: '/v1/sessions/me', headers: { authorization: `Bearer ${fx.sessionToken}` } })).statusCode;
    const activeOnB = async (token: string) => (await form(b, '/oauth2/introspect', { token }, introspector)).json().active as boolean;
    const decisionOnB = async () =>
      (
        await b.app.inject({
          method: 'POST',
          url: '/v1/authz/check',
          headers: adminHeaders,
          payload: { token: userToken, tool: 'calendar', action: 'read', context: { environment: 'prod', classification: 'internal' } },
        })
      ).json().decision as string;
    expect(await sessionOnB()).toBe(200);
    expect(await activeOnB(userToken)).toBe(true);
    expect(await activeOnB(agentToken)).toBe(true);
    expect(await decisionOnB()).toBe('allow');

    const deprovisioned = await scim(a, 'PATCH', `/Users/${john.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', value: { active: false } }],
    });
    expect(deprovisioned.statusCode).toBe(200);
    expect(await within(1000, async () => (await sessionOnB()) === 401)).toBeLessThan(1000);
    expect(await within(1000, async () => !(await activeOnB(userToken)))).toBeLessThan(1000);
    expect(await within(1000, async () => (await decisionOnB()) === 'deny')).toBeLessThan(1000);
    expect(await within(1000, async () => !(await activeOnB(agentToken)))).toBeLessThan(1000);
    const refused = await form(b, '/oauth2/token', { grant_type: 'client_credentials', resource: CODE_MCP }, agentAuth);
    expect(refused.json().error).toBe('unauthorized_client');
    expect((await scim(b, 'GET', `/Users/${john.id}`)).json().active).toBe(false);
  });
});
