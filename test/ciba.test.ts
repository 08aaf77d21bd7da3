import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MandateApprovals } from '../sdk/src/index.js';
import type { MandateNode } from '../src/node.js';
import { launchChromium } from './support/browser.js';
import { FrozenClock } from './support/clock.js';
import { createXcorp } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startListeningNode, type TestDatabase } from './support/nodes.js';
import { basic } from './support/oauth-fixtures.js';

type Json = { [key: string]: unknown };
const PAYMENTS = 'https://payments.xcorp.test/';
const CIBA = 'urn:openid:params:grant-type:ciba';
const refund = { type: 'refund', action: 'issue', amount: '120.00', currency: 'EUR', order: 'ORD-7731', recipient: 'jane@customer.test' };

describe.each(dialects)('approvals through CIBA on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let issuer: string;
  let clock: FrozenClock;
  let loginApp: CustomerLoginApp;
  let agentClient: { client_id: string; client_secret: string };
  let config: client.Configuration;
  const sessions: Record<string, string> = {};
  let webhook: http.Server;
  const notified: Json[] = [];
  const members: Record<string, string> = {};
  let agentId: string;

  const admin = async (method: 'GET' | 'POST', url: string, payload?: object): Promise<Json> => {
    const res = await node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
    if (res.statusCode >= 300) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
    return res.statusCode === 204 ? {} : res.json();
  };
  const as = (who: string, method: 'GET' | 'POST', url: string) =>
    node.app.inject({ method, url, headers: { authorization: `Bearer ${sessions[who]}` } });
  const ask = (details: object[], extra: Record<string, string> = {}) =>
    client.initiateBackchannelAuthentication(config, {
      scope: 'payments.refund',
      login_hint: 'john@xcorp.test',
      binding_message: 'Refund ORD-7731',
      resource: PAYMENTS,
      authorization_details: JSON.stringify(details),
      ...extra,
    });
  const cibaTokensIssued = async (): Promise<number> => {
    const text = (await node.app.inject({ method: 'GET', url: '/metrics' })).body;
    return Number(/mandate_tokens_issued_total\{grant_type="ciba"\} (\d+)/.exec(text)?.[1] ?? 0);
  };
  const pendingId = async (who: string): Promise<string> => {
    const list = (await as(who, 'GET', '/v1/approvals')).json().data as Json[];
    return String(list.at(-1)?.id);
  };
  const tokenRequest = (authReqId: string) =>
    node.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      headers: {
        authorization: basic(agentClient.client_id, agentClient.client_secret),
        'content-type': 'application/x-www-form-urlencoded',
      },
      payload: new URLSearchParams({ grant_type: CIBA, auth_req_id: authReqId }).toString(),
    });

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    clock = new FrozenClock(Date.now());
    ({ node, issuer } = await startListeningNode(db, { clock, config: { devAllowLoopbackFetch: true } }));
    // Catch up with real time: the login app signs with it, and a slow start would put its tokens in the future.
    clock.advance((Date.now() - clock.now()) / 1000);
    webhook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        notified.push(JSON.parse(body) as Json);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    loginApp = await startCustomerLoginApp({ sub: 'u-0', email: 'x@xcorp.test', name: 'X' });
    await createXcorp(node, loginApp);
    const hook = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/approvals`;
    await node.app.inject({
      method: 'PATCH',
      url: '/v1/organizations/xcorp',
      headers: adminHeaders,
      payload: { settings: { approvals_webhook_url: hook } },
    });
    await admin('POST', '/v1/resources', {
      identifier: PAYMENTS,
      name: 'Payments',
      scopes: [{ name: 'payments.refund', description: 'Refund orders' }],
    });
    for (const name of ['john', 'alice', 'bob', 'carol', 'dave', 'eve']) {
      const attested = await node.app.inject({
        method: 'POST',
        url: '/v1/sessions/attest',
        payload: { organization: 'xcorp', token: await loginApp.mint({ sub: `u-${name}`, email: `${name}@xcorp.test`, name }) },
      });
      sessions[name] = attested.json().session_token;
      if (attested.statusCode !== 201) throw new Error(`attest ${name}: ${attested.body}`);
    }
    const list = (await admin('GET', '/v1/organizations/xcorp/members?limit=100')).data as Json[];
    for (const m of list) members[String(m.email).split('@')[0] as string] = String(m.id);
    const approver = await admin('POST', '/v1/organizations/xcorp/roles', {
      name: 'Payments approver',
      permissions: [{ tool: 'payments', action: 'approve' }],
    });
    for (const name of ['alice', 'bob', 'carol', 'dave', 'john'])
      await admin('POST', `/v1/organizations/xcorp/roles/${approver.id}/bindings`, { member_id: members[name] });
    const agent = await admin('POST', '/v1/organizations/xcorp/agents', {
      name: 'Refund bot',
      purpose: 'refunds',
      owner_member_id: members.bob,
      environment: 'prod',
    });
    agentId = String(agent.id);
    agentClient = (await admin('POST', '/v1/organizations/xcorp/clients', {
      client_name: 'Refund bot',
      client_type: 'confidential',
      grant_types: [CIBA],
      scope: 'payments.refund',
      resources: [PAYMENTS],
      agent_id: agent.id,
    })) as typeof agentClient;
    const schema = {
      type: 'object',
      required: ['type', 'action', 'amount', 'currency', 'order'],
      additionalProperties: false,
      properties: {
        type: { const: 'refund' },
        action: { enum: ['issue'] },
        amount: { type: 'string', pattern: '^[0-9]+\\.[0-9]{2}$' },
        currency: { enum: ['EUR', 'USD'] },
        order: { type: 'string', maxLength: 40 },
        recipient: { type: 'string', format: 'email' },
      },
    };
    await admin('POST', '/v1/organizations/xcorp/authorization-detail-types', {
      type: 'refund',
      description: 'Refund an order',
      schema,
      approvers: 'role',
      tools: ['payments'],
      forbid_requester: true,
    });
    await admin('POST', '/v1/organizations/xcorp/authorization-detail-types', {
      type: 'bulk_export',
      description: 'Export a whole dataset',
      schema: {
        type: 'object',
        required: ['type', 'dataset'],
        properties: { type: { const: 'bulk_export' }, dataset: { type: 'string' } },
      },
      approvers: 'role',
      tools: ['payments'],
      required: 2,
    });
    config = await client.discovery(
      new URL(issuer),
      agentClient.client_id,
      agentClient.client_secret,
      client.ClientSecretBasic(agentClient.client_secret),
      {
        execute: [client.allowInsecureRequests],
      },
    );
  });
  afterAll(async () => {
    await node?.shutdown();
    await loginApp?.close();
    await new Promise((resolve) => webhook?.close(resolve));
    await db?.dispose();
  });

  it('runs a poll-mode request with openid-client: approved once, the token carries exactly what was approved', async () => {
    const started = await ask([refund]);
    expect(started.interval).toBeGreaterThan(0);
    const early = await tokenRequest(started.auth_req_id);
    expect(early.json()).toMatchObject({ error: 'authorization_pending' });
    expect((await tokenRequest(started.auth_req_id)).json()).toMatchObject({ error: 'slow_down' });

    const id = await pendingId('alice');
    // The organization's approvers heard of it through its webhook, beside the inbox.
    for (let i = 0; i < 50 && notified.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(notified[0]).toMatchObject({
      type: 'approval.requested',
      id,
      scope: 'payments.refund',
      resource: PAYMENTS,
      authorization_details: [refund],
      inbox_url: `${issuer}/approvals`,
    });
    // The notification is in the trail too.
    let sent: Json[] = [];
    for (let i = 0; i < 50 && sent.length === 0; i++) {
      sent = (await admin('GET', '/v1/audit/events?org=xcorp&kind=approval.notified')).data as Json[];
      if (sent.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(sent[0]).toMatchObject({ result: 'success', detail: { request: id, notification: 'approval.requested' } });
    const shown = (await as('alice', 'GET', `/v1/approvals/${id}`)).json();
    expect(shown).toMatchObject({
      authorization_details: [refund],
      binding_message: 'Refund ORD-7731',
      member_id: members.john,
      status: 'pending',
    });
    // Everything the token will carry, and who it is for, by name: nobody approves blind.
    expect(shown).toMatchObject({
      scope: 'payments.refund',
      resource: PAYMENTS,
      member: { id: members.john, name: 'john', email: 'john@xcorp.test' },
      agent: { id: agentId, name: 'Refund bot' },
      client: { id: agentClient.client_id, name: 'Refund bot' },
    });
    expect((await as('alice', 'GET', '/v1/approvals')).json().data.at(-1)).toMatchObject({
      scope: 'payments.refund',
      resource: PAYMENTS,
      member: { name: 'john', email: 'john@xcorp.test' },
    });
    // A member who neither may decide it nor is its subject or agent owner cannot read it.
    const nosy = await as('eve', 'GET', `/v1/approvals/${id}`);
    expect(nosy.statusCode).toBe(404);
    expect(JSON.stringify(nosy.json())).not.toContain('john@xcorp.test');
    expect((await as('john', 'GET', `/v1/approvals/${id}`)).statusCode).toBe(200);
    expect((await as('bob', 'GET', `/v1/approvals/${id}`)).statusCode).toBe(200);

    // Alice approves on the inbox page, in Chromium, seeing what the token will carry.
    const browser = await launchChromium();
    try {
      const context = await browser.newContext();
      await context.addCookies([{ name: 'mandate_session', value: String(sessions.alice), url: issuer, httpOnly: true, sameSite: 'Lax' }]);
      const page = await context.newPage();
      await page.goto(`${issuer}/approvals`);
      const request = page.getByRole('article', { name: 'Refund ORD-7731' });
      for (const value of ['120.00', 'EUR', 'ORD-7731', 'jane@customer.test', 'payments.refund', PAYMENTS, 'john@xcorp.test', 'Refund bot'])
        expect(await request.textContent()).toContain(value);
      await Promise.all([page.waitForURL(/\/approvals\/apr_/), request.getByRole('button', { name: 'Approve' }).click()]);
      expect(await page.getByRole('status').textContent()).toContain('You approved');
    } finally {
      await browser.close();
    }
    expect((await as('alice', 'GET', `/v1/approvals/${id}`)).json().status).toBe('approved');

    const tokens = await client.pollBackchannelAuthenticationGrant(config, { ...started, interval: 1 });
    const claims = decodeJwt(tokens.access_token);
    expect(claims).toMatchObject({ sub: members.john, aud: PAYMENTS, scope: 'payments.refund', authorization_details: [refund] });
    expect(claims.authorization_details).toEqual(shown.authorization_details);
    expect(Number(claims.exp) - Number(claims.iat)).toBeLessThanOrEqual(300);

    const again = await tokenRequest(started.auth_req_id);
    expect(again.statusCode).toBe(400);
    expect(again.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('answers access_denied after a denial and expired_token after expiry', async () => {
    const denied = await ask([refund]);
    await as('alice', 'POST', `/v1/approvals/${await pendingId('alice')}/deny`);
    await expect(client.pollBackchannelAuthenticationGrant(config, { ...denied, interval: 1 })).rejects.toMatchObject({
      error: 'access_denied',
    });

    const expiring = await ask([refund], { requested_expiry: '30' });
    // Halfway to expiry, the approvers are reminded once.
    const before = notified.length;
    clock.advance(16);
    expect(await node.approvals.remind()).toBe(1);
    expect(await node.approvals.remind()).toBe(0);
    for (let i = 0; i < 50 && notified.length === before; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(notified.at(-1)).toMatchObject({ type: 'approval.reminder', authorization_details: [refund] });
    clock.advance(15);
    expect((await tokenRequest(expiring.auth_req_id)).json()).toMatchObject({ error: 'expired_token' });
  });

  it('lets agent code wait for a decision with the SDK', async () => {
    const approvals = new MandateApprovals({ issuer, clientId: agentClient.client_id, clientSecret: agentClient.client_secret });
    const waiting = approvals.request({
      loginHint: 'john@xcorp.test',
      authorizationDetails: [refund],
      resource: PAYMENTS,
      scope: 'payments.refund',
      bindingMessage: 'Refund ORD-7731',
    });
    for (let i = 0; i < 100 && (await as('alice', 'GET', '/v1/approvals')).json().data.length === 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    await as('alice', 'POST', `/v1/approvals/${await pendingId('alice')}/approve`);
    const token = await waiting;
    expect(token.authorization_details).toEqual([refund]);

    const denied = approvals.request({
      loginHint: 'john@xcorp.test',
      authorizationDetails: [refund],
      resource: PAYMENTS,
      scope: 'payments.refund',
    });
    for (let i = 0; i < 100 && (await as('alice', 'GET', '/v1/approvals')).json().data.length === 0; i++)
      await new Promise((r) => setTimeout(r, 20));
    await as('alice', 'POST', `/v1/approvals/${await pendingId('alice')}/deny`);
    await expect(denied).rejects.toMatchObject({ name: 'ApprovalError', code: 'access_denied' });
  });

  it('pings a ping-mode client once a person decided (CIBA §10.2), and the client then takes its token', async () => {
    const pinged: { authorization?: string; body: Json }[] = [];
    const receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        pinged.push({ ...(req.headers.authorization && { authorization: req.headers.authorization }), body: JSON.parse(body) as Json });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/ciba`;
      const pinger = (await admin('POST', '/v1/organizations/xcorp/clients', {
        client_name: 'Refund bot (ping)',
        client_type: 'confidential',
        grant_types: [CIBA],
        scope: 'payments.refund',
        resources: [PAYMENTS],
        backchannel_client_notification_endpoint: endpoint,
      })) as { client_id: string; client_secret: string; backchannel_client_notification_endpoint: string };
      expect(pinger.backchannel_client_notification_endpoint).toBe(endpoint);
      const bcAuthorize = (form: Record<string, string>) =>
        node.app.inject({
          method: 'POST',
          url: '/oauth2/bc-authorize',
          headers: { authorization: basic(pinger.client_id, pinger.client_secret), 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({
            login_hint: 'john@xcorp.test',
            scope: 'payments.refund',
            resource: PAYMENTS,
            authorization_details: JSON.stringify([refund]),
            ...form,
          }).toString(),
        });
      // §7.1: a ping-mode client must give the token Mandate will present.
      expect((await bcAuthorize({})).json()).toMatchObject({ error: 'invalid_request' });
      const started = (await bcAuthorize({ client_notification_token: 'ping-bearer-8f2c1d' })).json();
      await as('alice', 'POST', `/v1/approvals/${await pendingId('alice')}/approve`);
      for (let i = 0; i < 100 && pinged.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(pinged).toEqual([{ authorization: 'Bearer ping-bearer-8f2c1d', body: { auth_req_id: started.auth_req_id } }]);
      const issuedBefore = await cibaTokensIssued();
      const res = await node.app.inject({
        method: 'POST',
        url: '/oauth2/token',
        headers: { authorization: basic(pinger.client_id, pinger.client_secret), 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ grant_type: CIBA, auth_req_id: started.auth_req_id }).toString(),
      });
      expect(res.statusCode).toBe(200);
      expect(decodeJwt(res.json().access_token).authorization_details).toEqual([refund]);
      // Counted like every other grant's issuance.
      expect(await cibaTokensIssued()).toBe(issuedBefore + 1);
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
    }
  });

  it('refuses bad requests with the standard errors', async () => {
    await expect(ask([{ ...refund, amount: '12' }])).rejects.toMatchObject({ error: 'invalid_authorization_details' });
    await expect(ask([{ type: 'wire_transfer', amount: '1.00' }])).rejects.toMatchObject({ error: 'invalid_authorization_details' });
    await expect(ask([refund], { login_hint: 'nobody@xcorp.test' })).rejects.toMatchObject({ error: 'unknown_user_id' });
    await expect(ask([refund], { resource: 'https://elsewhere.test/' })).rejects.toMatchObject({ error: 'invalid_target' });
  });

  it('keeps separation of duties: neither the agent’s owner nor the requester approves, and N of M needs N people', async () => {
    await ask([refund]);
    const id = await pendingId('alice');
    for (const who of ['bob', 'john']) {
      const res = await as(who, 'POST', `/v1/approvals/${id}/approve`);
      expect(res.statusCode, who).toBe(403);
    }
    const refused = (await admin('GET', '/v1/audit/events?org=xcorp&kind=approval.refused')).data as Json[];
    expect(refused.map((e) => [e.actor_id, e.error_code])).toEqual([
      [members.bob, 'separation_of_duties'],
      [members.john, 'separation_of_duties'],
    ]);
    expect((await as('bob', 'GET', '/v1/approvals')).json().data).toEqual([]);

    const bulk = await ask([{ type: 'bulk_export', dataset: 'customers' }]);
    const bulkId = await pendingId('carol');
    expect((await as('carol', 'POST', `/v1/approvals/${bulkId}/approve`)).json()).toMatchObject({ status: 'pending', approvals: 1 });
    expect((await as('carol', 'POST', `/v1/approvals/${bulkId}/approve`)).statusCode).toBe(409);
    clock.advance(10);
    expect((await tokenRequest(bulk.auth_req_id)).json()).toMatchObject({ error: 'authorization_pending' });
    expect((await as('dave', 'POST', `/v1/approvals/${bulkId}/approve`)).json()).toMatchObject({ status: 'approved', approvals: 2 });
    clock.advance(10);
    expect((await tokenRequest(bulk.auth_req_id)).statusCode).toBe(200);
  });

  it('mints nothing in the name of a member who left after approval: their open requests are denied', async () => {
    const approved = await ask([refund]);
    await as('alice', 'POST', `/v1/approvals/${await pendingId('alice')}/approve`);
    const waiting = await ask([refund]);
    const res = await node.app.inject({
      method: 'PATCH',
      url: `/v1/organizations/xcorp/members/${members.john}`,
      headers: adminHeaders,
      payload: { status: 'suspended' },
    });
    expect(res.statusCode).toBe(200);
    clock.advance(10);
    expect((await tokenRequest(approved.auth_req_id)).json()).toMatchObject({ error: 'access_denied' });
    expect((await tokenRequest(waiting.auth_req_id)).json()).toMatchObject({ error: 'access_denied' });
  });
  it('bounds a CIBA token by exactly what was approved, and ends it for good when its member leaves', async () => {
    await admin('POST', '/v1/organizations/xcorp/authorization-detail-types', {
      type: 'refund_call',
      description: 'Refund an order through the payments tool',
      schema: {
        type: 'object',
        required: ['type', 'tool', 'action', 'order'],
        additionalProperties: false,
        properties: {
          type: { const: 'refund_call' },
          tool: { const: 'payments' },
          action: { enum: ['refund'] },
          order: { type: 'string', maxLength: 40 },
        },
      },
      approvers: 'role',
      tools: ['payments'],
    });
    // Dave and the agent may refund and export: the roles alone would allow both.
    const refunder = await admin('POST', '/v1/organizations/xcorp/roles', {
      name: 'Refunder',
      permissions: [
        { tool: 'payments', action: 'refund' },
        { tool: 'payments', action: 'export' },
      ],
    });
    const agentId = String((await admin('GET', `/v1/organizations/xcorp/clients/${agentClient.client_id}`)).agent_id);
    await admin('POST', `/v1/organizations/xcorp/roles/${refunder.id}/bindings`, { member_id: members.dave });
    await admin('POST', `/v1/organizations/xcorp/roles/${refunder.id}/bindings`, { agent_id: agentId });
    const started = await ask([{ type: 'refund_call', tool: 'payments', action: 'refund', order: 'ORD-9' }], {
      login_hint: 'dave@xcorp.test',
      binding_message: 'Refund ORD-9',
    });
    await as('alice', 'POST', `/v1/approvals/${await pendingId('alice')}/approve`);
    clock.advance(10);
    const token = (await tokenRequest(started.auth_req_id)).json().access_token as string;
    const check = async (action: string) =>
      (
        await admin('POST', '/v1/authz/check', {
          token,
          tool: 'payments',
          action,
          context: { environment: 'prod', classification: 'internal' },
        })
      ).decision;
    const introspect = async () =>
      (
        await node.app.inject({
          method: 'POST',
          url: '/oauth2/introspect',
          headers: {
            authorization: basic(agentClient.client_id, agentClient.client_secret),
            'content-type': 'application/x-www-form-urlencoded',
          },
          payload: new URLSearchParams({ token }).toString(),
        })
      ).json().active;
    expect(await check('refund')).toBe('allow');
    // Nobody approved an export: the token's roles would allow it, its approval does not.
    expect(await check('export')).toBe('deny');

    await node.app.inject({
      method: 'PATCH',
      url: `/v1/organizations/xcorp/members/${members.dave}`,
      headers: adminHeaders,
      payload: { status: 'suspended' },
    });
    expect(await check('refund')).toBe('deny');
    expect(await introspect()).toBe(false);
    clock.advance(10);
    // Coming back revives nothing issued before the stop.
    await node.app.inject({
      method: 'PATCH',
      url: `/v1/organizations/xcorp/members/${members.dave}`,
      headers: adminHeaders,
      payload: { status: 'active' },
    });
    expect(await check('refund')).toBe('deny');
    expect(await introspect()).toBe(false);
  });
});
