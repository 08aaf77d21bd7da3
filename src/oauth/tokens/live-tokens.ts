import type { KillSwitch } from '../../agents/kill-switch.js';
import { type ActorClaim, actorChain } from '../../authz/delegation.js';
import type { Grants } from '../consent/grants.js';
import type { AccessTokenClaims, AccessTokens } from './access-token.js';
import type { RevokedAccessTokens } from './revoked-tokens.js';

/**
 * The one test of whether an access token Mandate issued still stands, shared by introspection,
 * decisions and token exchange: signature, `typ`, issuer and expiry hold; the token itself was
 * not revoked (RFC 7009); the grant it derives from was not revoked; and no agent anywhere in
 * its delegation chain is stopped by the kill switch. All from memory, no database read.
 */
export class LiveTokens {
  constructor(
    private readonly accessTokens: AccessTokens,
    private readonly revoked: RevokedAccessTokens,
    private readonly grants: Grants,
    private readonly killSwitch: KillSwitch,
  ) {}

  claims(token: string): AccessTokenClaims | undefined {
    const claims = this.accessTokens.verify(token);
    if (!claims || this.revoked.has(claims.jti)) return undefined;
    if (claims.auth_event_id && this.grants.isRevoked(claims.auth_event_id)) return undefined;
    const agents = [claims.agent_id, ...actorChain(claims.act as ActorClaim | undefined)];
    if (agents.some((id) => this.killSwitch.isStopped(id))) return undefined;
    return claims;
  }
}
