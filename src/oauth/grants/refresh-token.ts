import { type Clock, isoAt } from '../../clock.js';
import type { Store } from '../../store/store.js';
import { inTransaction } from '../../store/transaction.js';
import type { Grants } from '../consent/grants.js';
import { InvalidGrant, InvalidRequest, InvalidScope, InvalidTarget, UnauthorizedClient } from '../errors.js';
import { parseScope, scopesOutside } from '../scopes.js';
import { type DelegatedTokenDeps, mintDelegatedTokens } from './delegated-tokens.js';
import type { GrantHandler, TokenRequest, TokenResponse } from './registry.js';

export interface RefreshTokenDeps extends DelegatedTokenDeps {
  store: Store;
  grants: Grants;
  clock: Clock;
}

/**
 * RFC 6749 §6 with rotation for every client (OAuth 2.1 §4.3.1): each use returns a new refresh
 * token and retires the old one. RFC 9700 §4.14.2: a retired token presented again means it
 * leaked, so the whole grant is revoked — the attacker's and the user's tokens alike.
 * Scope may narrow on refresh, never widen.
 */
export function refreshTokenGrant(deps: RefreshTokenDeps): GrantHandler {
  return {
    grantType: 'refresh_token',
    parameters: ['refresh_token', 'scope'],
    async handle({ client, params, resources, audit }: TokenRequest): Promise<TokenResponse> {
      if (!client.grantTypes.has('refresh_token')) throw new UnauthorizedClient('this client may not use refresh_token');
      if (!params.refresh_token) throw new InvalidRequest('refresh_token is required');
      const presented = params.refresh_token;
      const requested = parseScope(params.scope);
      if (!requested) throw new InvalidScope('scope is malformed');

      const outcome = await inTransaction(deps.store, async (trx) => {
        const row = await deps.refreshTokens.findForRotation(trx, presented);
        if (!row || row.client_id !== client.id) return { error: new InvalidGrant('the refresh token is invalid') };
        const grant = await deps.grants.find(row.grant_id, trx);
        if (!grant) return { error: new InvalidGrant('the refresh token is invalid') };
        if (row.rotated_at) {
          await deps.grants.revokeWithin(trx, grant, 'refresh token reused', audit);
          return {
            error: new InvalidGrant('the refresh token was already used; the grant is revoked', 'refresh reuse'),
            revoked: grant.id,
          };
        }
        const now = isoAt(deps.clock);
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
        return {
          response: await mintDelegatedTokens(deps, trx, {
            grant,
            client,
            scope,
            grantType: 'refresh_token',
            kind: 'token.refreshed',
            audit,
          }),
        };
      });
      if (outcome.revoked) await deps.grants.announce(outcome.revoked);
      if (outcome.error) throw outcome.error;
      return outcome.response as TokenResponse;
    },
  };
}
