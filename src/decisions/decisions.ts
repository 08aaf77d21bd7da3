import type { AgentRestrictionsView } from '../anomaly/restrictions.js';
import type { AuditContext } from '../audit/audit-log.js';
import type { AuditBatcher } from '../audit/batcher.js';
import type { Conditions } from '../authz/conditions.js';
import { type Decision, type DecisionRequest, decide } from '../authz/decision.js';
import type { CredentialLiveness } from '../authz/liveness.js';
import { outsideRegistry, type Permissions } from '../authz/permissions.js';
import type { CheckRequest } from '../authz/schemas.js';
import { InvalidRequestError, MandateError } from '../errors.js';
import { CIBA_GRANT_TYPE } from '../oauth/grants/grant-types.js';
import type { LiveTokens } from '../oauth/tokens/live-tokens.js';
import type { Organizations } from '../tenancy/organizations.js';
import { describedByDetails } from './approved-details.js';

export interface CheckResponse {
  decision: Decision['effect'];
  reasons: string[];
  matched: Decision['matched'];
  principal: { org_id: string | null; member_id: string | null; agent_id: string | null };
  /**
   * With `approval_required`: how to get the person's approval, ready for a CIBA request
   * (`MandateApprovals.request` in the SDK): the endpoint, the grant type, and the tool and action
   * the authorization details must describe.
   */
  approval?: { backchannel_authentication_endpoint: string; grant_type: string; tool: string; action: string };
}

interface Principals {
  orgId: string;
  memberId: string | null;
  agentId: string | null;
  consentedScopes: string[] | null;
  /** RFC 9396: what a person approved, on a CIBA token; the decision may not exceed it. */
  approvedDetails?: Record<string, unknown>[];
  jti?: string;
  grantId?: string;
  scope?: string;
  /** The delegation chain of the token, when it was exchanged (RFC 8693 §4.1). */
  act?: unknown;
  clientId?: string;
}

/**
 * POST /v1/authz/check: who is asking (from a Mandate access token, or named explicitly), what
 * their roles allow, what the user consented to, and the decision — recorded in the audit chain
 * (group-committed, durable before the answer).
 */
export class Decisions {
  constructor(
    private readonly deps: {
      permissions: Permissions;
      organizations: Organizations;
      liveTokens: LiveTokens;
      liveness: CredentialLiveness;
      auditBatcher: AuditBatcher;
      conditions: Conditions;
      /** Anomaly responses and per-agent rate limits; none when absent. */
      restrictions?: AgentRestrictionsView;
      /** Mandate's issuer, for the approval hint of `approval_required` answers. */
      issuer?: string;
    },
  ) {}

