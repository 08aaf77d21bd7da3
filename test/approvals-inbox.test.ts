import type { AddressInfo } from 'node:net';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Approvals } from '../src/approvals/approvals.js';
import { approvalsInboxRoutes } from '../src/approvals/inbox-routes.js';
import type { ApprovalPolicy } from '../src/approvals/policy.js';
import { newId } from '../src/crypto/ids.js';
import { hashSecret, newSecret } from '../src/crypto/secret-token.js';
import type { MandateNode } from '../src/node.js';
import { launchChromium } from './support/browser.js';
import { CODE_MCP, createXcorp } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';

const POLICY: ApprovalPolicy = { approvers: 'role', tools: ['payments'], required: 1, forbidRequester: false };
const REFUND = {
  type: 'refund',
  order: 'A-1001',
  amount: { value: '120.00', currency: 'EUR' },
  reason: 'Damaged on arrival',
  lines: [{ sku: 'MUG-01', quantity: 2 }],
  note: '<script>alert(1)</script>',
};

/** XCorp with John and Alice (both may approve payments), an agent each, and the inbox on its own app. */
async function createInboxFixture(node: MandateNode, loginApp: CustomerLoginApp) {
  const admin = async (url: string, payload: object, status = 201) => {
    const res = await node.app.inject({ method: 'POST', url, payload, headers: adminHeaders });
    if (res.statusCode !== status) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
    return status === 204 ? {} : res.json();
  };
  await createXcorp(node, loginApp);
  const attest = async (sub: string, email: string, name: string) => {
    const res = await node.app.inject({
      method: 'POST',
      url: '/v1/sessions/attest',
      payload: { organization: 'xcorp', token: await loginApp.mint({ sub, email, name }) },
    });
    if (res.statusCode !== 201) throw new Error(`attest: ${res.body}`);
    const body = res.json();
    return { memberId: body.member.id as string, token: body.session_token as string };
  };
  const john = await attest('u-1', 'john@xcorp.test', 'John Smith');
  const alice = await attest('u-2', 'alice@xcorp.test', 'Alice Jones');
  const approvers = await admin('/v1/organizations/xcorp/roles', {
    name: 'Refund approvers',
    permissions: [{ tool: 'payments', action: 'approve' }],
  });
  for (const who of [john, alice]) await admin(`/v1/organizations/xcorp/roles/${approvers.id}/bindings`, { member_id: who.memberId }, 204);
  const agentOf = async (owner: string, name: string) => {
    const agent = await admin('/v1/organizations/xcorp/agents', { name, purpose: 'refunds', owner_member_id: owner, environment: 'prod' });
    const client = await admin('/v1/organizations/xcorp/clients', {
      client_name: `${name} key`,
      client_type: 'confidential',
      grant_types: ['client_credentials'],
      scope: 'calendar.read',
      resources: [CODE_MCP],
      agent_id: agent.id,
    });
    return { agentId: agent.id as string, clientId: client.client_id as string };
  };
  const johnsAgent = await agentOf(john.memberId, 'John <refund> agent');
  const alicesAgent = await agentOf(alice.memberId, 'Alice refund agent');
  const org = await node.organizations.require('xcorp');
  const clock = node.runtime.clock;
  const approvals = node.approvals;

  /** An approval request as the backchannel endpoint would have stored it. */
  const createRequest = async (input: {
    agent: { agentId: string; clientId: string };
    memberId: string;
    details: object[];
    binding: string;
  }) => {
    const now = clock.now();
    const id = newId('apr', now);
    await node.runtime.store.db
      .insertInto('approval_requests')
      .values({
        id,
        org_id: org.id,
        auth_req_hash: hashSecret(newSecret('mnd_ar_')),
        client_id: input.agent.clientId,
        agent_id: input.agent.agentId,
        member_id: input.memberId,
        resource: CODE_MCP,
        scope: 'calendar.read',
        authorization_details: JSON.stringify(input.details),
        binding_message: input.binding,
        policy: JSON.stringify(POLICY),
        status: 'pending',
        interval_seconds: 2,
        next_poll_at: null,
        expires_at: new Date(now + 300_000).toISOString(),
        created_at: new Date(now).toISOString(),
        decided_at: null,
        consumed_at: null,
      })
      .execute();
    return id;
  };
  return { john, alice, johnsAgent, alicesAgent, approvals, createRequest };
}

async function inboxApp(approvals: Approvals, node: MandateNode): Promise<FastifyInstance> {
  const app = Fastify().withTypeProvider<TypeBoxTypeProvider>();
  await app.register(approvalsInboxRoutes, { approvals, sessions: node.sessions });
  await app.ready();
  return app;
}

const csrfOf = (body: string) => /name="csrf_token" value="([^"]+)"/.exec(body)?.[1];

