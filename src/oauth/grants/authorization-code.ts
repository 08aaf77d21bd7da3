import { type Clock, isoAt } from '../../clock.js';
import type { Grants } from '../../consent/grants.js';
import { hashSecret } from '../../crypto/secret-token.js';
import type { Store } from '../../store/store.js';
import { inTransaction } from '../../store/transaction.js';
import { verifyPkce } from '../authorize/pkce.js';
import { InvalidGrant, InvalidRequest, InvalidTarget, UnauthorizedClient } from '../errors.js';
import { type DelegatedTokenDeps, mintDelegatedTokens } from './delegated-tokens.js';
import { AUTHORIZATION_CODE } from './grant-types.js';
import { defineGrant, type GrantHandler, type GrantResult, type TokenResponse } from './registry.js';

export interface AuthorizationCodeDeps extends DelegatedTokenDeps {
  store: Store;
  grants: Grants;
  clock: Clock;
}

/**
 * OAuth 2.1 §4.1.3: a code is single use and bound to its client, redirect URI and PKCE
 * verifier. Reading and consuming it happen in one transaction. A replayed code, presented with
 * the same client, redirect URI and verifier, revokes the grant it came from, and so every token
 * first issued from it (RFC 6749 §4.1.2, RFC 9700 §4.2.4); a replay that fails those checks is
 * refused and changes nothing.
 */
export function authorizationCodeGrant(deps: AuthorizationCodeDeps): GrantHandler {
  return defineGrant({
    grantType: AUTHORIZATION_CODE,
    parameters: ['code', 'redirect_uri', 'code_verifier', 'resource'],
    admitsAgent: false,
    async handle({ client, params, resources, audit }): Promise<GrantResult> {
      if (!client.grantTypes.has(AUTHORIZATION_CODE)) throw new UnauthorizedClient(`this client may not use ${AUTHORIZATION_CODE}`);
      const { code, redirect_uri: redirectUri, code_verifier: verifier } = params;
      if (!code || !redirectUri || !verifier) throw new InvalidRequest('code, redirect_uri and code_verifier are required');

      const outcome = await inTransaction(deps.store, async (trx) => {
        let query = trx.selectFrom('authorization_codes').selectAll().where('code_hash', '=', hashSecret(code));
        if (deps.store.dialect === 'postgres') query = query.forUpdate();
        const row = await query.executeTakeFirst();
        if (!row) return { error: new InvalidGrant('the authorization code is invalid') };
        const grant = await deps.grants.find(row.grant_id, trx);
        if (!grant) return { error: new InvalidGrant('the authorization code is invalid') };
        if (row.client_id !== client.id) return { error: new InvalidGrant('the authorization code was issued to another client') };
        if (row.redirect_uri !== redirectUri) return { error: new InvalidGrant('redirect_uri does not match the authorization request') };
        if (!verifyPkce(verifier, row.code_challenge)) {
          return { error: new InvalidGrant('code_verifier does not match the code_challenge') };
        }
        // Only a replay that proves possession of the code (its client, redirect URI and verifier)
        // revokes the grant: anyone else who saw the code cannot use it to take the grant down.
        if (row.consumed_at) {
          await deps.grants.revokeWithin(trx, grant, 'authorization code replayed', audit);
          return { error: new InvalidGrant('the authorization code was already used', 'code replay') };
        }
        if (row.expires_at <= isoAt(deps.clock)) return { error: new InvalidGrant('the authorization code has expired') };
        if (resources.some((r) => r !== row.resource)) {
          return { error: new InvalidTarget('resource differs from the authorization request (RFC 8707 §2.2)') };
        }
        if (grant.revoked_at || deps.grants.isRevoked(grant.id)) return { error: new InvalidGrant('the grant was revoked') };
        await trx
          .updateTable('authorization_codes')
          .set({ consumed_at: isoAt(deps.clock) })
          .where('code_hash', '=', row.code_hash)
          .execute();
        return {
          response: await mintDelegatedTokens(deps, trx, {
            grant,
            client,
            scope: row.scope,
            grantType: AUTHORIZATION_CODE,
            kind: 'token.issued',
            audit,
          }),
        };
      });
      if (outcome.error) throw outcome.error;
      // Audited in the transaction that consumed the code.
      return { response: outcome.response as TokenResponse, issued: { event: null } };
    },
  });
}
