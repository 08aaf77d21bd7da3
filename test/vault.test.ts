import { decodeJwt } from 'jose';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionForbiddenError, MandateActions, ReauthorizationRequiredError } from '../sdk/src/index.js';
import { keyIdOf } from '../src/crypto/envelope.js';
import type { MandateNode } from '../src/node.js';
import { launchChromium } from './support/browser.js';
import { CODE_MCP, type CodeFlowFixture, createCodeFlowFixture, obtainUserTokens } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startListeningNode, startTestNode, type TestDatabase } from './support/nodes.js';
import { startThirdPartyProvider, type ThirdPartyProvider } from './support/third-party-provider.js';
import { completeAuthorizationInBrowser } from './support/vault-browser.js';

type Json = { [key: string]: unknown };
const TTL = 3;
const GITHUB_SCOPES = 'github.read github.write github.export github.admin';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(dialects)('token vault on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let second: MandateNode | undefined;
  let issuer: string;
  let loginApp: CustomerLoginApp;
  let fx: CodeFlowFixture;
  let provider: ThirdPartyProvider;
  let browser: Browser;
  let john: Json & { id: string };
  let mary: Json & { id: string };
  let token: string;
  let vaultRefreshToken: string;

  const admin = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
    node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
  const asAgent = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object, on: MandateNode = node, bearer = token) =>
    on.app.inject({ method, url, headers: { authorization: `Bearer ${bearer}` }, ...(payload && { payload }) });
  const vaultToken = async (scope: string) => (await obtainUserTokens(node, fx, { scope, resource: `${issuer}/vault` })).access_token;
  const johnSession = () => [{ name: 'mandate_session', value: fx.sessionToken, url: issuer }];
  const events = async (query: string): Promise<Json[]> => (await admin('GET', `/v1/audit/events?limit=200&${query}`)).json().data;

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    ({ node, issuer } = await startListeningNode(db, { config: { devAllowLoopbackFetch: true } }));
    provider = await startThirdPartyProvider({
      redirectUri: 'http://127.0.0.1/vault/callback/unset',
      accessTokenTtlSeconds: TTL,
      tokenEndpointAuthMethod: 'client_secret_post',
    });
    browser = await launchChromium();
    loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@xcorp.test', name: 'John' });
    fx = await createCodeFlowFixture(node, loginApp);
    john = (await admin('GET', '/v1/organizations/xcorp/members?email=john@xcorp.test')).json().data[0];
    mary = (await admin('POST', '/v1/organizations/xcorp/members', { email: 'mary@xcorp.test' })).json();
    // The vault is a resource of its own (`<issuer>/vault`): agents hold a token for it, whose
    // consented scopes bound what they do with the user's GitHub account.
    await admin('POST', '/v1/resources', {
      identifier: `${issuer}/vault`,
      name: 'Mandate token vault',
      scopes: ['read', 'write', 'export', 'admin'].map((action) => ({ name: `github.${action}`, description: `GitHub: ${action}` })),
    });
    await admin('PATCH', `/v1/organizations/xcorp/clients/${fx.publicClient}`, {
      scope: `calendar.read calendar.write ${GITHUB_SCOPES}`,
      resources: [CODE_MCP, `${issuer}/vault`],
    });
    const role = (
      await admin('POST', '/v1/organizations/xcorp/roles', {
        name: 'Engineer',
        permissions: ['read', 'write', 'export', 'admin'].map((action) => ({ tool: 'github', action })),
      })
    ).json();
    await admin('POST', `/v1/organizations/xcorp/roles/${role.id}/bindings`, { member_id: john.id });
    const connection = await admin('POST', '/v1/organizations/xcorp/connections', {
      name: 'github',
      provider: 'github',
      client_id: provider.client.id,
      client_secret: provider.client.secret,
      scopes: ['repo', 'read:user'],
      endpoints: {
        authorization_url: provider.authorizationUrl,
        token_url: provider.tokenUrl,
        revocation_url: provider.revocationUrl,
        api_base_url: provider.apiBaseUrl,
      },
    });
    expect(connection.statusCode, connection.body).toBe(201);
    await provider.setRedirectUri(`${issuer}/vault/callback/${connection.json().id}`);
    ({ access_token: token, refresh_token: vaultRefreshToken } = await obtainUserTokens(node, fx, {
      scope: GITHUB_SCOPES,
      resource: `${issuer}/vault`,
    }));
  });
  afterAll(async () => {
    await second?.shutdown();
    await node?.shutdown();
    await browser?.close();
    await provider?.close();
    await loginApp?.close();
    await db?.dispose();
  });

  it('connects John’s account through a link he completes in the browser, then acts as him through a tool', async () => {
    // The agent's code, through the SDK, with the user's token it acts under.
    const actions = new MandateActions({ issuer, credential: token });
    const { link } = await actions.getAuthorizationLink({ connectionName: 'github' });
    expect((await actions.getConnectedAccount({ connectionName: 'github', identifier: john.id, withToken: false })).status).toBe('pending');

    const landed = await completeAuthorizationInBrowser(link, 'john', { browser, cookies: johnSession() });
    expect(landed).toContain('Account connected');
    // The link is single use, and only for John: without his session it is not even consumed.
    const { link: unopened } = await actions.getAuthorizationLink({ connectionName: 'github' });
    expect((await node.app.inject({ method: 'GET', url: new URL(unopened).pathname })).statusCode).toBe(401);
    expect(
      (await node.app.inject({ method: 'GET', url: new URL(link).pathname, cookies: { mandate_session: fx.sessionToken } })).statusCode,
    ).toBe(400);
    expect(
      (await node.app.inject({ method: 'GET', url: new URL(unopened).pathname, cookies: { mandate_session: fx.sessionToken } })).statusCode,
    ).toBe(302);
    // Opening a link starts a reconnect: the provider revokes the current tokens before John
    // authorizes again, and the account reads pending until he finishes.
    expect((await actions.getConnectedAccount({ connectionName: 'github', identifier: john.id, withToken: false })).status).toBe('pending');
    const { link: again } = await actions.getAuthorizationLink({ connectionName: 'github' });
    expect(await completeAuthorizationInBrowser(again, 'john', { browser, cookies: johnSession() })).toContain('Account connected');

    // A token minted for another resource (here the calendar MCP server) is not a key to the vault.
    const passthrough = (await obtainUserTokens(node, fx, { scope: 'calendar.read' })).access_token;
    expect((await asAgent('GET', `/v1/connected-accounts/github/${john.id}`, undefined, node, passthrough)).statusCode).toBe(401);
    // Without `github.export` consented, the agent may act through tools but never take the raw token.
    // (The grant holds every scope John approved; a refresh narrows the token, RFC 6749 §6.)
    const refresh_token = vaultRefreshToken;
    const narrowed = await node.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token,
        client_id: fx.publicClient,
        scope: 'github.read github.write',
      }).toString(),
    });
    const noExport = narrowed.json().access_token as string;
    expect(decodeJwt(noExport).scope).toBe('github.read github.write');
    expect((await asAgent('GET', `/v1/connected-accounts/github/${john.id}`, undefined, node, noExport)).statusCode).toBe(403);

    const created = await actions.executeTool<{ number: number }>({
      toolName: 'github_issue_create',
      toolInput: { owner: 'xcorp', repo: 'api', title: 'Rotate the staging keys', body: 'Filed by the agent for John' },
    });
    expect(created).toMatchObject({ status: 201, body: { title: 'Rotate the staging keys', user: { login: 'john' } } });
    const read = await actions.executeTool({
      toolName: 'github_issue_get',
      toolInput: { owner: 'xcorp', repo: 'api', issue_number: created.body.number },
    });
    expect(read).toMatchObject({ status: 200, body: { number: created.body.number, title: 'Rotate the staging keys' } });
    expect(provider.issues('john').map((i) => i.title)).toEqual(['Rotate the staging keys']);
    await expect(
      actions.executeTool({ toolName: 'github_issue_create', toolInput: { owner: 'xcorp', repo: 'api' } }),
    ).rejects.toMatchObject({
      status: 400,
      code: 'invalid_request',
    });

    // The raw proxy reaches only the provider's API base.
    const me = await asAgent('POST', `/v1/connected-accounts/github/${john.id}/proxy`, { method: 'GET', path: '/user' });
    expect(me.json()).toMatchObject({ status: 200, body: { login: 'john' } });
    for (const path of ['/../token', '/%2e%2e/token', '//evil.example/x', 'https://evil.example/']) {
      const escaped = await asAgent('POST', `/v1/connected-accounts/github/${john.id}/proxy`, { method: 'GET', path });
      expect(escaped.statusCode, path).toBe(400);
    }

    const trail = await events(`org=xcorp&member=${john.id}&tool=github`);
    expect(trail.filter((e) => e.kind === 'tool.outcome').map((e) => [e.action, e.result])).toEqual([
      ['write', 'success'],
      ['read', 'success'],
      ['admin', 'success'],
    ]);
    expect(trail.some((e) => e.kind === 'vault.connected')).toBe(true);
  });

  it('keeps the provider’s tokens and the app secret out of the database in clear text', async () => {
    const db$ = node.runtime.store.db;
    const rows = JSON.stringify(
      await Promise.all([
        db$.selectFrom('vault_connections').selectAll().execute(),
        db$.selectFrom('connected_accounts').selectAll().execute(),
        db$.selectFrom('vault_authorization_links').selectAll().execute(),
        db$.selectFrom('audit_events').selectAll().execute(),
      ]),
    );
    expect(provider.tokensUsed().length).toBeGreaterThan(0);
    for (const secret of [provider.client.secret, ...provider.tokensUsed()]) expect(rows).not.toContain(secret);
    expect(rows).toContain('access_token_ciphertext');
  });

  it('refreshes an expiring token exactly once for 50 concurrent readers, on one node and across two', async () => {
    const readers = async (nodes: MandateNode[]) => {
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          asAgent('GET', `/v1/connected-accounts/github/${john.id}`, undefined, nodes[i % nodes.length]),
        ),
      );
      for (const a of answers) expect(a.statusCode, a.body).toBe(200);
      return new Set(answers.map((a) => a.json().access_token));
    };
    await sleep(TTL * 1000);
    let before = provider.refreshCount();
    const tokens = await readers([node]);
    expect(provider.refreshCount() - before).toBe(1);
    expect(tokens.size).toBe(1);
    // The live token works at the provider's API.
    const [live] = [...tokens];
    expect(provider.tokensUsed()).not.toContain(live);

    if (dialect === 'postgres') {
      second = await startTestNode(db, { config: { issuer, devAllowLoopbackFetch: true } });
      await sleep(TTL * 1000);
      before = provider.refreshCount();
      const across = await readers([node, second]);
      expect(provider.refreshCount() - before).toBe(1);
      expect(across.size).toBe(1);
    }
  });

  it('refuses and records cross-user, cross-organization and revoked-grant attempts', async () => {
    await expect(
      new MandateActions({ issuer, credential: token }).getConnectedAccount({ connectionName: 'github', identifier: mary.id }),
    ).rejects.toBeInstanceOf(ActionForbiddenError);
    await admin('POST', '/v1/organizations', { slug: 'ycorp', name: 'YCorp' });
    const crossOrg = await asAgent('POST', '/v1/connected-accounts/authorization-link', { connection: 'github', organization: 'ycorp' });
    expect(crossOrg.statusCode).toBe(403);
    const crossTool = await asAgent('POST', '/v1/tools/execute', {
      tool_name: 'github_issue_get',
      identifier: mary.id,
      tool_input: { owner: 'x', repo: 'y', issue_number: 1 },
    });
    expect(crossTool.statusCode).toBe(403);

    const grant = String(decodeJwt(token).auth_event_id);
    expect((await admin('DELETE', `/v1/organizations/xcorp/grants/${grant}`)).statusCode).toBe(204);
    const revoked = await asAgent('GET', `/v1/connected-accounts/github/${john.id}`);
    expect(revoked.statusCode).toBe(403);
    const refused = await events('org=xcorp&kind=vault.refused');
    expect(refused.map((e) => e.error_code)).toEqual(['cross_user', 'cross_organization', 'cross_user', 'grant_revoked']);
    expect(refused.every((e) => e.result === 'failure')).toBe(true);
    token = await vaultToken(GITHUB_SCOPES);
  });

  it('marks the account reauthorization_required when the provider refuses the refresh, with a clear error', async () => {
    provider.refuseRefresh(true);
    try {
      await sleep(TTL * 1000);
      const actions = new MandateActions({ issuer, credential: token });
      await expect(actions.getConnectedAccount({ connectionName: 'github', identifier: john.id })).rejects.toBeInstanceOf(
        ReauthorizationRequiredError,
      );
      const res = await asAgent('GET', `/v1/connected-accounts/github/${john.id}`);
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ error: 'reauthorization_required' });
      expect(res.body).not.toContain('access_token');
      expect((await asAgent('GET', `/v1/connected-accounts/github/${john.id}?token=false`)).json().status).toBe('reauthorization_required');
    } finally {
      provider.refuseRefresh(false);
    }
  });

  it('disconnects: the provider revokes the tokens and Mandate deletes them', async () => {
    const { link } = (await asAgent('POST', '/v1/connected-accounts/authorization-link', { connection: 'github' })).json();
    expect(await completeAuthorizationInBrowser(link, 'john', { browser, cookies: johnSession() })).toContain('Account connected');

    // The master key rotates: a node with the new key (and the old one to open old ciphertexts) re-seals as it reads.
    const newKey = Buffer.alloc(32, 9);
    const rotated = await startTestNode(db, {
      config: { issuer, devAllowLoopbackFetch: true, masterKey: newKey, previousMasterKeys: [db.masterKey] },
    });
    const row = () =>
      node.runtime.store.db.selectFrom('connected_accounts').selectAll().where('identifier', '=', john.id).executeTakeFirstOrThrow();
    try {
      expect((await asAgent('GET', `/v1/connected-accounts/github/${john.id}`, undefined, rotated)).statusCode).toBe(200);
      const resealed = await row();
      expect(resealed.access_token_ciphertext?.split('.')[1]).toBe(keyIdOf(newKey));
      expect(resealed.refresh_token_ciphertext?.split('.')[1]).toBe(keyIdOf(newKey));
      const app = await node.runtime.store.db.selectFrom('vault_connections').select('client_secret_ciphertext').executeTakeFirstOrThrow();
      expect(app.client_secret_ciphertext.split('.')[1]).toBe(keyIdOf(newKey));

      const revocations = provider.revocations();
      const res = await asAgent('DELETE', `/v1/connected-accounts/github/${john.id}`, undefined, rotated);
      expect(res.statusCode).toBe(200);
      expect(res.json().status).toBe('revoked');
      expect(provider.revocations()).toBeGreaterThan(revocations);
      const gone = await row();
      expect([gone.access_token_ciphertext, gone.refresh_token_ciphertext]).toEqual([null, null]);
      expect((await asAgent('GET', `/v1/connected-accounts/github/${john.id}`)).statusCode).toBe(409);
    } finally {
      await rotated.shutdown();
    }
  });
});