describe.each(dialects)('approvals inbox page on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let loginApp: CustomerLoginApp;
  let app: FastifyInstance;
  let fx: Awaited<ReturnType<typeof createInboxFixture>>;
  /** Drafted by John's agent for John: Alice may decide it, John (the agent's owner) may not. */
  let refund: string;
  /** Drafted by Alice's agent for Alice: John may decide it. */
  let transfer: string;

  const get = (token?: string) =>
    app.inject({ method: 'GET', url: '/approvals', headers: token ? { cookie: `mandate_session=${token}` } : {} });
  const post = (token: string, id: string, fields: Record<string, string>) =>
    app.inject({
      method: 'POST',
      url: `/approvals/${id}`,
      payload: new URLSearchParams(fields).toString(),
      headers: { cookie: `mandate_session=${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    });
  const state = async (id: string) => {
    const db = node.runtime.store.db;
    const row = await db.selectFrom('approval_requests').select('status').where('id', '=', id).executeTakeFirstOrThrow();
    const votes = await db.selectFrom('approval_votes').select(['member_id', 'decision']).where('request_id', '=', id).execute();
    const events = await db.selectFrom('audit_events').select(db.fn.countAll().as('n')).executeTakeFirstOrThrow();
    return { status: row.status, votes, events: Number(events.n) };
  };

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db);
    loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@xcorp.test', name: 'John Smith' });
    fx = await createInboxFixture(node, loginApp);
    refund = await fx.createRequest({
      agent: fx.johnsAgent,
      memberId: fx.john.memberId,
      details: [REFUND],
      binding: 'Refund A-1001: 120.00 EUR',
    });
    transfer = await fx.createRequest({
      agent: fx.alicesAgent,
      memberId: fx.alice.memberId,
      details: [{ type: 'transfer', amount: '50.00', currency: 'EUR', beneficiary_iban: 'DE89370400440532013000' }],
      binding: 'Transfer 50.00 EUR',
    });
    app = await inboxApp(fx.approvals, node);
  });
  afterAll(async () => {
    await app?.close();
    await node?.shutdown();
    await loginApp?.close();
    await db?.dispose();
  });

  it('asks to sign in without a session, or with one that is not valid', async () => {
    for (const res of [await get(), await get('mnd_st_unknown')]) {
      expect(res.statusCode).toBe(401);
      expect(res.headers['content-type']).toContain('text/html');
      expect(res.body).toContain('Sign in to see approvals');
    }
  });

  it('lists what the member may decide, every detail field readable and escaped, under the page CSP', async () => {
    const res = await get(fx.alice.token);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-security-policy']).toContain("form-action 'self'");
    expect(res.headers['content-security-policy']).not.toContain('script-src');
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.body;
    expect(body).toContain('<h1>Approvals</h1>');
    expect(body).toContain(`<h2 id="${refund}-title">Refund A-1001: 120.00 EUR</h2>`);
    expect(body).not.toContain(transfer); // drafted by Alice's own agent: not hers to decide
    expect(body).toContain('<h3>refund</h3>');
    for (const text of [
      '<dt>Order</dt><dd>A-1001</dd>',
      '<dt>Value</dt><dd>120.00</dd>',
      '<dt>Currency</dt><dd>EUR</dd>',
      '<dt>Sku</dt><dd>MUG-01</dd>',
    ])
      expect(body).toContain(text);
    expect(body).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(body).not.toContain('<script');
    expect(body).toContain(fx.john.memberId);
    expect(body).toContain(fx.johnsAgent.agentId);
    expect(body).toContain(fx.johnsAgent.clientId);
    // Everything the token will carry and whom it is for, by name, escaped.
    for (const text of [
      '<dt>For member</dt><dd>John Smith',
      'john@xcorp.test',
      'John &#60;refund&#62; agent',
      'John &#60;refund&#62; agent key',
      `<dt>Resource (audience)</dt><dd><code>${CODE_MCP}</code></dd>`,
      '<dt>Scope</dt><dd><code>calendar.read</code></dd>',
    ])
      expect(body).toContain(text);
    expect(body).not.toContain('<refund>');
    expect(body).toContain('0 of 1 needed');
    expect(body).toContain(`action="/approvals/${refund}"`);
    expect(body).toContain(`aria-describedby="${refund}-title">Approve</button>`);
    expect(body).toContain(`aria-describedby="${refund}-title">Deny</button>`);
    expect(csrfOf(body)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('refuses a missing or foreign CSRF token with 403 and changes nothing', async () => {
    const before = await state(refund);
    const johnsToken = csrfOf((await get(fx.john.token)).body) ?? '';
    const attempts: Record<string, string>[] = [
      { decision: 'approve' },
      { decision: 'approve', csrf_token: 'forged' },
      { decision: 'approve', csrf_token: johnsToken },
    ];
    for (const fields of attempts) {
      const res = await post(fx.alice.token, refund, fields);
      expect(res.statusCode).toBe(403);
      expect(res.body).toContain('role="alert"');
      expect(res.body).toContain('Nothing was changed');
    }
    expect(await state(refund)).toEqual(before);
    expect(before).toMatchObject({ status: 'pending', votes: [] });
  });

  it('shows the separation-of-duties refusal to the agent’s owner, with 403', async () => {
    const csrf = csrfOf((await get(fx.john.token)).body) ?? '';
    const res = await post(fx.john.token, refund, { csrf_token: csrf, decision: 'approve' });
    expect(res.statusCode).toBe(403);
    expect(res.body).toContain('role="alert"');
    expect(res.body).toContain('The owner of the agent that drafted this action cannot approve it.');
    expect((await state(refund)).status).toBe('pending');
  });

  it('approves with the session’s token, confirms, and drops the request from the list', async () => {
    const csrf = csrfOf((await get(fx.alice.token)).body) ?? '';
    const res = await post(fx.alice.token, refund, { csrf_token: csrf, decision: 'approve' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('role="status"');
    expect(res.body).toContain('You approved “Refund A-1001: 120.00 EUR”');
    expect(res.body).toContain('No requests are waiting for your decision.');
    expect(await state(refund)).toMatchObject({ status: 'approved', votes: [{ member_id: fx.alice.memberId, decision: 'approve' }] });
    const again = await post(fx.alice.token, refund, { csrf_token: csrf, decision: 'deny' });
    expect(again.statusCode).toBe(409);
    expect(again.body).toContain('The request is approved.');
  });

  it('denies, and answers 400 for a decision that is neither', async () => {
    const csrf = csrfOf((await get(fx.john.token)).body) ?? '';
    expect((await post(fx.john.token, transfer, { csrf_token: csrf, decision: 'maybe' })).statusCode).toBe(400);
    const res = await post(fx.john.token, transfer, { csrf_token: csrf, decision: 'deny' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('You denied “Transfer 50.00 EUR”');
    expect((await state(transfer)).status).toBe('denied');
  });
});

describe('approvals inbox in Chromium', () => {
  let db: TestDatabase;
  let node: MandateNode;
  let loginApp: CustomerLoginApp;
  let app: FastifyInstance;
  let browser: Browser;
  let base: string;
  let fx: Awaited<ReturnType<typeof createInboxFixture>>;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    node = await startTestNode(db);
    loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@xcorp.test', name: 'John Smith' });
    fx = await createInboxFixture(node, loginApp);
    await fx.createRequest({ agent: fx.johnsAgent, memberId: fx.john.memberId, details: [REFUND], binding: 'Refund A-1001: 120.00 EUR' });
    // The inbox on its own listening app (the node's app registers it once app.ts wires it).
    app = await inboxApp(fx.approvals, node);
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await node?.shutdown();
    await loginApp?.close();
    await db?.dispose();
  });

  it('shows the refund, approves it with one click and confirms', async () => {
    const context = await browser.newContext();
    await context.addCookies([{ name: 'mandate_session', value: fx.alice.token, url: base, httpOnly: true, sameSite: 'Lax' }]);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(`${base}/approvals`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Approvals');
    const request = page.getByRole('article', { name: 'Refund A-1001: 120.00 EUR' });
    await expect.poll(() => request.isVisible()).toBe(true);
    const text = (await request.textContent()) ?? '';
    for (const shown of ['refund', 'A-1001', '120.00', 'EUR', 'Damaged on arrival', 'MUG-01', '<script>alert(1)</script>'])
      expect(text).toContain(shown);
    // What the token will carry and whom it is for, each under its label.
    const meta = async (label: string) => {
      const term = request.getByRole('term').filter({ hasText: new RegExp(`^${label}$`) });
      expect(await term.count(), label).toBe(1);
      return (await term.locator('xpath=following-sibling::dd[1]').textContent()) ?? '';
    };
    expect(await meta('Scope')).toBe('calendar.read');
    expect(await meta('Resource \\(audience\\)')).toBe(CODE_MCP);
    const member = await meta('For member');
    for (const shown of ['John Smith', 'john@xcorp.test', fx.john.memberId]) expect(member).toContain(shown);
    expect(await meta('Agent')).toContain('John <refund> agent');
    expect(await meta('Client')).toContain('John <refund> agent key');
    const approve = request.getByRole('button', { name: 'Approve' });
    expect(await approve.getAttribute('aria-describedby')).toBe(await request.getByRole('heading', { level: 2 }).getAttribute('id'));
    await Promise.all([page.waitForURL(/\/approvals\/apr_/), approve.click()]);
    expect(await page.getByRole('status').textContent()).toContain('You approved “Refund A-1001: 120.00 EUR”');
    expect(await page.getByText('No requests are waiting for your decision.').isVisible()).toBe(true);
    expect(errors).toEqual([]); // no CSP violations
    await context.close();
  });
});
