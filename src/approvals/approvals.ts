import Ajv, { type ValidateFunction } from 'ajv';
import type { Agents } from '../agents/agents.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { Permissions } from '../authz/permissions.js';
import { type Clock, isoAt } from '../clock.js';
import type { Envelope } from '../crypto/envelope.js';
import { newId } from '../crypto/ids.js';
import { hashSecret, newSecret } from '../crypto/secret-token.js';
import { ConflictError, InvalidRequestError, MandateError, NotFoundError } from '../errors.js';
import type { RegisteredClient } from '../oauth/clients/authenticate.js';
import { CibaPollError, InvalidGrant, InvalidRequest, OAuthError, UnauthorizedClient } from '../oauth/errors.js';
import { CIBA_GRANT_TYPE } from '../oauth/grants/grant-types.js';
import type { Resources } from '../oauth/resources/resources.js';
import { checkResource, checkScope } from '../oauth/tokens/token-target.js';
import { outboundRequest } from '../outbound/request.js';
import type { ActiveSession } from '../sessions/sessions.js';
import type { ApprovalRequestsTable, AuthorizationDetailTypesTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';
import type { Organizations } from '../tenancy/organizations.js';
import { type ApprovalPolicy, checkPolicy, combinePolicies, mayDecide, tally } from './policy.js';

const pingContext = (requestId: string) => `approval_requests:${requestId}:ping`;
/** CIBA Core §7.3: seconds between polls; the spec's default is 5. */
const POLL_INTERVAL_SECONDS = 2;
const DEFAULT_EXPIRY_SECONDS = 300;
const MAX_EXPIRY_SECONDS = 1800;

export interface DetailTypeInput {
  type: string;
  description: string;
  schema: Record<string, unknown>;
  approvers: 'user' | 'role';
  tools?: string[] | undefined;
  required?: number | undefined;
  forbid_requester?: boolean | undefined;
}

export interface DetailTypeView {
  type: string;
  description: string;
  schema: Record<string, unknown>;
  policy: ApprovalPolicy;
}

export interface ApprovalView {
  id: string;
  org_id: string;
  member_id: string;
  agent_id: string | null;
  client_id: string;
  /** Whom the token will act for, by name: approvers must not decide on bare ids. */
  member: { id: string; name: string | null; email: string | null };
  agent: { id: string; name: string | null } | null;
  client: { id: string; name: string | null };
  /** The token's audience and scope (CIBA grant), beside its authorization details: all it will carry. */
  resource: string;
  scope: string;
  authorization_details: Record<string, unknown>[];
  binding_message: string | null;
  policy: ApprovalPolicy;
  status: ApprovalRequestsTable['status'];
  approvals: number;
  expires_at: string;
  created_at: string;
}

/** What the grant handler needs to mint the single-purpose token of an approved request. */
export interface ApprovedRequest {
  request: ApprovalRequestsTable;
  details: Record<string, unknown>[];
}

/**
 * Human-in-the-loop approvals through OpenID CIBA: an agent's client asks at the backchannel
 * authentication endpoint for a token to do one thing, described by RFC 9396 authorization
 * details; people decide per the organization's policy (separation of duties, N of M); the client
 * polls the token endpoint and gets a token carrying exactly what was approved, once.
 */
export class Approvals {
  private readonly ajv = new Ajv.default({ allErrors: true, strict: false });
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(
    private readonly deps: {
      store: Store;
      organizations: Organizations;
      resources: Resources;
      /** The one permission function (authz/permissions.ts). */
      permissions: Pick<Permissions, 'of'>;
      agents: Agents;
      audit: AuditLog;
      clock: Clock;
      issuer: string;
      envelope: Envelope;
      /** Development only: webhooks to http:// and loopback. */
      allowLoopback: boolean;
      logger?: { warn(object: object, message: string): void };
    },
  ) {}

  async registerType(orgRef: string, input: DetailTypeInput, context: AuditContext): Promise<DetailTypeView> {
    const org = await this.deps.organizations.require(orgRef);
    const policy: ApprovalPolicy = {
      approvers: input.approvers,
      tools: input.tools ?? [],
      required: input.required ?? 1,
      forbidRequester: input.forbid_requester ?? false,
    };
    const verdict = checkPolicy(policy);
    if (!verdict.ok) throw new InvalidRequestError(verdict.reason);
    try {
      this.ajv.compile(input.schema);
    } catch (error) {
      throw new InvalidRequestError(`schema is not a valid JSON Schema: ${error instanceof Error ? error.message : 'error'}`);
    }
    const row: AuthorizationDetailTypesTable = {
      org_id: org.id,
      type: input.type,
      description: input.description,
      schema: JSON.stringify(input.schema),
      policy: JSON.stringify(policy),
      created_at: isoAt(this.deps.clock),
    };
    await inTransaction(this.deps.store, async (trx) => {
      const taken = await trx
        .selectFrom('authorization_detail_types')
        .select('type')
        .where('org_id', '=', org.id)
        .where('type', '=', input.type)
        .executeTakeFirst();
      if (taken) throw new ConflictError(`authorization details type "${input.type}" already exists`);
      await trx.insertInto('authorization_detail_types').values(row).execute();
      await this.deps.audit.append(trx, { kind: 'approval_type.created', orgId: org.id, detail: { type: input.type, policy } }, context);
    });
    return { type: row.type, description: row.description, schema: input.schema, policy };
  }

  async listTypes(orgRef: string): Promise<DetailTypeView[]> {
    const org = await this.deps.organizations.require(orgRef);
    const rows = await this.deps.store.db
      .selectFrom('authorization_detail_types')
      .selectAll()
      .where('org_id', '=', org.id)
      .orderBy('type')
      .execute();
    return rows.map((r) => ({ type: r.type, description: r.description, schema: JSON.parse(r.schema), policy: JSON.parse(r.policy) }));
  }

  /** CIBA Core §7.1: validate the backchannel authentication request and open an approval request. */
  async request(
    client: RegisteredClient,
    params: Readonly<Record<string, string | undefined>>,
    resources: readonly string[],
    context: AuditContext,
  ): Promise<{ auth_req_id: string; expires_in: number; interval: number }> {
    if (client.type !== 'confidential' || client.orgId === null || !client.grantTypes.has(CIBA_GRANT_TYPE))
      throw new UnauthorizedClient(`this client may not use ${CIBA_GRANT_TYPE}`);
    const orgId = client.orgId;
    // §7.1: exactly one hint; Mandate understands login_hint (a member id or email).
    if (params.login_hint_token || params.id_token_hint)
      throw new InvalidRequest('use login_hint (a member id or email of the organization)');
    if (!params.login_hint) throw new InvalidRequest('login_hint is required');
    const member = await this.deps.store.db
      .selectFrom('members')
      .select(['id', 'status'])
      .where('org_id', '=', orgId)
      .where((eb) =>
        params.login_hint?.startsWith('mbr_')
          ? eb('id', '=', params.login_hint)
          : eb('email', '=', (params.login_hint ?? '').trim().toLowerCase()),
      )
      .executeTakeFirst();
    if (member?.status !== 'active') throw new OAuthError('unknown_user_id', 'login_hint names no active member of the organization');
    const binding = params.binding_message;
    // Shown to the user beside the request (CIBA §7.1): short, and without control characters.
    if (binding !== undefined && (binding.length > 100 || [...binding].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)))
      throw new OAuthError('invalid_binding_message', 'binding_message must be at most 100 printable characters');
    const resource = await checkResource(this.deps.resources, client, resources);
    const scope = checkScope(params.scope, client, resource).join(' ');
    const { details, policy } = await this.checkDetails(orgId, params.authorization_details);
    const expiresIn = params.requested_expiry === undefined ? DEFAULT_EXPIRY_SECONDS : Number(params.requested_expiry);
    if (!Number.isInteger(expiresIn) || expiresIn < 10 || expiresIn > MAX_EXPIRY_SECONDS)
      throw new InvalidRequest(`requested_expiry must be 10 to ${MAX_EXPIRY_SECONDS} seconds`);

    // §7.1: ping-mode clients must send the bearer token Mandate presents when it pings them.
    const notificationToken = params.client_notification_token;
    if (client.cibaNotificationEndpoint && (!notificationToken || notificationToken.length > 1024))
      throw new InvalidRequest('client_notification_token is required (at most 1024 characters) for a ping-mode client');
    const authReqId = newSecret('mnd_ar_');
    const now = this.deps.clock.now();
    const id = newId('apr', now);
    const row: ApprovalRequestsTable = {
      id,
      org_id: orgId,
      auth_req_hash: hashSecret(authReqId),
      client_id: client.id,
      agent_id: client.agentId,
      member_id: member.id,
      resource: resource.identifier,
      scope,
      authorization_details: JSON.stringify(details),
      binding_message: binding ?? null,
      notification_ciphertext:
        client.cibaNotificationEndpoint && notificationToken
          ? this.deps.envelope.seal(
              JSON.stringify({ auth_req_id: authReqId, client_notification_token: notificationToken }),
              pingContext(id),
            )
          : null,
      policy: JSON.stringify(policy),
      status: 'pending',
      interval_seconds: POLL_INTERVAL_SECONDS,
      next_poll_at: null,
      expires_at: new Date(now + expiresIn * 1000).toISOString(),
      created_at: new Date(now).toISOString(),
      decided_at: null,
      consumed_at: null,
    };
    await inTransaction(this.deps.store, async (trx) => {
      await trx.insertInto('approval_requests').values(row).execute();
      await this.deps.audit.append(
        trx,
        {
          kind: 'approval.requested',
          orgId,
          actorId: client.agentId ?? client.id,
          agentId: client.agentId,
          subjectId: member.id,
          clientId: client.id,
          scope,
          detail: { request: row.id, authorization_details: details, binding_message: binding ?? null, policy },
        },
        context,
      );
    });
    void this.notify(row, details, 'approval.requested');
    return { auth_req_id: authReqId, expires_in: expiresIn, interval: POLL_INTERVAL_SECONDS };
  }

  /**
   * Reminds approvers, once, of requests still pending halfway to their expiry (run by the node's
   * maintenance timer; the conditional update makes one node send each reminder).
   */
  async remind(context: AuditContext = {}): Promise<number> {
    const now = this.deps.clock.now();
    const at = new Date(now).toISOString();
    const candidates = await this.deps.store.db
      .selectFrom('approval_requests')
      .selectAll()
      .where('status', '=', 'pending')
      .where('reminded_at', 'is', null)
      .where('expires_at', '>', at)
      .limit(500)
      .execute();
    let sent = 0;
    for (const row of candidates) {
      const half = (Date.parse(row.created_at) + Date.parse(row.expires_at)) / 2;
      if (half > now) continue;
      const claimed = await inTransaction(this.deps.store, async (trx) => {
        const done = await trx
          .updateTable('approval_requests')
          .set({ reminded_at: at })
          .where('id', '=', row.id)
          .where('reminded_at', 'is', null)
          .executeTakeFirst();
        if (Number(done.numUpdatedRows) !== 1) return false;
        await this.deps.audit.append(
          trx,
          {
            kind: 'approval.reminded',
            orgId: row.org_id,
            agentId: row.agent_id,
            subjectId: row.member_id,
            clientId: row.client_id,
            detail: { request: row.id },
          },
          context,
        );
        return true;
      });
      if (!claimed) continue;
      sent += 1;
      await this.notify(row, JSON.parse(row.authorization_details) as Record<string, unknown>[], 'approval.reminder');
    }
    return sent;
  }

  /**
   * CIBA Core §10.2, ping mode: tell the client its request was decided, with the bearer token it
   * gave; it then calls the token endpoint. Best effort: a client that misses it can still poll.
   */
  private async ping(row: ApprovalRequestsTable): Promise<void> {
    if (!row.notification_ciphertext) return;
    const client = await this.deps.store.db
      .selectFrom('clients')
      .select('backchannel_client_notification_endpoint')
      .where('id', '=', row.client_id)
      .executeTakeFirst();
    const endpoint = client?.backchannel_client_notification_endpoint;
    if (!endpoint) return;
    const sealed = JSON.parse(this.deps.envelope.open(row.notification_ciphertext, pingContext(row.id))) as {
      auth_req_id: string;
      client_notification_token: string;
    };
    try {
      const response = await outboundRequest({
        method: 'POST',
        url: new URL(endpoint),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${sealed.client_notification_token}` },
        body: JSON.stringify({ auth_req_id: sealed.auth_req_id }),
        allowLoopback: this.deps.allowLoopback,
        timeoutMs: 5_000,
        maxBytes: 64 * 1024,
      });
      if (response.status >= 300) this.deps.logger?.warn({ request: row.id, status: response.status }, 'CIBA ping refused by the client');
    } catch (error) {
      this.deps.logger?.warn({ request: row.id, err: error instanceof Error ? error.message : String(error) }, 'CIBA ping failed');
    }
  }

  /**
   * Tells the organization's approvers a request waits (its `approvals_webhook_url`: a chat bot,
   * an on-call tool), beside the inbox page. Best effort: a failure is logged, the request stands.
   */
  private async notify(
    row: ApprovalRequestsTable,
    details: Record<string, unknown>[],
    type: 'approval.requested' | 'approval.reminder',
  ): Promise<void> {
    const org = await this.deps.organizations.require(row.org_id).catch(() => undefined);
    const url = org ? (JSON.parse(org.settings) as { approvals_webhook_url?: string }).approvals_webhook_url : undefined;
    if (!url) return;
    const body = JSON.stringify({
      type,
      id: row.id,
      org_id: row.org_id,
      member_id: row.member_id,
      agent_id: row.agent_id,
      client_id: row.client_id,
      resource: row.resource,
      scope: row.scope,
      authorization_details: details,
      binding_message: row.binding_message,
      expires_at: row.expires_at,
      inbox_url: `${this.deps.issuer}/approvals`,
    });
    try {
      const response = await outboundRequest({
        method: 'POST',
        url: new URL(url),
        headers: { 'content-type': 'application/json' },
        body,
        allowLoopback: this.deps.allowLoopback,
        timeoutMs: 5_000,
        maxBytes: 64 * 1024,
      });
      if (response.status >= 300)
        this.deps.logger?.warn({ request: row.id, status: response.status }, 'approvals webhook refused the notification');
      await this.recordNotification(row, type, response.status < 300 ? null : `http_${response.status}`);
    } catch (error) {
      this.deps.logger?.warn(
        { request: row.id, err: error instanceof Error ? error.message : String(error) },
        'approvals webhook unreachable',
      );
      await this.recordNotification(row, type, 'unreachable').catch(() => undefined);
    }
  }

  /** The notification is part of the request's story in the trail: sent, refused or unreachable. */
  private async recordNotification(row: ApprovalRequestsTable, type: string, failure: string | null): Promise<void> {
    await inTransaction(this.deps.store, (trx) =>
      this.deps.audit.append(trx, {
        kind: 'approval.notified',
        orgId: row.org_id,
        agentId: row.agent_id,
        subjectId: row.member_id,
        clientId: row.client_id,
        result: failure ? 'failure' : 'success',
        errorCode: failure,
        detail: { request: row.id, notification: type },
      }),
    );
  }

  /** Pending requests of the member's organization that this member may decide. */
  async pending(session: ActiveSession): Promise<ApprovalView[]> {
    const rows = await this.deps.store.db
      .selectFrom('approval_requests')
      .selectAll()
      .where('org_id', '=', session.orgId)
      .where('status', '=', 'pending')
      .where('expires_at', '>', isoAt(this.deps.clock))
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    const out: ApprovalView[] = [];
    for (const row of rows) if ((await this.verdict(session, row)).ok) out.push(await this.view(row));
    return out;
  }

  /**
   * One request, for those it concerns: whoever may decide it, the member it is for and the owner
   * of the agent that drafted it. Anyone else gets 404, as for an unknown id: the request names a
   * member and what an agent wants to do for them.
   */
  async get(session: ActiveSession, id: string): Promise<ApprovalView> {
    const row = await this.require(session.orgId, id);
    if (row.member_id !== session.memberId && (await this.agentOwnerOf(row)) !== session.memberId && !(await this.verdict(session, row)).ok)
      throw new NotFoundError('approval request');
    return this.view(row);
  }

  /** An approver's decision, under the request's policy; a refusal is recorded and answered 403. */
  async decide(session: ActiveSession, id: string, decision: 'approve' | 'deny', context: AuditContext): Promise<ApprovalView> {
    const row = await this.require(session.orgId, id);
    const trail = {
      orgId: row.org_id,
      actorId: session.memberId,
      agentId: row.agent_id,
      subjectId: row.member_id,
      clientId: row.client_id,
    };
    const verdict = await this.verdict(session, row);
    if (!verdict.ok) {
      await inTransaction(this.deps.store, (trx) =>
        this.deps.audit.append(
          trx,
          {
            ...trail,
            kind: 'approval.refused',
            result: 'failure',
            errorCode: 'separation_of_duties',
            detail: { request: id, reason: verdict.reason },
          },
          context,
        ),
      );
      throw new MandateError('forbidden', verdict.reason);
    }
    const updated = await inTransaction(this.deps.store, async (trx) => {
      // The chain lock serializes decisions in the organization, so a tally cannot race.
      await this.deps.audit.lockChain(trx, row.org_id);
      const current = await trx.selectFrom('approval_requests').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      if (current.status !== 'pending' || current.expires_at <= isoAt(this.deps.clock))
        throw new ConflictError(`the request is ${current.status === 'pending' ? 'expired' : current.status}`);
      const already = await trx
        .selectFrom('approval_votes')
        .select('member_id')
        .where('request_id', '=', id)
        .where('member_id', '=', session.memberId)
        .executeTakeFirst();
      if (already) throw new ConflictError('you already decided this request');
      const at = isoAt(this.deps.clock);
      await trx.insertInto('approval_votes').values({ request_id: id, member_id: session.memberId, decision, at }).execute();
      const votes = await trx.selectFrom('approval_votes').select(['member_id', 'decision']).where('request_id', '=', id).execute();
      const status = tally(JSON.parse(current.policy) as ApprovalPolicy, votes);
      if (status !== 'pending') await trx.updateTable('approval_requests').set({ status, decided_at: at }).where('id', '=', id).execute();
      await this.deps.audit.append(
        trx,
        {
          ...trail,
          kind: decision === 'approve' ? 'approval.approved' : 'approval.denied',
          result: 'success',
          detail: { request: id, vote: decision, status, approvals: votes.filter((v) => v.decision === 'approve').length },
        },
        context,
      );
      return { ...current, status, decided_at: status === 'pending' ? null : at };
    });
    if (updated.status !== 'pending') void this.ping(updated);
    return this.view(updated);
  }

  /**
   * CIBA Core §10-11 at the token endpoint: pending, too fast, expired, denied, or approved — and an
   * approved request is consumed by the one token it yields.
   */
  async redeem(client: RegisteredClient, authReqId: string | undefined): Promise<ApprovedRequest> {
    if (!authReqId) throw new InvalidRequest('auth_req_id is required');
    const row = await this.deps.store.db
      .selectFrom('approval_requests')
      .selectAll()
      .where('auth_req_hash', '=', hashSecret(authReqId))
      .executeTakeFirst();
    if (!row || row.client_id !== client.id) throw new InvalidGrant('auth_req_id is unknown');
    const now = this.deps.clock.now();
    const at = new Date(now).toISOString();
    if (row.status === 'consumed') throw new InvalidGrant('this approval was already used');
    if (row.status === 'denied') throw new CibaPollError('access_denied', 'the request was denied');
    if (row.status === 'expired' || row.expires_at <= at) {
      await this.deps.store.db
        .updateTable('approval_requests')
        .set({ status: 'expired' })
        .where('id', '=', row.id)
        .where('status', '=', 'pending')
        .execute();
      throw new CibaPollError('expired_token', 'the request expired before it was approved');
    }
    if (row.status === 'pending') {
      const tooSoon = row.next_poll_at !== null && row.next_poll_at > at;
      // §11: after slow_down the client must add 5 seconds to its interval.
      const interval = tooSoon ? row.interval_seconds + 5 : row.interval_seconds;
      await this.deps.store.db
        .updateTable('approval_requests')
        .set({ interval_seconds: interval, next_poll_at: new Date(now + interval * 1000).toISOString() })
        .where('id', '=', row.id)
        .execute();
      throw tooSoon
        ? new CibaPollError('slow_down', `poll at most every ${interval} seconds`)
        : new CibaPollError('authorization_pending', 'waiting for approval');
    }
    const consumed = await this.deps.store.db
      .updateTable('approval_requests')
      .set({ status: 'consumed', consumed_at: at })
      .where('id', '=', row.id)
      .where('status', '=', 'approved')
      .executeTakeFirst();
    if (Number(consumed.numUpdatedRows) !== 1) throw new InvalidGrant('this approval was already used');
    return { request: row, details: JSON.parse(row.authorization_details) as Record<string, unknown>[] };
  }

  /** RFC 9396 §2: a JSON array of objects, each of a type the organization registered, valid against its schema. */
  private async checkDetails(
    orgId: string,
    raw: string | undefined,
  ): Promise<{ details: Record<string, unknown>[]; policy: ApprovalPolicy }> {
    const invalid = (why: string) => new OAuthError('invalid_authorization_details', why);
    if (!raw) throw invalid('authorization_details is required: say what the approval is for');
    let details: unknown;
    try {
      details = JSON.parse(raw);
    } catch {
      throw invalid('authorization_details is not JSON');
    }
    if (!Array.isArray(details) || details.length === 0 || details.length > 10)
      throw invalid('authorization_details must be an array of 1 to 10 objects');
    const policies: ApprovalPolicy[] = [];
    for (const detail of details) {
      if (typeof detail !== 'object' || detail === null || Array.isArray(detail) || typeof (detail as { type?: unknown }).type !== 'string')
        throw invalid('each authorization details object needs a type');
      const type = (detail as { type: string }).type;
      const row = await this.deps.store.db
        .selectFrom('authorization_detail_types')
        .selectAll()
        .where('org_id', '=', orgId)
        .where('type', '=', type)
        .executeTakeFirst();
      if (!row) throw invalid(`authorization details type "${type}" is not registered`);
      const validate = this.validator(row);
      if (!validate(detail)) throw invalid(`${type}: ${this.ajv.errorsText(validate.errors, { dataVar: type })}`);
      policies.push(JSON.parse(row.policy) as ApprovalPolicy);
    }
    return { details: details as Record<string, unknown>[], policy: combinePolicies(policies) };
  }

  private validator(row: AuthorizationDetailTypesTable): ValidateFunction {
    const key = `${row.org_id}:${row.type}:${row.created_at}`;
    let validate = this.validators.get(key);
    if (!validate) {
      validate = this.ajv.compile(JSON.parse(row.schema) as Record<string, unknown>);
      this.validators.set(key, validate);
    }
    return validate;
  }

  private async verdict(session: ActiveSession, row: ApprovalRequestsTable) {
    const policy = JSON.parse(row.policy) as ApprovalPolicy;
    const agentOwner = await this.agentOwnerOf(row);
    const permissions = policy.approvers === 'role' ? await this.deps.permissions.of(session.orgId, session.memberId) : [];
    const approvableTools = new Set(permissions.filter((p) => p.action === 'approve').map((p) => p.tool));
    return mayDecide(policy, { approver: session.memberId, requester: row.member_id, agentOwner, approvableTools });
  }

  private async agentOwnerOf(row: ApprovalRequestsTable): Promise<string | null> {
    if (!row.agent_id) return null;
    const agent = await this.deps.store.db.selectFrom('agents').select('owner_member_id').where('id', '=', row.agent_id).executeTakeFirst();
    return agent?.owner_member_id ?? null;
  }

  private async require(orgId: string, id: string): Promise<ApprovalRequestsTable> {
    const row = await this.deps.store.db.selectFrom('approval_requests').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || row.org_id !== orgId) throw new NotFoundError('approval request');
    return row;
  }

  private async view(row: ApprovalRequestsTable): Promise<ApprovalView> {
    const db = this.deps.store.db;
    const [votes, member, agent, client] = await Promise.all([
      db.selectFrom('approval_votes').select('decision').where('request_id', '=', row.id).execute(),
      db.selectFrom('members').select(['name', 'email']).where('id', '=', row.member_id).executeTakeFirst(),
      row.agent_id ? db.selectFrom('agents').select('name').where('id', '=', row.agent_id).executeTakeFirst() : undefined,
      db.selectFrom('clients').select('name').where('id', '=', row.client_id).executeTakeFirst(),
    ]);
    return {
      id: row.id,
      org_id: row.org_id,
      member_id: row.member_id,
      agent_id: row.agent_id,
      client_id: row.client_id,
      member: { id: row.member_id, name: member?.name ?? null, email: member?.email ?? null },
      agent: row.agent_id ? { id: row.agent_id, name: agent?.name ?? null } : null,
      client: { id: row.client_id, name: client?.name ?? null },
      resource: row.resource,
      scope: row.scope,
      authorization_details: JSON.parse(row.authorization_details),
      binding_message: row.binding_message,
      policy: JSON.parse(row.policy),
      status: row.expires_at <= isoAt(this.deps.clock) && row.status === 'pending' ? 'expired' : row.status,
      approvals: votes.filter((v) => v.decision === 'approve').length,
      expires_at: row.expires_at,
      created_at: row.created_at,
    };
  }
}
