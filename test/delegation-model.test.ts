import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { FrozenClock } from './support/clock.js';
import { CODE_MCP, type CodeFlowFixture, createCodeFlowFixture, obtainUserTokens } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';
import { basic, form } from './support/oauth-fixtures.js';

/**
 * The delegation promise as a model, checked against Mandate through its HTTP API after every
 * step of random event sequences: a credential is live (introspection active), and a decision
 * allows, only while every principal in its chain is active and was last stopped before it was
 * issued, its grant stands, and the request lies within the member's roles, the agent's roles and
 * registry limits, and the consented scope. Both directions are asserted, so the model cannot pass
 * by expecting nothing to work.
 */

const API = 'https://calendar-api.model.test/';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const CIBA = 'urn:openid:params:grant-type:ciba';
const SCOPES = ['calendar.read', 'calendar.write'] as const;
type Scope = (typeof SCOPES)[number];
type Env = 'dev' | 'staging' | 'prod';
const ENVS: Env[] = ['dev', 'staging', 'prod'];
const CLASSES = ['public', 'internal', 'confidential'] as const;
type Classification = (typeof CLASSES)[number];
const CHECKED_CLASSIFICATION = 'internal';

interface Credential {
  label: string;
  token: string;
  /** Acts for M (a user token or one exchanged from it); else A's own token. */
  forMember: boolean;
  /** A is in its chain (its `agent_id` or an `act` link). */
  throughAgent: boolean;
  grant: string | null;
  scopes: Scope[];
  /** Agents in its `act` chain (RFC 8693 §4.1); Mandate allows at most 4. */
  depth: number;
  /** The model's verdict: some principal of its chain stopped after it was issued, or its grant was revoked. */
  dead: boolean;
  /** Its `exp`, in seconds: past it the credential is over whatever else holds. */
  exp: number;
  /** A user token's refresh token, rotated on use. */
  refresh?: string;
  /** A CIBA token: the calendar actions its approved authorization_details describe, and nothing else. */
  approved?: ('read' | 'write')[];
}

/** A request M approved for A through CIBA (an `auth_req_id`), waiting to be redeemed once. */
interface Approval {
  label: string;
  authReqId: string;
  action: 'read' | 'write';
  /** A stop of M or A since it was approved: it may never mint a token (the epoch rule). */
  dead: boolean;
  used: boolean;
  /** When the request expires (ms of the frozen clock): no token from it after that. */
  expiresAt: number;
}

interface Model {
  member: 'active' | 'suspended' | 'deleted';
  memberBound: boolean;
  /** Until when (ms of the frozen clock) an approved elevation gives M calendar:write; 0: none. */
  elevatedUntil: number;
  agent: 'active' | 'suspended';
  agentBound: boolean;
  ownerIsMember: boolean;
  tools: string[];
  maxClass: Classification;
  env: Env;
  credentials: Credential[];
  approvals: Approval[];
  revokedGrants: Set<string>;
  /** M's consents to the user's client, oldest first: each new one adds to the latest standing one (incremental authorization). */
  consents: { grant: string; scopes: Scope[] }[];
}

interface Real {
  memberId: string;
  email: string;
  agentId: string;
  agentClient: { client_id: string; client_secret: string };
}

/** What the suite shares across runs: one node and one organization per dialect. */
interface World {
  node: MandateNode;
  clock: FrozenClock;
  loginApp: CustomerLoginApp;
  fx: CodeFlowFixture;
  memberRole: string;
  agentRole: string;
  owner: string;
  scimToken: string;
  /** A session of a member who may approve calendar elevations. */
  approverSession: string;
}

const rank = (c: string) => ['public', 'internal', 'confidential', 'regulated'].indexOf(c);

/** Whether a request for the calendar lies inside A's registry entry, whatever its roles say. */
function insideRegistry(m: Model): boolean {
  return (m.tools.length === 0 || m.tools.includes('calendar')) && rank(CHECKED_CLASSIFICATION) <= rank(m.maxClass);
}

/** Whether M holds calendar:action now: through its role, or calendar:write through an elevation that has not ended. */
function memberHolds(m: Model, action: 'read' | 'write', nowMs: number): boolean {
  return m.memberBound || (action === 'write' && m.elevatedUntil > nowMs);
}

