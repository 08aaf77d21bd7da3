import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { CODE_MCP, type CodeFlowFixture, createCodeFlowFixture, obtainUserTokens } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';
import { basic, form } from './support/oauth-fixtures.js';

const API = 'https://calendar-api.xcorp.test/';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';

describe.each(dialects)('delegation by token exchange (RFC 8693) on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let loginApp: CustomerLoginApp;
  let fx: CodeFlowFixture;
  let userToken: string;
  let planner: { agent: string; client: { client_id: string; client_secret: string } };
  let helper: { agent: string; client: { client_id: string; client_secret: string } };
  let outsider: { agent: string; client: { client_id: string; client_secret: string } };
  let bystander: { agent: string; client: { client_id: string; client_secret: string } };

  const admin = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) => {
    const res = await node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
    return res.body ? res.json() : undefined;
  };
  const exchange = (who: { client: { client_id: string; client_secret: string } }, subject: string, extra: Record<string, string> = {}) =>
    node.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      payload: form({ grant_type: EXCHANGE, subject_token: subject, subject_token_type: AT, resource: API, ...extra }),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(who.client.client_id, who.client.client_secret),
      },
    });
  const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString());
  const introspect = async (token: string) =>
    (
      await node.app.inject({
        method: 'POST',
        url: '/oauth2/introspect',
        payload: form({ token }),
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: basic(fx.webClient.client_id, fx.webClient.client_secret),
        },
      })
    ).json();

  async function makeAgent(org: string, owner: string, name: string, permissions: { tool: string; action: string }[]) {
    const agent = await admin('POST', `/v1/organizations/${org}/agents`, {
      name,
      purpose: 'test',
      owner_member_id: owner,
      environment: 'prod',
    });
    const client = await admin('POST', `/v1/organizations/${org}/clients`, {
      client_name: `${name} key`,
      client_type: 'confidential',
      grant_types: [EXCHANGE],
      scope: 'calendar.read calendar.write',
      resources: [API],
      agent_id: agent.id,
    });
    const role = await admin('POST', `/v1/organizations/${org}/roles`, { name: `${name} role`, permissions });
    await admin('POST', `/v1/organizations/${org}/roles/${role.id}/bindings`, { agent_id: agent.id });
    return { agent: agent.id as string, client };
  }

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db);
    loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@xcorp.test', name: 'John' });
    fx = await createCodeFlowFixture(node, loginApp);
    await admin('POST', '/v1/resources', {
      identifier: API,
      name: 'Calendar API',
      scopes: [
        { name: 'calendar.read', description: 'read' },
        { name: 'calendar.write', description: 'write' },
      ],
    });
    const john = (await admin('GET', '/v1/organizations/xcorp/members?email=john@xcorp.test')).data[0];
    const staff = await admin('POST', '/v1/organizations/xcorp/roles', {
      name: 'Staff',
      permissions: [
        { tool: 'calendar', action: 'read' },
        { tool: 'calendar', action: 'write' },
      ],
    });
    await admin('POST', `/v1/organizations/xcorp/roles/${staff.id}/bindings`, { member_id: john.id });
    planner = await makeAgent('xcorp', john.id, 'Planner', [
      { tool: 'calendar', action: 'read' },
      { tool: 'calendar', action: 'write' },
    ]);
    helper = await makeAgent('xcorp', john.id, 'Helper', [{ tool: 'calendar', action: 'read' }]);
    bystander = await makeAgent('xcorp', john.id, 'Bystander', [
      { tool: 'calendar', action: 'read' },
      { tool: 'calendar', action: 'write' },
    ]);
    // The planner serves the MCP server the user's client calls; the helper serves the calendar API.
    // Each may act for the user with the tokens it receives (on-behalf-of), and only with those.
    await admin('PATCH', `/v1/resources/${encodeURIComponent(CODE_MCP)}`, { agent_id: planner.agent });
    await admin('PATCH', `/v1/resources/${encodeURIComponent(API)}`, { agent_id: helper.agent });
    await admin('POST', '/v1/organizations', { slug: 'othercorp', name: 'Other' });
    const otherOwner = await admin('POST', '/v1/organizations/othercorp/members', { email: 'o@other.test' });
    await admin('POST', '/v1/resources', {
      identifier: 'https://other.test/',
      name: 'x',
      scopes: [{ name: 'calendar.read', description: 'r' }],
    });
    outsider = await makeAgent('othercorp', otherOwner.id, 'Outsider', [{ tool: 'calendar', action: 'read' }]);
    userToken = (await obtainUserTokens(node, fx)).access_token;
  });
  afterAll(async () => {
    await node?.shutdown();
    await loginApp?.close();
    await db?.dispose();
  });

  it('gives the agent a token for the user: sub is the user, act is the agent, same grant, new audience', async () => {
    const res = await exchange(planner, userToken);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ issued_token_type: AT, token_type: 'Bearer', scope: 'calendar.read calendar.write' });
    const user = claimsOf(userToken);
    const delegated = claimsOf(res.json().access_token);
    expect(delegated).toMatchObject({
      sub: user.sub,
      aud: API,
      act: { sub: planner.agent },
      agent_id: planner.agent,
      auth_event_id: user.auth_event_id,
      org_id: user.org_id,
    });
    expect(delegated.exp).toBeLessThanOrEqual(user.exp);
  });

  it('a sub-agent gets a nested act and never more than its parent had', async () => {
    const parent = (await exchange(planner, userToken)).json().access_token;
    const child = await exchange(helper, parent);
    expect(child.statusCode).toBe(200);
    expect(claimsOf(child.json().access_token)).toMatchObject({
      act: { sub: helper.agent, act: { sub: planner.agent } },
      scope: 'calendar.read',
    });
    const widening = await exchange(helper, parent, { scope: 'calendar.write' });
    expect(widening.json()).toMatchObject({
      error: 'invalid_scope',
      error_description: expect.stringContaining('agent has no permission'),
    });
  });

  it.each([
    ['more scope than the subject token', () => exchange(planner, userToken, { scope: 'calendar.read calendar.admin' }), 'invalid_scope'],
    [
      'a subject token from another organization',
      () => exchange(outsider, userToken, { resource: 'https://other.test/' }),
      'invalid_grant',
    ],
    ['a subject token that is not a user’s', () => exchange(planner, 'not-a-token'), 'invalid_grant'],
  ])('refuses %s, with an audit record', async (_name, attempt, error) => {
    const before = (
      await node.runtime.store.db.selectFrom('audit_events').select('id').where('kind', '=', 'token.exchange_refused').execute()
    ).length;
    const res = await attempt();
    expect(res.json().error).toBe(error);
    const after = (
      await node.runtime.store.db.selectFrom('audit_events').select('id').where('kind', '=', 'token.exchange_refused').execute()
    ).length;
    expect(after).toBe(before + 1);
  });

  it('refuses an agent of the same organization that the token was neither issued to nor for', async () => {
    // Same organization, the roles for it, and yet the user never delegated to the bystander.
    const res = await exchange(bystander, userToken);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_grant', error_description: expect.stringContaining('not issued to this agent') });
    // The helper may exchange what was issued for it (the planner's token for its API), not the user's token for the planner.
    expect((await exchange(helper, userToken)).json().error).toBe('invalid_grant');
    const parent = (await exchange(planner, userToken)).json().access_token;
    expect((await exchange(bystander, parent)).json().error).toBe('invalid_grant');
    expect((await exchange(helper, parent)).statusCode).toBe(200);
  });

  it('lets an agent exchange a token issued to its own client', async () => {
    const own = (await exchange(planner, userToken)).json().access_token;
    // The planner's delegated token was issued to the planner's client: it may exchange it again (narrowing).
    const again = await exchange(planner, own, { scope: 'calendar.read' });
    expect(again.statusCode).toBe(200);
    expect(claimsOf(again.json().access_token)).toMatchObject({ act: { sub: planner.agent, act: { sub: planner.agent } } });
  });

  it('a suspended agent cannot exchange, and its chained tokens die', async () => {
    const parent = (await exchange(planner, userToken)).json().access_token;
    const child = (await exchange(helper, parent)).json().access_token;
    expect((await introspect(child)).active).toBe(true);
    await admin('POST', `/v1/organizations/xcorp/agents/${planner.agent}/suspend`, { reason: 'drill' });
    expect((await exchange(planner, userToken)).json().error).toBe('unauthorized_client');
    expect(await introspect(child)).toEqual({ active: false });
    expect((await exchange(helper, parent)).json().error).toBe('invalid_grant');
    await admin('POST', `/v1/organizations/xcorp/agents/${planner.agent}/resume`, { reason: 'drill over' });
  });

  it('revoking the user’s consent kills every exchanged token', async () => {
    const delegated = (await exchange(planner, userToken)).json().access_token;
    expect((await introspect(delegated)).active).toBe(true);
    const grant = claimsOf(userToken).auth_event_id;
    await admin('DELETE', `/v1/organizations/xcorp/grants/${grant}`);
    expect(await introspect(delegated)).toEqual({ active: false });
    expect((await exchange(planner, userToken)).json().error).toBe('invalid_grant');
  });

  it('accepts the user’s session JWT as subject, recording the delegation as a revocable grant', async () => {
    const attested = (
      await node.app.inject({
        method: 'POST',
        url: '/v1/sessions/attest',
        payload: { organization: 'xcorp', token: await loginApp.mint({ sub: 'u-1', email: 'john@xcorp.test' }) },
      })
    ).json();
    const jwt = 'urn:ietf:params:oauth:token-type:jwt';
    const unnamed = await exchange(planner, attested.session_jwt, { subject_token_type: jwt });
    expect(unnamed.json().error).toBe('invalid_scope');
    const opaque = await exchange(planner, attested.session_token, { subject_token_type: jwt, scope: 'calendar.read' });
    expect(opaque.json().error).toBe('invalid_grant');
    const res = await exchange(planner, attested.session_jwt, { subject_token_type: jwt, scope: 'calendar.read' });
    expect(res.statusCode).toBe(200);
    const claims = claimsOf(res.json().access_token);
    expect(claims).toMatchObject({
      sub: attested.member.id,
      act: { sub: planner.agent },
      scope: 'calendar.read',
      auth_event_id: expect.stringMatching(/^grt_/),
    });
    expect((await introspect(res.json().access_token)).active).toBe(true);
    await admin('DELETE', `/v1/organizations/xcorp/grants/${claims.auth_event_id}`);
    expect(await introspect(res.json().access_token)).toEqual({ active: false });
  });

  it('honours the organization’s list of agents allowed to act for its users', async () => {
    await node.app.inject({
      method: 'PATCH',
      url: '/v1/organizations/xcorp',
      headers: adminHeaders,
      payload: { settings: { delegation_agents: [helper.agent] } },
    });
    try {
      const attested = (
        await node.app.inject({
          method: 'POST',
          url: '/v1/sessions/attest',
          payload: { organization: 'xcorp', token: await loginApp.mint({ sub: 'u-1', email: 'john@xcorp.test' }) },
        })
      ).json();
      const subject = { subject_token_type: 'urn:ietf:params:oauth:token-type:jwt', scope: 'calendar.read' };
      const refused = await exchange(planner, attested.session_jwt, subject);
      expect(refused.json()).toMatchObject({ error: 'invalid_grant', error_description: expect.stringContaining('not allowed to act') });
      expect((await exchange(helper, attested.session_jwt, subject)).statusCode).toBe(200);
    } finally {
      await node.app.inject({ method: 'PATCH', url: '/v1/organizations/xcorp', headers: adminHeaders, payload: { settings: null } });
    }
  });

  it('refuses exchange to a client that is not an agent’s', async () => {
    const res = await node.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      payload: form({ grant_type: EXCHANGE, subject_token: userToken, subject_token_type: AT, resource: CODE_MCP }),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(fx.webClient.client_id, fx.webClient.client_secret),
      },
    });
    expect(res.json().error).toBe('unauthorized_client');
  });
});
