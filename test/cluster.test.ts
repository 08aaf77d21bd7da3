import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { createCodeFlowFixture, obtainCode } from './support/code-flow.js';
import { startCustomerLoginApp } from './support/customer-login-app.js';
import { pgAvailable } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';
import { basic, createOAuthFixture, form, MCP, type OAuthFixture } from './support/oauth-fixtures.js';
import { within } from './support/within.js';

async function publishedKids(node: MandateNode): Promise<string[]> {
  const res = await node.app.inject({ method: 'GET', url: '/oauth2/jwks' });
  return (res.json() as { keys: { kid: string }[] }).keys.map((k) => k.kid);
}

describe.runIf(pgAvailable)('two nodes on one PostgreSQL', () => {
  let db: TestDatabase;
  let a: MandateNode;
  let b: MandateNode;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    // Both start at once: migrations and first keys must not race into two active keys.
    [a, b] = await Promise.all([startTestNode(db), startTestNode(db)]);
  });
  afterAll(async () => {
    await Promise.all([a?.shutdown(), b?.shutdown()]);
    await db?.dispose();
  });

  it('agree on the signing keys after a simultaneous first start', async () => {
    expect(a.keyRing.activeKey().kid).toBe(b.keyRing.activeKey().kid);
    const states = (await a.keyRing.list()).map((k) => k.state).sort();
    expect(states).toEqual(['active', 'next']);
  });

  it('a rotation on node A shows in node B JWKS within 1 s, through LISTEN/NOTIFY', async () => {
    const { activeKid, nextKid } = await a.keyRing.rotate();
    const started = Date.now();
    let kids = await publishedKids(b);
    while (!(kids.includes(nextKid) && b.keyRing.activeKey().kid === activeKid) && Date.now() - started < 1000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      kids = await publishedKids(b);
    }
    expect(kids).toContain(nextKid);
    expect(b.keyRing.activeKey().kid).toBe(activeKid);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  describe('token state', () => {
    let fx: OAuthFixture;
    const form$ = (node: MandateNode, path: string, body: string, authorization: string) =>
      node.app.inject({
        method: 'POST',
        url: path,
        payload: body,
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
      });
    const auth = () => basic(fx.agentClient.client_id, fx.agentClient.client_secret);
    const issue = async (node: MandateNode) =>
      (await form$(node, '/oauth2/token', form({ grant_type: 'client_credentials', resource: MCP }), auth())).json().access_token as string;
    const activeOn = async (node: MandateNode, token: string) =>
      (await form$(node, '/oauth2/introspect', form({ token }), auth())).json().active as boolean;

    beforeAll(async () => {
      fx = await createOAuthFixture(a);
    });

    it('an access token revoked on node A is inactive on node B within 1 s', async () => {
      const token = await issue(a);
      expect(await activeOn(b, token)).toBe(true);
      await form$(a, '/oauth2/revoke', form({ token }), auth());
      expect(await within(1000, async () => !(await activeOn(b, token)))).toBeLessThan(1000);
    });

    it('a client disabled on node A has its tokens refused on node B within 1 s', async () => {
      const token = await issue(b);
      expect(await activeOn(b, token)).toBe(true);
      await a.app.inject({
        method: 'PATCH',
        url: `/v1/organizations/acme/clients/${fx.agentClient.client_id}`,
        headers: adminHeaders,
        payload: { status: 'disabled' },
      });
      // Introspect as a sibling client of the same organization, since the disabled one cannot authenticate.
      const sibling = () =>
        form$(b, '/oauth2/introspect', form({ token, client_id: fx.postClient.client_id, client_secret: fx.postClient.client_secret }), '');
      expect(await within(1000, async () => (await sibling()).json().active === false)).toBeLessThan(1000);
    });
  });

  it('a grant revoked on node A makes introspection on node B inactive and a refresh there fail, within 1 s', async () => {
    const loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@xcorp.test', name: 'John' });
    try {
      const fx = await createCodeFlowFixture(a, loginApp);
      const c = await obtainCode(a, fx);
      const post = (node: MandateNode, url: string, body: Record<string, string>, authorization?: string) =>
        node.app.inject({
          method: 'POST',
          url,
          payload: form(body),
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization && { authorization }) },
        });
      const tokens = (
        await post(b, '/oauth2/token', {
          grant_type: 'authorization_code',
          code: c.code,
          code_verifier: c.verifier,
          redirect_uri: c.redirectUri,
          client_id: fx.publicClient,
        })
      ).json();
      const introspector = basic(fx.webClient.client_id, fx.webClient.client_secret);
      const activeOnB = async () =>
        (await post(b, '/oauth2/introspect', { token: tokens.access_token }, introspector)).json().active as boolean;
      expect(await activeOnB()).toBe(true);
      const grantId = (await post(b, '/oauth2/introspect', { token: tokens.access_token }, introspector)).json().auth_event_id as string;

      const revoked = await a.app.inject({ method: 'DELETE', url: `/v1/organizations/xcorp/grants/${grantId}`, headers: adminHeaders });
      expect(revoked.statusCode).toBe(204);
      expect(await within(1000, async () => !(await activeOnB()))).toBeLessThan(1000);
      const refresh = await post(b, '/oauth2/token', {
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token,
        client_id: fx.publicClient,
      });
      expect(refresh.json().error).toBe('invalid_grant');
    } finally {
      await loginApp.close();
    }
  });

  it('an agent suspended on node A is refused on node B within 1 s', async () => {
    const h = adminHeaders;
    const ownerRes = await a.app.inject({
      method: 'POST',
      url: '/v1/organizations',
      payload: { slug: 'killcorp', name: 'Kill Corp' },
      headers: h,
    });
    expect(ownerRes.statusCode).toBe(201);
    const owner = (
      await a.app.inject({ method: 'POST', url: '/v1/organizations/killcorp/members', payload: { email: 'o@kill.test' }, headers: h })
    ).json();
    const agent = (
      await a.app.inject({
        method: 'POST',
        url: '/v1/organizations/killcorp/agents',
        payload: { name: 'Runaway', purpose: 'test', owner_member_id: owner.id, environment: 'prod' },
        headers: h,
      })
    ).json();
    const client = (
      await a.app.inject({
        method: 'POST',
        url: '/v1/organizations/killcorp/clients',
        payload: {
          client_name: 'r',
          client_type: 'confidential',
          grant_types: ['client_credentials'],
          scope: 'calendar.read',
          resources: [MCP],
          agent_id: agent.id,
        },
        headers: h,
      })
    ).json();
    const auth = basic(client.client_id, client.client_secret);
    const post = (node: MandateNode, url: string, body: Record<string, string>) =>
      node.app.inject({
        method: 'POST',
        url,
        payload: form(body),
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth },
      });
    const issued = (await post(b, '/oauth2/token', { grant_type: 'client_credentials', resource: MCP })).json().access_token;
    expect((await post(b, '/oauth2/introspect', { token: issued })).json().active).toBe(true);
    await a.app.inject({
      method: 'POST',
      url: `/v1/organizations/killcorp/agents/${agent.id}/suspend`,
      payload: { reason: 'kill switch drill' },
      headers: h,
    });
    expect(await within(1000, async () => (await post(b, '/oauth2/introspect', { token: issued })).json().active === false)).toBeLessThan(
      1000,
    );
    expect((await post(b, '/oauth2/token', { grant_type: 'client_credentials', resource: MCP })).json().error).toBe('unauthorized_client');

    // Resumed: a new token works on node B, the old one never again.
    const resumed = await a.app.inject({
      method: 'POST',
      url: `/v1/organizations/killcorp/agents/${agent.id}/resume`,
      payload: { reason: 'drill over' },
      headers: h,
    });
    expect(resumed.statusCode, resumed.body).toBe(200);
    await within(
      1000,
      async () => (await post(b, '/oauth2/token', { grant_type: 'client_credentials', resource: MCP })).statusCode === 200,
    );
    const fresh = (await post(b, '/oauth2/token', { grant_type: 'client_credentials', resource: MCP })).json().access_token;
    expect((await post(b, '/oauth2/introspect', { token: fresh })).json().active).toBe(true);
    expect((await post(b, '/oauth2/introspect', { token: issued })).json().active).toBe(false);
    // A stop whose notification was lost (written straight to the database, nobody told) reaches
    // node B as soon as its bus resyncs, not 30 s later at the reconcile.
    await a.runtime.store.db
      .updateTable('principal_stops')
      .set({ stopped_at: new Date().toISOString(), lifted_at: null })
      .where('principal_id', '=', agent.id)
      .execute();
    expect((await post(b, '/oauth2/introspect', { token: fresh })).json().active).toBe(true);
    await b.bus.publish('bus.resynced', {});
    expect(await within(1000, async () => (await post(b, '/oauth2/introspect', { token: fresh })).json().active === false)).toBeLessThan(
      1000,
    );
  });
});