  async check(input: CheckRequest, context: AuditContext): Promise<CheckResponse> {
    const request = {
      tool: input.tool,
      action: input.action,
      environment: input.context.environment,
      classification: input.context.classification,
    };
    const resolved = await this.principals(input);
    const p = 'orgId' in resolved ? resolved : undefined;
    if (p && !resolved.refused && p.agentId && this.deps.restrictions) {
      const { allowed, retryAfterSeconds } = await this.deps.restrictions.admit(p.orgId, p.agentId);
      if (!allowed)
        throw new MandateError('rate_limited', `too many checks for this agent; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
    }
    const decision = resolved.refused || !p ? refusal(resolved.refused ?? 'no principal') : await this.decideFor(p, request, input);
    await this.deps.auditBatcher.record(
      {
        kind: 'decision',
        orgId: p?.orgId ?? null,
        actorId: p?.agentId ?? p?.memberId ?? null,
        agentId: p?.agentId ?? null,
        subjectId: p?.memberId ?? null,
        tool: input.tool,
        action: input.action,
        result: decision.effect === 'allow' ? 'success' : 'failure',
        classification: input.context.classification,
        jti: p?.jti ?? null,
        scope: p?.scope ?? null,
        grantId: p?.grantId ?? null,
        // A token-based decision only gets here with a live token, so its grant stood.
        grantValid: p?.grantId ? true : null,
        clientId: p?.clientId ?? null,
        act: p?.act ?? null,
        detail: { effect: decision.effect, reasons: decision.reasons, environment: input.context.environment },
      },
      context,
    );
    return {
      decision: decision.effect,
      reasons: decision.reasons,
      matched: decision.matched,
      principal: { org_id: p?.orgId ?? null, member_id: p?.memberId ?? null, agent_id: p?.agentId ?? null },
      ...(decision.effect === 'approval_required' &&
        this.deps.issuer && {
          approval: {
            backchannel_authentication_endpoint: `${this.deps.issuer}/oauth2/bc-authorize`,
            grant_type: CIBA_GRANT_TYPE,
            tool: input.tool,
            action: input.action,
          },
        }),
    };
  }

  /**
   * The decision for live principals: inside every agent's registry limits, then user ∩ agent ∩
   * consent (and, for a CIBA token, ∩ what the person approved), then Cedar conditions, then any
   * anomaly restriction. Every principal's permissions come from the one permission function.
   */
  private async decideFor(resolved: Principals, request: DecisionRequest, input: CheckRequest): Promise<Decision> {
    if (resolved.agentId) {
      const limits = await this.deps.permissions.limitsOf(resolved.orgId, resolved.agentId);
      const outside = limits ? outsideRegistry(limits, request) : 'the agent is not registered in this organization';
      if (outside) return refusal(outside);
    }
    const [user, agent] = await Promise.all([
      resolved.memberId ? this.deps.permissions.of(resolved.orgId, resolved.memberId) : null,
      resolved.agentId ? this.deps.permissions.of(resolved.orgId, resolved.agentId) : null,
    ]);
    let decision = decide({ request, user, agent, consentedScopes: resolved.consentedScopes });
    if (decision.effect !== 'deny' && resolved.approvedDetails && !describedByDetails(resolved.approvedDetails, request)) {
      decision = {
        effect: 'deny',
        reasons: [`the approval this token carries does not cover ${request.tool}:${request.action}`],
        matched: decision.matched,
      };
    }
    // Conditions as policy run after RBAC, and only where RBAC did not already deny.
    const principal = resolved.agentId
      ? { type: 'Agent' as const, id: resolved.agentId }
      : resolved.memberId
        ? { type: 'Member' as const, id: resolved.memberId }
        : undefined;
    if (decision.effect !== 'deny' && principal) {
      const forbidding = await this.deps.conditions.forbiddenBy(resolved.orgId, {
        ...request,
        principal,
        attributes: input.context.attributes ?? {},
      });
      if (forbidding.length > 0)
        decision = { effect: 'deny', reasons: [`forbidden by policy ${forbidding.join(', ')}`], matched: decision.matched };
    }
    return this.restricted(decision, resolved.agentId, input.action);
  }

  /** An anomaly response narrows what the agent may do: read only, or nothing without approval. */
  private restricted(decision: Decision, agentId: string | null, action: string): Decision {
    if (decision.effect === 'deny') return decision;
    const restriction = this.deps.restrictions?.restrictionOf(agentId);
    if (restriction === 'read_only' && action !== 'read')
      return { effect: 'deny', reasons: ['the agent is restricted to read-only after an anomaly'], matched: decision.matched };
    if (restriction === 'approval_required' && decision.effect === 'allow')
      return {
        effect: 'approval_required',
        reasons: ['the agent needs approval for every action after an anomaly'],
        matched: decision.matched,
      };
    return decision;
  }

  /** Who the check is for; `refused` says why a principal may not act at all (not live). */
  private async principals(input: CheckRequest): Promise<(Principals & { refused?: string }) | { refused: string }> {
    if (input.token) {
      if (input.organization || input.member_id || input.agent_id)
        throw new InvalidRequestError('give either a token or organization, member_id and agent_id');
      const claims = this.deps.liveTokens.claims(input.token);
      if (!claims) return { refused: 'the token is not active' };
      const memberId = claims.sub.startsWith('mbr_') ? claims.sub : null;
      return {
        orgId: claims.org_id,
        memberId,
        agentId: claims.agent_id ?? null,
        // A token that acts for a user (delegated or approved through CIBA) is bounded by its scope,
        // what the user consented to; an agent's own token is bounded by the agent's roles.
        consentedScopes: memberId ? claims.scope.split(' ').filter(Boolean) : null,
        ...(claims.authorization_details && { approvedDetails: claims.authorization_details }),
        jti: claims.jti,
        ...(claims.auth_event_id && { grantId: claims.auth_event_id }),
        scope: claims.scope,
        clientId: claims.client_id,
        ...(claims.act && { act: claims.act }),
      };
    }
    if (!input.organization || (!input.member_id && !input.agent_id)) {
      throw new InvalidRequestError('give a token, or an organization with a member_id and/or an agent_id');
    }
    const org = await this.deps.organizations.resolve(input.organization);
    const principals = { orgId: org.id, memberId: input.member_id ?? null, agentId: input.agent_id ?? null, consentedScopes: null };
    // Named principals must be live right now, as a token's chain would be. No credential is
    // involved, so none can predate a stop: only a principal stopped now fails (authz/liveness.ts).
    const named = this.deps.liveness.check({
      memberId: principals.memberId,
      agentIds: [principals.agentId],
      issuedAt: Number.POSITIVE_INFINITY,
    });
    return named.live ? principals : { ...principals, refused: named.reason };
  }
}

function refusal(reason: string): Decision {
  return { effect: 'deny', reasons: [reason], matched: {} };
}
