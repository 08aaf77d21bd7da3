import { type Clock, isoAt } from '../clock.js';
import type { Envelope } from '../crypto/envelope.js';
import { MandateError } from '../errors.js';
import type { ConnectedAccountsTable } from '../store/schema.js';
import type { Executor } from '../store/transaction.js';
import type { ResolvedConnection } from './connections.js';
import type { ProviderTokens } from './providers/types.js';

/** Whose account, in which organization: resolved from the caller by vault/principal.ts. */
export interface AccountOwner {
  orgId: string;
  /** The member the account belongs to. */
  identifier: string;
  /** For the trail: the agent acting, the grant it acts under, the token's jti. */
  agentId?: string | null;
  grantId?: string | null;
  jti?: string | null;
}

export interface AccountView {
  id: string;
  connection: string;
  provider: string;
  identifier: string;
  status: ConnectedAccountsTable['status'];
  scopes: string[];
  expires_at: string | null;
  last_refreshed_at: string | null;
}

export interface LiveAccount extends AccountView {
  access_token: string;
}

/** The envelope context of an account's token: a ciphertext opens only for its own account and kind. */
export const tokenContext = (accountId: string, kind: 'access' | 'refresh'): string => `connected_accounts:${accountId}:${kind}`;

/** The columns that hold an account's tokens, sealed. Rotating providers send a new refresh token that replaces the old; others keep it. */
export function sealTokens(envelope: Envelope, clock: Clock, accountId: string, tokens: ProviderTokens, previousRefresh: string | null) {
  return {
    access_token_ciphertext: envelope.seal(tokens.accessToken, tokenContext(accountId, 'access')),
    refresh_token_ciphertext: tokens.refreshToken
      ? envelope.seal(tokens.refreshToken, tokenContext(accountId, 'refresh'))
      : previousRefresh,
    expires_at: tokens.expiresIn ? new Date(clock.now() + tokens.expiresIn * 1000).toISOString() : null,
    last_refreshed_at: isoAt(clock),
  };
}

export async function findAccount(trx: Executor, connectionId: string, identifier: string): Promise<ConnectedAccountsTable | undefined> {
  return trx
    .selectFrom('connected_accounts')
    .selectAll()
    .where('connection_id', '=', connectionId)
    .where('identifier', '=', identifier)
    .executeTakeFirst();
}

/** The audit fields of an event about a user's account. */
export function accountTrail(owner: AccountOwner) {
  return {
    orgId: owner.orgId,
    subjectId: owner.identifier,
    ...(owner.agentId && { agentId: owner.agentId, actorId: owner.agentId }),
    grantId: owner.grantId ?? null,
    jti: owner.jti ?? null,
  };
}

export function view(account: ConnectedAccountsTable, connection: ResolvedConnection): AccountView {
  return {
    id: account.id,
    connection: connection.row.name,
    provider: connection.provider.name,
    identifier: account.identifier,
    status: account.status,
    scopes: account.scopes.split(' ').filter(Boolean),
    expires_at: account.expires_at,
    last_refreshed_at: account.last_refreshed_at,
  };
}

/** Why an account gives no token, as the error agents handle (`reauthorization_required` → send a new link). */
export function accountUnusable(status: ConnectedAccountsTable['status']): MandateError {
  if (status === 'reauthorization_required')
    return new MandateError(
      'reauthorization_required',
      'the provider refused to refresh this account: the user must connect it again through a new authorization link',
    );
  if (status === 'pending') return new MandateError('conflict', 'the user has not finished connecting this account yet');
  if (status === 'expired')
    return new MandateError(
      'reauthorization_required',
      'the access token expired and the provider issued no refresh token: the user must connect the account again',
    );
  return new MandateError('conflict', `the connected account is ${status}`);
}
