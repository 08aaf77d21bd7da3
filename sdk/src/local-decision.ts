import type { MandateTokenClaims } from './claims.js';
import { type Decision, type DecisionRequest, decide, type Permission } from './decision.js';

/** The role permissions a resource server holds for the token's user and agent (for example cached from Mandate). */
export interface KnownPermissions {
  user?: readonly Permission[];
  agent?: readonly Permission[];
}

/**
 * The decision Mandate's `/v1/authz/check` makes, run in-process from a verified token's claims:
 * the user is `sub` when it is a member, the agent is `agent_id`, and a delegated token (one with
 * `auth_event_id`) is bounded by its `scope`, what the user consented to. Permissions the caller
 * does not know count as none, so a missing role set fails closed.
 */
export function decideFromClaims(claims: MandateTokenClaims, request: DecisionRequest, permissions: KnownPermissions): Decision {
  return decide({
    request,
    user: claims.sub.startsWith('mbr_') ? (permissions.user ?? []) : null,
    agent: claims.agent_id ? (permissions.agent ?? []) : null,
    consentedScopes: claims.auth_event_id ? claims.scope.split(' ').filter(Boolean) : null,
  });
}
