import { type ActorClaim, actorChain } from '../../authz/delegation.js';
import type { CredentialChain, CredentialLiveness } from '../../authz/liveness.js';
import type { AccessTokenClaims, AccessTokens } from './access-token.js';

/** The chain an access token claims: its user, its agents (own and `act`), its grant, itself. */
export function chainOf(claims: AccessTokenClaims): CredentialChain {
  return {
    memberId: claims.sub.startsWith('mbr_') ? claims.sub : null,
    agentIds: [claims.agent_id, ...actorChain(claims.act as ActorClaim | undefined)],
    grantId: claims.auth_event_id,
    jti: claims.jti,
    issuedAt: claims.iat,
  };
}

export interface LiveTokensDeps {
  accessTokens: AccessTokens;
  liveness: CredentialLiveness;
}

/**
 * Whether an access token Mandate issued still stands, shared by introspection, decisions, token
 * exchange, the audit and the vault: its signature, `typ`, issuer and expiry hold, and its whole
 * chain is live (authz/liveness.ts). All from memory, no database read.
 */
export class LiveTokens {
  constructor(private readonly deps: LiveTokensDeps) {}

  claims(token: string): AccessTokenClaims | undefined {
    const claims = this.deps.accessTokens.verify(token);
    if (!claims || !this.deps.liveness.check(chainOf(claims)).live) return undefined;
    return claims;
  }
}
