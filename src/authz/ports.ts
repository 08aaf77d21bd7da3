/**
 * What authz asks of the layers above it, named here so that authz imports none of them
 * (docs/architecture.md §2): oauth's LiveTokens reads tokens, anomaly's restrictions admit agents.
 * The composition root passes the implementations in.
 */

/** The claims a decision reads from a Mandate access token (RFC 9068; docs/architecture.md §5). */
export interface TokenClaims {
  sub: string;
  org_id: string;
  client_id: string;
  scope: string;
  agent_id?: string;
  auth_event_id?: string;
  act?: object;
  authorization_details?: Record<string, unknown>[];
  jti: string;
}

/** A token's claims while its whole chain is live (authz/liveness.ts); undefined otherwise. */
export interface LiveTokenReader {
  claims(token: string): TokenClaims | undefined;
}

/** An anomaly response in force on an agent (anomaly/rules.ts). */
export type AgentRestriction = 'read_only' | 'approval_required';

export interface Admission {
  allowed: boolean;
  retryAfterSeconds: number;
}

/** Anomaly responses and per-agent rate limits, as decisions and token issuance see them. */
export interface AgentRestrictionsView {
  restrictionOf(agentId: string | null | undefined): AgentRestriction | null;
  /** Counts one request of the agent against its organization's `agent_rate_limit_per_minute`. */
  admit(orgId: string, agentId: string): Promise<Admission>;
}
