/**
 * Introspection keeps verified claims in memory (oauth/tokens/verified-claims.ts) but decides
 * liveness on every call (docs/architecture.md §9): a token whose claims are cached answers
 * inactive the moment it is revoked, its agent is suspended, or it expires. Each case first
 * introspects the token twice so its claims are cached.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { FrozenClock } from './support/clock.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';
import { basic, createOAuthFixture, form, MCP, type OAuthFixture } from './support/oauth-fixtures.js';

describe.each(dialects)('introspection of cached tokens on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let fx: OAuthFixture;
  let agent: { id: string };
  let agentClient: { client_id: string; client_secret: string };
  const clock = new FrozenClock(Date.now());

  const post = (url: string, body: string, authorization: string) =>
    node.app.inject({
      method: 'POST',
      url,
      payload: body,
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
    });
  const admin = (url: string, payload: object) => node.app.inject({ method: 'POST', url, headers: adminHeaders, payload });
  const issue = async (client: { client_id: string; client_secret: string }): Promise<string> => {
    const res = await post(
      '/oauth2/token',
      form({ grant_type: 'client_credentials', resource: MCP }),
      basic(client.client_id, client.client_secret),
    );
    expect(res.statusCode).toBe(200);
    return res.json().access_token as string;
  };
  /** Introspected by a confidential client of the same organization (a resource server). */
  const introspect = async (token: string) =>
    (await post('/oauth2/introspect', form({ token }), basic(fx.agentClient.client_id, fx.agentClient.client_secret))).json();
  const cached = async (token: string) => {
    expect((await introspect(token)).active).toBe(true);
    expect((await introspect(token)).active).toBe(true);
  };

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db, { clock });
    fx = await createOAuthFixture(node);
    const owner = (await admin('/v1/organizations/acme/members', { email: 'owner@acme.test' })).json();
    agent = (
      await admin('/v1/organizations/acme/agents', {
        name: 'Cached agent',
        purpose: 'tests',
        owner_member_id: owner.id,
        environment: 'prod',
      })
    ).json();
    agentClient = (
      await admin('/v1/organizations/acme/clients', {
        client_name: 'Cached agent credential',
        client_type: 'confidential',
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        scope: 'calendar.read',
        resources: [MCP],
        agent_id: agent.id,
      })
    ).json();
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it('answers inactive right after an RFC 7009 revocation, while another cached token of the client stays active', async () => {
    const revoked = await issue(fx.agentClient);
    const sibling = await issue(fx.agentClient);
    await cached(revoked);
    await cached(sibling);
    const res = await post('/oauth2/revoke', form({ token: revoked }), basic(fx.agentClient.client_id, fx.agentClient.client_secret));
    expect(res.statusCode).toBe(200);
    expect(await introspect(revoked)).toEqual({ active: false });
    expect((await introspect(sibling)).active).toBe(true);
  });

  it('answers inactive right after the kill switch suspends the agent, and a decision with the token is denied', async () => {
    const token = await issue(agentClient);
    await cached(token);
    const suspended = await admin(`/v1/organizations/acme/agents/${agent.id}/suspend`, { reason: 'cache test' });
    expect(suspended.statusCode).toBe(200);
    expect(await introspect(token)).toEqual({ active: false });
    const decision = await node.app.inject({
      method: 'POST',
      url: '/v1/authz/check',
      headers: adminHeaders,
      payload: { token, tool: 'calendar', action: 'read', context: { environment: 'prod', classification: 'internal' } },
    });
    expect(decision.json()).toMatchObject({ decision: 'deny', reasons: ['the token is not active'] });
    // Resuming revives nothing issued before the suspension, cached or not.
    expect((await admin(`/v1/organizations/acme/agents/${agent.id}/resume`, { reason: 'cache test over' })).statusCode).toBe(200);
    expect(await introspect(token)).toEqual({ active: false });
  });

  it('answers inactive once the token expires, though its claims were cached', async () => {
    const token = await issue(fx.agentClient);
    await cached(token);
    const { exp } = await introspect(token);
    clock.advance(exp - Math.floor(clock.now() / 1000) - 1);
    expect((await introspect(token)).active).toBe(true);
    clock.advance(1);
    expect(await introspect(token)).toEqual({ active: false });
  });

  it('does not take a tampered token for the cached one it was made from', async () => {
    const token = await issue(fx.agentClient);
    await cached(token);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const widened = Buffer.from(JSON.stringify({ ...claims, scope: 'calendar.read calendar.write admin' })).toString('base64url');
    expect(await introspect(`${header}.${widened}.${signature}`)).toEqual({ active: false });
    expect(await introspect(`${token}x`)).toEqual({ active: false });
  });
});