/** Whether a live credential may do calendar:action now: roles and elevations, registry limits and consent. */
function permitted(m: Model, c: Credential, action: 'read' | 'write', nowMs: number): boolean {
  if (c.forMember && !(memberHolds(m, action, nowMs) && c.scopes.includes(`calendar.${action}`))) return false;
  if (c.throughAgent && !(m.agentBound && insideRegistry(m))) return false;
  return c.approved === undefined || c.approved.includes(action);
}

/** The epoch rule: a stop kills every credential the principal is in, forever (a later resume revives none). */
function stopMember(m: Model): void {
  for (const c of m.credentials) {
    if (c.forMember) c.dead = true;
    if (c.grant) m.revokedGrants.add(c.grant);
  }
  for (const a of m.approvals) a.dead = true;
  // Nobody answers for an agent whose owner stopped: Mandate suspends it.
  if (m.ownerIsMember && m.agent === 'active') stopAgent(m);
}

function stopAgent(m: Model): void {
  m.agent = 'suspended';
  for (const c of m.credentials) if (c.throughAgent) c.dead = true;
  for (const a of m.approvals) a.dead = true;
}

function revokeGrant(m: Model, grant: string): void {
  m.revokedGrants.add(grant);
  for (const c of m.credentials) if (c.grant === grant) c.dead = true;
}

const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString());

