import { decodeJwt } from 'jose';
import type { AuditContext } from '../../audit/audit-log.js';
import { type Clock, isoAt } from '../../clock.js';
import type { Grants } from '../../consent/grants.js';
import type { GrantsTable, RefreshTokensTable } from '../../store/schema.js';
import type { Store } from '../../store/store.js';
import { type Executor, inTransaction } from '../../store/transaction.js';
import { InvalidGrant, InvalidRequest, InvalidScope, InvalidTarget, UnauthorizedClient } from '../errors.js';
import { parseScope, scopesOutside } from '../scopes.js';
import { type DelegatedTokenDeps, mintDelegatedTokens } from './delegated-tokens.js';
import { REFRESH_TOKEN } from './grant-types.js';
import { defineGrant, type GrantHandler, type GrantResult, type TokenResponse } from './registry.js';

export interface RefreshTokenDeps extends DelegatedTokenDeps {
  store: Store;
  grants: Grants;
  clock: Clock;
}

/**
 * Within the reuse window the previous token gets the very successor pair its first use got, so
 * concurrent refreshes of one token (two processes of one client) and a retry after a lost
 * response end with one live pair, like the reuse interval of the major identity providers.
 * RFC 9700 §4.14.2 allows it: the successor was not used, so nothing shows the token leaked.
 */
async function reuseWithinWindow(
  deps: RefreshTokenDeps,
  trx: Executor,
  input: { row: RefreshTokensTable; grant: GrantsTable; successor: Record<string, unknown>; audit: AuditContext },
): Promise<TokenResponse> {
  const { row, grant, successor } = input;
  const response = successor as unknown as TokenResponse;
  const claims = decodeJwt(response.access_token);
  await deps.audit.append(
    trx,
    {
      kind: 'token.refreshed',
      orgId: grant.org_id,
      actorId: row.client_id,
      agentId: grant.agent_id,
      subjectId: grant.member_id,
      grantId: grant.id,
      jti: claims.jti,
      scope: response.scope,
      detail: { grant_type: REFRESH_TOKEN, aud: grant.resource, exp: claims.exp, reuse_within_grace_window: true },
    },
    input.audit,
  );
  // The same access token: its remaining lifetime, not the one it started with.
  const expiresIn = Math.max(0, (claims.exp ?? 0) - Math.floor(deps.clock.now() / 1000));
  return { ...response, expires_in: expiresIn };
}

/**
 * RFC 6749 §6 with rotation for every client (OAuth 2.1 §4.3.1): each use returns a new refresh
 * token and retires the old one. RFC 9700 §4.14.2: a retired token presented again means it
 * leaked, so the whole grant is revoked — the attacker's and the user's tokens alike — unless it is
 * the immediately previous token, within the reuse window, whose successor is still unused.
 * Scope may narrow on refresh, never widen.
 */
export function refreshTokenGrant(deps: RefreshTokenDeps): GrantHandler {
  return defineGrant({
    grantType: REFRESH_TOKEN,
    parameters: ['refresh_token', 'scope', 'resource'],
    admitsAgent: false,
    async handle({ client, params, resources, audit }): Promise<GrantResult> {
      if (!client.grantTypes.has(REFRESH_TOKEN)) throw new UnauthorizedClient(`this client may not use ${REFRESH_TOKEN}`);
      if (!params.refresh_token) throw new InvalidRequest('refresh_token is required');
      const presented = params.refresh_token;
      const requested = parseScope(params.scope);
      if (!requested) throw new InvalidScope('scope is malformed');

      const outcome = await inTransaction(deps.store, async (trx) => {
        const row = await deps.refreshTokens.findForRotation(trx, presented);
        if (!row || row.client_id !== client.id) return { error: new InvalidGrant('the refresh token is invalid') };
        const grant = await deps.grants.find(row.grant_id, trx);
        if (!grant) return { error: new InvalidGrant('the refresh token is invalid') };
        const now = isoAt(deps.clock);
        if (row.rotated_at) {
          if (grant.revoked_at || deps.grants.isRevoked(grant.id)) return { error: new InvalidGrant('the grant was revoked') };
          if (grant.expires_at <= now) return { error: new InvalidGrant('the refresh token has expired') };
          const successor = deps.refreshTokens.reusableSuccessor(row);
          if (successor) return { response: await reuseWithinWindow(deps, trx, { row, grant, successor, audit }), reused: true };
          await deps.grants.revokeWithin(trx, grant, 'refresh token reused', audit);
          return { error: new InvalidGrant('the refresh token was already used; the grant is revoked', 'refresh reuse') };
        }
        if (row.expires_at <= now || grant.expires_at <= now) return { error: new InvalidGrant('the refresh token has expired') };
        if (grant.revoked_at || deps.grants.isRevoked(grant.id)) return { error: new InvalidGrant('the grant was revoked') };
        // RFC 8707 §2.2: a resource on refresh must be one the grant covers.
        if (resources.some((r) => r !== grant.resource)) return { error: new InvalidTarget('resource is not covered by this grant') };
        const granted = row.scope.split(' ');
        const outside = scopesOutside(requested, granted);
        if (outside.length > 0) return { error: new InvalidScope(`scope exceeds the grant: ${outside.join(' ')}`) };
        if (!(await deps.refreshTokens.markRotated(trx, row.token_hash)))
          return { error: new InvalidGrant('the refresh token was already used') };
        const scope = requested.length > 0 ? requested.join(' ') : row.scope;
        const response = await mintDelegatedTokens(deps, trx, {
          grant,
          client,
          scope,
          grantType: REFRESH_TOKEN,
          kind: 'token.refreshed',
          audit,
        });
        if (response.refresh_token)
          await deps.refreshTokens.keepSuccessor(trx, row.token_hash, { refreshToken: response.refresh_token, response });
        return { response };
      });
      if (outcome.error) throw outcome.error;
      // Audited in the transaction that rotated the token; a reuse within the window mints nothing new.
      return { response: outcome.response as TokenResponse, issued: outcome.reused ? null : { event: null } };
    },
  });
}
