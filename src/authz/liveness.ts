/**
 * The one test of whether a credential may still act, for every kind Mandate issues: user
 * tokens, exchanged tokens, CIBA tokens, client-credentials tokens, member and impersonation
 * sessions. A credential is live only while every link of its chain holds at this moment
 * (README "Security model"):
 * - the member it acts for, and any member acting through it (an impersonator), is active and was
 *   last stopped before the credential was issued;
 * - every agent in the chain is active and was last stopped before the credential was issued;
 * - the grant (consent) it derives from stands, and the credential itself was not revoked;
 * - it was issued after the latest restore fence (consent/restore-fence.ts);
 * - and this node knows all of the above to be current: a node cut off from its database or its
 *   cluster events for longer than `MANDATE_FAIL_CLOSED_AFTER` cannot have learnt of a
 *   revocation, so it holds nothing live (docs/architecture.md §11).
 * All from memory, kept current on every node by the bus; no database read.
 */

/** Who a credential acts for, and through whom: what {@link CredentialLiveness.check} judges. */
export interface CredentialChain {
  /** The member acted for (a user token's `sub`, a session's member); null for an agent's own token. */
  memberId: string | null;
  /** Members acting through the credential: an impersonator. */
  actingMemberIds?: readonly string[];
  /** Every agent in the chain: the token's `agent_id` and each `act` link (RFC 8693 §4.1). */
  agentIds: readonly (string | null | undefined)[];
  /** The grant (consent event) it derives from, if any. */
  grantId?: string | null | undefined;
  /** The credential's own id, for credentials that can be revoked one by one (RFC 7009). */
  jti?: string | undefined;
  /** When it was issued, in seconds (a JWT's `iat`). */
  issuedAt: number;
}

/** `stale`: refused only because this node is cut off, not because the credential is dead; retrying later may work. */
export type Liveness = { live: true } | { live: false; reason: string; stale?: true };

/** What liveness reads, all in memory: the kill switch with its epochs, revoked grants, revoked tokens, the restore fence. */
export interface LivenessSources {
  stops: { isStopped(id: string): boolean; admits(id: string, issuedAtSeconds: number): boolean };
  grants: { isRevoked(grantId: string): boolean };
  revokedTokens: { has(jti: string): boolean };
  fence: { admits(issuedAtSeconds: number): boolean };
  /** Whether this node is cut off (events/freshness.ts): then every credential fails closed. */
  freshness: { isStale(): boolean };
}

export class CredentialLiveness {
  constructor(private readonly sources: LivenessSources) {}

  check(chain: CredentialChain): Liveness {
    const { stops, grants, revokedTokens, fence, freshness } = this.sources;
    if (freshness.isStale()) return { live: false, reason: 'this node cannot confirm revocations are current', stale: true };
    if (!fence.admits(chain.issuedAt)) return { live: false, reason: 'the credential was issued before the database was restored' };
    if (chain.jti && revokedTokens.has(chain.jti)) return { live: false, reason: 'the token was revoked' };
    if (chain.grantId && grants.isRevoked(chain.grantId)) return { live: false, reason: 'the grant it derives from was revoked' };
    // Runs on every introspection and decision: plain loops, no arrays built per call.
    if (chain.memberId && !stops.admits(chain.memberId, chain.issuedAt)) return refused(stops, 'member', chain.memberId);
    for (const id of chain.actingMemberIds ?? []) if (!stops.admits(id, chain.issuedAt)) return refused(stops, 'acting member', id);
    for (const id of chain.agentIds) if (id && !stops.admits(id, chain.issuedAt)) return refused(stops, 'agent', id);
    return LIVE;
  }
}

const LIVE: Liveness = { live: true };

function refused(stops: LivenessSources['stops'], role: string, id: string): Liveness {
  return {
    live: false,
    reason: stops.isStopped(id) ? `the ${role} is not active` : `the credential was issued before the ${role} was last stopped`,
  };
}