function harness(world: () => World) {
  const w = () => world();
  const inject = (options: InjectOptions) => w().node.app.inject(options);
  const admin = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
    inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
  const adminOk = async (method: 'POST' | 'PATCH', url: string, payload: object) => {
    const res = await admin(method, url, payload);
    if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
    return res.body ? res.json() : undefined;
  };
  const scim = (url: string, active: boolean) =>
    inject({
      method: 'PATCH',
      url: `/scim/v2${url}`,
      headers: { authorization: `Bearer ${w().scimToken}`, 'content-type': 'application/scim+json' },
      payload: JSON.stringify({ schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active } }] }),
    });
  const tokenRequest = (params: Record<string, string>, client?: { client_id: string; client_secret: string }) =>
    inject({
      method: 'POST',
      url: '/oauth2/token',
      payload: form(params),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(client && { authorization: basic(client.client_id, client.client_secret) }),
      },
    });
  const attest = async (email: string) =>
    inject({
      method: 'POST',
      url: '/v1/sessions/attest',
      payload: {
        organization: 'xcorp',
        token: await w().loginApp.mint({ sub: email, email }, { nowSeconds: Math.floor(w().clock.now() / 1000) }),
      },
    });
  const introspect = async (token: string) => {
    const { webClient } = w().fx;
    const res = await inject({
      method: 'POST',
      url: '/oauth2/introspect',
      payload: form({ token }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(webClient.client_id, webClient.client_secret) },
    });
    return res.json().active as boolean;
  };
  const decision = async (body: object): Promise<string> => {
    const res = await admin('POST', '/v1/authz/check', body);
    if (res.statusCode !== 200) throw new Error(`check: ${res.statusCode} ${res.body}`);
    return res.json().decision;
  };

  /** Every credential issued so far, and the principals by name, against the model. */
  async function verify(m: Model, r: Real, step: string): Promise<void> {
    const context = { environment: m.env, classification: CHECKED_CLASSIFICATION };
    const expectations: { what: string; actual: Promise<unknown>; expected: unknown }[] = [];
    const expectThat = (what: string, actual: Promise<unknown>, expected: unknown) =>
      expectations.push({ what: `after ${step}: ${what}`, actual, expected });
    const verdict = (allow: boolean) => (allow ? 'allow' : 'deny');
    const now = w().clock.now();
    for (const c of m.credentials) {
      const live = !c.dead && c.exp * 1000 > now;
      expectThat(`${c.label}, introspection active`, introspect(c.token), live);
      for (const action of ['read', 'write'] as const)
        expectThat(
          `${c.label}, calendar:${action}`,
          decision({ token: c.token, tool: 'calendar', action, context }),
          verdict(live && permitted(m, c, action, now)),
        );
    }
    const memberOk = m.member === 'active' && memberHolds(m, 'read', now);
    expectThat(
      'named member, calendar:write',
      decision({ organization: 'xcorp', tool: 'calendar', action: 'write', context, member_id: r.memberId }),
      verdict(m.member === 'active' && memberHolds(m, 'write', now)),
    );
    const agentOk = m.agent === 'active' && m.agentBound && insideRegistry(m);
    const read = { organization: 'xcorp', tool: 'calendar', action: 'read', context };
    expectThat('named member', decision({ ...read, member_id: r.memberId }), verdict(memberOk));
    expectThat('named agent', decision({ ...read, agent_id: r.agentId }), verdict(agentOk));
    expectThat('named member and agent', decision({ ...read, member_id: r.memberId, agent_id: r.agentId }), verdict(memberOk && agentOk));
    // Outside the agent's environment nothing is allowed, whatever else holds.
    const elsewhere = ENVS.find((e) => e !== m.env) as Env;
    expectThat(
      `named agent in ${elsewhere}`,
      decision({ ...read, agent_id: r.agentId, context: { ...context, environment: elsewhere } }),
      'deny',
    );
    // Read-only requests, all at once: their audit records share a group commit.
    const actual = await Promise.all(expectations.map((e) => e.actual));
    expectations.forEach((e, i) => {
      expect(actual[i], e.what).toBe(e.expected);
    });
  }

  /** One event: act through the API, assert its answer, update the model, move the clock on, verify everything. */
  const command = (name: string, pre: (m: Model) => boolean, act: (m: Model, r: Real) => Promise<void>): fc.AsyncCommand<Model, Real> => ({
    check: pre,
    async run(m, r) {
      await act(m, r);
      // Whole seconds between steps: a credential's second-precision `iat` is never that of a stop.
      w().clock.advance(1 + (m.credentials.length % 2));
      await verify(m, r, name);
    },
    toString: () => name,
  });

  const memberPresent = (m: Model) => m.member !== 'deleted';

  const revokeConsent = fc.nat(20).map((i) =>
    command(
      `revoke grant #${i}`,
      (m) => standingGrants(m).length > 0,
      async (m) => {
        const grants = standingGrants(m);
        const grant = grants[i % grants.length] as string;
        const res = await admin('DELETE', `/v1/organizations/xcorp/grants/${grant}`);
        expect(res.statusCode, res.body).toBe(204);
        revokeGrant(m, grant);
      },
    ),
  );

  const elevate = fc.constant(
    // Only while M's role is gone: then the elevation alone decides calendar:write.
    command(
      'M gets an elevation to calendar:write for a minute',
      (m) => m.member === 'active' && !m.memberBound,
      async (m, r) => {
        const attested = await attest(r.email);
        if (m.member !== 'active') {
          expect(attested.statusCode, 'a stopped member signs in').not.toBe(201);
          return;
        }
        const asked = await inject({
          method: 'POST',
          url: '/v1/elevations',
          headers: { authorization: `Bearer ${attested.json().session_token}` },
          payload: { tool: 'calendar', action: 'write', justification: 'the model needs it', duration_minutes: 1 },
        });
        expect(asked.statusCode, asked.body).toBe(201);
        const approved = await inject({
          method: 'POST',
          url: `/v1/elevations/${asked.json().id}/approve`,
          headers: { authorization: `Bearer ${w().approverSession}` },
        });
        expect(approved.statusCode, approved.body).toBe(200);
        m.elevatedUntil = w().clock.now() + 60_000;
      },
    ),
  );
  const minutePasses = fc.constant(
    command(
      'a minute passes',
      () => true,
      async () => {
        w().clock.advance(60);
      },
    ),
  );

  const unbindMember = fc.constant(
    command(
      'unbind member role',
      (m) => memberPresent(m) && m.memberBound,
      async (m, r) => {
        const res = await admin('DELETE', `/v1/organizations/xcorp/roles/${w().memberRole}/bindings/${r.memberId}`);
        expect(res.statusCode).toBe(204);
        m.memberBound = false;
      },
    ),
  );

  const events: fc.Arbitrary<fc.AsyncCommand<Model, Real>>[] = [
    // Revoking a consent only matters while the member is active (a stop revokes them all): weighted up.
    revokeConsent,
    revokeConsent,
    revokeConsent,
    fc.constant(
      command(
        'suspend agent',
        () => true,
        async (m, r) => {
          const res = await admin('POST', `/v1/organizations/xcorp/agents/${r.agentId}/suspend`, { reason: 'model' });
          expect(res.statusCode).toBe(m.agent === 'active' ? 200 : 409);
          if (m.agent === 'active') stopAgent(m);
        },
      ),
    ),
    fc.constant(
      command(
        'resume agent',
        () => true,
        async (m, r) => {
          const res = await admin('POST', `/v1/organizations/xcorp/agents/${r.agentId}/resume`, { reason: 'model' });
          expect(res.statusCode).toBe(m.agent === 'suspended' ? 200 : 409);
          m.agent = 'active';
        },
      ),
    ),
    fc.constant(
      command('suspend member', memberPresent, async (m, r) => {
        const res = await admin('PATCH', `/v1/organizations/xcorp/members/${r.memberId}`, { status: 'suspended' });
        expect(res.statusCode).toBe(200);
        m.member = 'suspended';
        stopMember(m);
      }),
    ),
    fc.constant(
      command('reactivate member', memberPresent, async (m, r) => {
        const res = await admin('PATCH', `/v1/organizations/xcorp/members/${r.memberId}`, { status: 'active' });
        expect(res.statusCode).toBe(200);
        m.member = 'active';
      }),
    ),
    fc.constant(
      command('delete member', memberPresent, async (m, r) => {
        const res = await admin('DELETE', `/v1/organizations/xcorp/members/${r.memberId}`);
        expect(res.statusCode).toBe(204);
        m.member = 'deleted';
        m.memberBound = false;
        m.elevatedUntil = 0;
        stopMember(m);
      }),
    ),
    fc.constant(
      command('SCIM deactivate member', memberPresent, async (m, r) => {
        const res = await scim(`/Users/${r.memberId}`, false);
        expect(res.statusCode, res.body).toBe(200);
        if (m.member === 'active') {
          m.member = 'suspended';
          stopMember(m);
        }
      }),
    ),
    fc.constant(
      command('SCIM reactivate member', memberPresent, async (m, r) => {
        const res = await scim(`/Users/${r.memberId}`, true);
        expect(res.statusCode, res.body).toBe(200);
        m.member = 'active';
      }),
    ),
    unbindMember,
    unbindMember,
    unbindMember,
    fc.constant(
      command(
        'bind member role',
        (m) => memberPresent(m) && !m.memberBound,
        async (m, r) => {
          await adminOk('POST', `/v1/organizations/xcorp/roles/${w().memberRole}/bindings`, { member_id: r.memberId });
          m.memberBound = true;
        },
      ),
    ),
    fc.constant(
      command(
        'unbind agent role',
        (m) => m.agentBound,
        async (m, r) => {
          const res = await admin('DELETE', `/v1/organizations/xcorp/roles/${w().agentRole}/bindings/${r.agentId}`);
          expect(res.statusCode).toBe(204);
          m.agentBound = false;
        },
      ),
    ),
    fc.constant(
      command(
        'bind agent role',
        (m) => !m.agentBound,
        async (m, r) => {
          await adminOk('POST', `/v1/organizations/xcorp/roles/${w().agentRole}/bindings`, { agent_id: r.agentId });
          m.agentBound = true;
        },
      ),
    ),
    fc.constantFrom<string[]>([], ['calendar'], ['email']).map((tools) =>
      command(
        `set agent allowed_tools [${tools}]`,
        () => true,
        async (m, r) => {
          await adminOk('PATCH', `/v1/organizations/xcorp/agents/${r.agentId}`, { allowed_tools: tools });
          m.tools = tools;
        },
      ),
    ),
    fc.constantFrom(...CLASSES).map((c) =>
      command(
        `set agent max_data_classification ${c}`,
        () => true,
        async (m, r) => {
          await adminOk('PATCH', `/v1/organizations/xcorp/agents/${r.agentId}`, { max_data_classification: c });
          m.maxClass = c;
        },
      ),
    ),
    fc.constantFrom(...ENVS).map((env) =>
      command(
        `set agent environment ${env}`,
        () => true,
        async (m, r) => {
          await adminOk('PATCH', `/v1/organizations/xcorp/agents/${r.agentId}`, { environment: env });
          m.env = env;
        },
      ),
    ),
    // Elevations matter once M's role is gone, and end a minute later: weighted up so runs see both.
    elevate,
    elevate,
    elevate,
    minutePasses,
    minutePasses,
  ];

  const issuance: fc.Arbitrary<fc.AsyncCommand<Model, Real>>[] = [
    fc.subarray([...SCOPES], { minLength: 1 }).map((scopes) =>
      command(`issue user token (${scopes.join(' ')})`, memberPresent, async (m, r) => {
        const attested = await attest(r.email);
        if (m.member !== 'active') {
          expect(attested.statusCode, 'a stopped member signs in').not.toBe(201);
          return;
        }
        expect(attested.statusCode, attested.body).toBe(201);
        const fx = { ...w().fx, sessionToken: attested.json().session_token };
        const tokens = await obtainUserTokens(w().node, fx, { scope: scopes.join(' ') });
        // What M consented to before and still stands is kept; nothing from a revoked consent.
        const previous = m.consents.filter((c) => !m.revokedGrants.has(c.grant)).at(-1);
        const granted = SCOPES.filter((s) => scopes.includes(s) || previous?.scopes.includes(s));
        expect(tokens.scope.split(' ').sort()).toEqual(granted);
        const claims = claimsOf(tokens.access_token);
        expect(claims.sub).toBe(r.memberId);
        expect(m.consents.map((c) => c.grant)).not.toContain(claims.auth_event_id);
        // A new consent for the same member, client and resource supersedes the earlier ones: their
        // tokens, and every token exchanged from them, stop.
        for (const c of m.consents) if (!m.revokedGrants.has(c.grant)) revokeGrant(m, c.grant);
        m.consents.push({ grant: claims.auth_event_id, scopes: granted });
        m.credentials.push({
          label: `user token #${m.credentials.length} (${granted.join(' ')})`,
          token: tokens.access_token,
          refresh: tokens.refresh_token,
          forMember: true,
          throughAgent: false,
          grant: claims.auth_event_id,
          scopes: granted,
          depth: 0,
          dead: false,
          exp: claims.exp,
        });
      }),
    ),
    fc.nat(20).map((i) =>
      command(
        `refresh user token #${i}`,
        (m) => m.credentials.some((c) => c.refresh),
        async (m) => {
          const refreshable = m.credentials.filter((c) => c.refresh);
          const source = refreshable[i % refreshable.length] as Credential;
          const res = await tokenRequest({
            grant_type: 'refresh_token',
            refresh_token: source.refresh as string,
            client_id: w().fx.publicClient,
          });
          // A refresh token is a credential of the same chain: it dies with its access token.
          expect(res.statusCode, `refresh of ${source.label}: ${res.body}`).toBe(source.dead ? 400 : 200);
          if (source.dead) return;
          const tokens = res.json();
          source.refresh = tokens.refresh_token;
          m.credentials.push({
            ...source,
            label: `refreshed #${m.credentials.length} from ${source.label}`,
            token: tokens.access_token,
            refresh: undefined,
            exp: claimsOf(tokens.access_token).exp,
          });
        },
      ),
    ),
    fc.constant(
      command(
        'issue agent token (client_credentials)',
        () => true,
        async (m, r) => {
          const res = await tokenRequest({ grant_type: 'client_credentials', resource: API }, r.agentClient);
          if (m.agent !== 'active') {
            expect(res.statusCode, 'a suspended agent gets a token').not.toBe(200);
            return;
          }
          expect(res.statusCode, res.body).toBe(200);
          m.credentials.push({
            label: `agent token #${m.credentials.length}`,
            token: res.json().access_token,
            forMember: false,
            throughAgent: true,
            grant: null,
            scopes: res.json().scope.split(' '),
            depth: 0,
            dead: false,
            exp: claimsOf(res.json().access_token).exp,
          });
        },
      ),
    ),
    fc.tuple(fc.nat(20), fc.constantFrom<Scope[]>([], ['calendar.read'], ['calendar.write'])).map(([i, requested]) =>
      command(
        `agent exchanges #${i} (${requested.join(' ') || 'same scope'})`,
        (m) => m.credentials.some((c) => c.forMember),
        async (m, r) => {
          const subjects = m.credentials.filter((c) => c.forMember);
          const subject = subjects[i % subjects.length] as Credential;
          const res = await tokenRequest(
            {
              grant_type: EXCHANGE,
              subject_token: subject.token,
              subject_token_type: AT,
              resource: API,
              ...(requested.length > 0 && { scope: requested.join(' ') }),
            },
            r.agentClient,
          );
          const now = w().clock.now();
          const agentHolds = m.agentBound && (m.tools.length === 0 || m.tools.includes('calendar'));
          const bothHold = (s: Scope) => agentHolds && memberHolds(m, s === 'calendar.read' ? 'read' : 'write', now);
          // Nothing asked for: what the subject carries that both may do; asked for: all of it, or nothing.
          const scopes = requested.length > 0 ? requested : subject.scopes.filter(bothHold);
          const allowed =
            // A CIBA token carries one approval, not a consent: only tokens from a grant are exchanged.
            subject.grant !== null &&
            !subject.dead &&
            subject.exp * 1000 > now &&
            m.agent === 'active' &&
            requested.every((s) => subject.scopes.includes(s)) &&
            scopes.length > 0 &&
            scopes.every(bothHold) &&
            subject.depth + 1 <= 4;
          if (!allowed) {
            expect([400, 401], `exchange of ${subject.label}: ${res.body}`).toContain(res.statusCode);
            return;
          }
          expect(res.statusCode, `exchange of ${subject.label}: ${res.body}`).toBe(200);
          expect(res.json().scope.split(' ').sort()).toEqual([...scopes].sort());
          expect(claimsOf(res.json().access_token)).toMatchObject({ sub: r.memberId, agent_id: r.agentId, auth_event_id: subject.grant });
          m.credentials.push({
            label: `exchanged #${m.credentials.length} from ${subject.label} (${scopes.join(' ')})`,
            token: res.json().access_token,
            forMember: true,
            throughAgent: true,
            grant: subject.grant,
            scopes: [...scopes],
            depth: subject.depth + 1,
            dead: false,
            exp: claimsOf(res.json().access_token).exp,
          });
        },
      ),
    ),
  ];

  /** A asks M to approve one calendar action through CIBA (poll mode) and M approves it in the inbox: the `auth_req_id`. */
  async function askAndApprove(r: Real, action: 'read' | 'write'): Promise<{ authReqId: string; expiresAt: number }> {
    const asked = await inject({
      method: 'POST',
      url: '/oauth2/bc-authorize',
      payload: form({
        scope: `calendar.${action}`,
        login_hint: r.email,
        resource: API,
        authorization_details: JSON.stringify([{ type: 'calendar', action }]),
      }),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(r.agentClient.client_id, r.agentClient.client_secret),
      },
    });
    expect(asked.statusCode, asked.body).toBe(200);
    const attested = await attest(r.email);
    expect(attested.statusCode, attested.body).toBe(201);
    const session = { authorization: `Bearer ${attested.json().session_token}` };
    const pending = (await inject({ method: 'GET', url: '/v1/approvals', headers: session })).json().data as { id: string }[];
    const approved = await inject({ method: 'POST', url: `/v1/approvals/${pending.at(-1)?.id}/approve`, headers: session });
    expect(approved.statusCode, approved.body).toBe(200);
    return { authReqId: asked.json().auth_req_id, expiresAt: w().clock.now() + asked.json().expires_in * 1000 };
  }

  const ciba: fc.Arbitrary<fc.AsyncCommand<Model, Real>>[] = [
    fc.constantFrom('read' as const, 'write' as const).map((action) =>
      command(
        `agent asks M to approve calendar:${action} (CIBA), M approves`,
        // The owner of the agent never approves its requests; M signs in, so M must be active.
        (m) => !m.ownerIsMember && m.member === 'active' && m.agent === 'active',
        async (m, r) => {
          const { authReqId, expiresAt } = await askAndApprove(r, action);
          m.approvals.push({
            label: `approval #${m.approvals.length} (${action})`,
            authReqId,
            expiresAt,
            action,
            dead: false,
            used: false,
          });
        },
      ),
    ),
    fc.nat(20).map((i) =>
      command(
        `agent redeems approval #${i} (CIBA)`,
        (m) => m.approvals.length > 0,
        async (m, r) => {
          const approval = m.approvals[i % m.approvals.length] as Approval;
          const res = await tokenRequest({ grant_type: CIBA, auth_req_id: approval.authReqId }, r.agentClient);
          const allowed = !approval.dead && !approval.used && m.agent === 'active' && w().clock.now() < approval.expiresAt;
          if (!allowed) {
            expect([400, 401], `redeeming ${approval.label}: ${res.body}`).toContain(res.statusCode);
            return;
          }
          expect(res.statusCode, `redeeming ${approval.label}: ${res.body}`).toBe(200);
          approval.used = true;
          const tokens = res.json();
          expect(tokens.authorization_details).toEqual([{ type: 'calendar', action: approval.action }]);
          m.credentials.push({
            label: `CIBA token #${m.credentials.length} from ${approval.label}`,
            token: tokens.access_token,
            forMember: true,
            throughAgent: true,
            grant: null,
            scopes: tokens.scope.split(' '),
            depth: 0,
            dead: false,
            exp: claimsOf(tokens.access_token).exp,
            approved: [approval.action],
          });
        },
      ),
    ),
  ];

  /** Fresh principals for one run: M (signed in through XCorp's app), A owned by M or by the steady owner, bound to roles. */
  async function setup(run: number, options: { ownerIsMember: boolean; env: Env }): Promise<{ model: Model; real: Real }> {
    const email = `m${run}-${w().clock.now()}@xcorp.test`;
    const attested = await attest(email);
    if (attested.statusCode !== 201) throw new Error(`attest: ${attested.body}`);
    const member = (await admin('GET', `/v1/organizations/xcorp/members?email=${encodeURIComponent(email)}`)).json().data[0];
    await adminOk('POST', `/v1/organizations/xcorp/roles/${w().memberRole}/bindings`, { member_id: member.id });
    const agent = await adminOk('POST', '/v1/organizations/xcorp/agents', {
      name: `Model agent ${run}`,
      purpose: 'model run',
      owner_member_id: options.ownerIsMember ? member.id : w().owner,
      environment: options.env,
    });
    await adminOk('POST', `/v1/organizations/xcorp/roles/${w().agentRole}/bindings`, { agent_id: agent.id });
    const client = await adminOk('POST', '/v1/organizations/xcorp/clients', {
      client_name: `Model agent ${run} key`,
      client_type: 'confidential',
      grant_types: ['client_credentials', EXCHANGE, CIBA],
      scope: 'calendar.read calendar.write',
      resources: [API],
      agent_id: agent.id,
    });
    // A serves the calendar MCP the user's client calls, so it may act for the user with those tokens.
    await adminOk('PATCH', `/v1/resources/${encodeURIComponent(CODE_MCP)}`, { agent_id: agent.id });
    w().clock.advance(1);
    return {
      model: {
        member: 'active',
        memberBound: true,
        elevatedUntil: 0,
        agent: 'active',
        agentBound: true,
        ownerIsMember: options.ownerIsMember,
        tools: [],
        maxClass: agent.max_data_classification,
        env: options.env,
        credentials: [],
        approvals: [],
        revokedGrants: new Set(),
        consents: [],
      },
      real: { memberId: member.id, email, agentId: agent.id, agentClient: client },
    };
  }

  // Issuance as likely as all events together, so most runs hold several credentials of every kind.
  const commands = fc.commands([...events, ...issuance, ...issuance, ...issuance, ...issuance, ...ciba, ...ciba], {
    maxCommands: 30,
    size: 'max',
  });
  return { setup, commands, askAndApprove, tokenRequest, admin };
}

function standingGrants(m: Model): string[] {
  return [...new Set(m.credentials.map((c) => c.grant).filter((g): g is string => g !== null && !m.revokedGrants.has(g)))];
}

describe.each(dialects)('the delegation promise, as a model, on %s', (dialect) => {
  let db: TestDatabase;
  let world: World;

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    // Whole seconds, a little ahead of the real time the login app signs John's token with.
    const clock = new FrozenClock(Math.ceil(Date.now() / 1000 + 30) * 1000);
    const node = await startTestNode(db, { clock });
    const loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@xcorp.test', name: 'John' });
    const fx = await createCodeFlowFixture(node, loginApp);
    const post = async (url: string, payload: object) => {
      const res = await node.app.inject({ method: 'POST', url, payload, headers: adminHeaders });
      if (res.statusCode !== 201) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
      return res.json();
    };
    await post('/v1/resources', {
      identifier: API,
      name: 'Calendar API',
      scopes: SCOPES.map((name) => ({ name, description: name })),
    });
    const calendar = [
      { tool: 'calendar', action: 'read' },
      { tool: 'calendar', action: 'write' },
    ];
    const memberRole = await post('/v1/organizations/xcorp/roles', { name: 'Calendar user', permissions: calendar });
    const agentRole = await post('/v1/organizations/xcorp/roles', { name: 'Calendar agent', permissions: calendar });
    const owner = await post('/v1/organizations/xcorp/members', { email: 'owner@xcorp.test' });
    const scim = await post('/v1/organizations/xcorp/scim-tokens', { name: 'IdP' });
    // What an agent may ask a person to approve through CIBA: one calendar action; the person alone decides.
    await post('/v1/organizations/xcorp/authorization-detail-types', {
      type: 'calendar',
      description: 'One calendar action',
      schema: {
        type: 'object',
        required: ['type', 'action'],
        additionalProperties: false,
        properties: { type: { const: 'calendar' }, action: { enum: ['read', 'write'] } },
      },
      approvers: 'user',
    });
    // A member who may approve calendar elevations, signed in.
    const approverRole = await post('/v1/organizations/xcorp/roles', {
      name: 'Calendar approver',
      permissions: [{ tool: 'calendar', action: 'approve' }],
    });
    const approver = await post('/v1/sessions/attest', {
      organization: 'xcorp',
      token: await loginApp.mint({ sub: 'approver', email: 'approver@xcorp.test' }, { nowSeconds: Math.floor(clock.now() / 1000) }),
    });
    await node.app.inject({
      method: 'POST',
      url: `/v1/organizations/xcorp/roles/${approverRole.id}/bindings`,
      payload: { member_id: approver.member.id },
      headers: adminHeaders,
    });
    world = {
      node,
      clock,
      loginApp,
      fx,
      memberRole: memberRole.id,
      agentRole: agentRole.id,
      owner: owner.id,
      scimToken: scim.token,
      approverSession: approver.session_token,
    };
  });
  afterAll(async () => {
    await world?.node.shutdown();
    await world?.loginApp.close();
    await db?.dispose();
  });

  it('mints nothing from an approval given before the agent was stopped, even after it resumes', async () => {
    // Found by the model below: A asks M to approve, M approves, A is suspended and resumed, and
    // the approval still minted a token acting for M.
    const { setup, askAndApprove, tokenRequest, admin } = harness(() => world);
    const redeem = (r: Real, authReqId: string) => tokenRequest({ grant_type: CIBA, auth_req_id: authReqId }, r.agentClient);
    const step = () => world.clock.advance(1);

    const direct = (await setup(-1, { ownerIsMember: false, env: 'prod' })).real;
    const first = (await askAndApprove(direct, 'read')).authReqId;
    await admin('POST', `/v1/organizations/xcorp/agents/${direct.agentId}/suspend`, { reason: 'drill' });
    step();
    await admin('POST', `/v1/organizations/xcorp/agents/${direct.agentId}/resume`, { reason: 'drill over' });
    step();
    expect((await redeem(direct, first)).json().error).toBe('access_denied');

    // The same when the agent stopped with its owner (not M, who approves).
    const viaOwner = (await setup(-2, { ownerIsMember: false, env: 'prod' })).real;
    const owner = (await admin('POST', '/v1/organizations/xcorp/members', { email: `owner-${world.clock.now()}@xcorp.test` })).json();
    await admin('PATCH', `/v1/organizations/xcorp/agents/${viaOwner.agentId}`, { owner_member_id: owner.id });
    const second = (await askAndApprove(viaOwner, 'write')).authReqId;
    await admin('PATCH', `/v1/organizations/xcorp/members/${owner.id}`, { status: 'suspended' });
    step();
    await admin('PATCH', `/v1/organizations/xcorp/members/${owner.id}`, { status: 'active' });
    await admin('POST', `/v1/organizations/xcorp/agents/${viaOwner.agentId}/resume`, { reason: 'owner is back' });
    step();
    expect((await redeem(viaOwner, second)).json().error).toBe('access_denied');
  });

  it('allows, and keeps credentials live, exactly while every link of the chain holds', async () => {
    const { setup, commands } = harness(() => world);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.constantFrom(...ENVS), commands, async (ownerIsMember, env, cmds) => {
        run += 1;
        await fc.asyncModelRun(() => setup(run, { ownerIsMember, env }), cmds);
      }),
      { numRuns: 12 },
    );
  }, 120_000);
});
