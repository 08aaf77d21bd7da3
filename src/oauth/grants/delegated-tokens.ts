import type { AuditContext, AuditLog } from '../../audit/audit-log.js';
import type { AuditKind } from '../../audit/kinds.js';
import type { GrantsTable } from '../../store/schema.js';
import type { Executor } from '../../store/transaction.js';
import type { RegisteredClient } from '../clients/authenticate.js';
import type { Resources } from '../resources/resources.js';
import type { AccessTokens } from '../tokens/access-token.js';
import type { RefreshTokens } from '../tokens/refresh-tokens.js';
import { REFRESH_TOKEN } from './grant-types.js';
import type { TokenResponse } from './registry.js';

export interface DelegatedTokenDeps {
  resources: Resources;
  accessTokens: AccessTokens;
  refreshTokens: RefreshTokens;
  audit: AuditLog;
  defaultTtlSeconds: number;
}

/**
 * The one place a user-delegated token pair is minted, for every grant type that derives from a
 * grant (authorization_code, refresh_token): the access token names the user, the organization
 * and the grant (`auth_event_id`); a refresh token is issued when the client may refresh. The audit
 * event is written in the caller's transaction, with the state change that allowed the issuance
 * (docs/architecture.md §4); the token pipeline counts it.
 */
export async function mintDelegatedTokens(
  deps: DelegatedTokenDeps,
  trx: Executor,
  input: { grant: GrantsTable; client: RegisteredClient; scope: string; grantType: string; kind: AuditKind; audit: AuditContext },
): Promise<TokenResponse> {
  const { grant, client, scope } = input;
  const resource = await deps.resources.findByIdentifier(grant.resource, trx);
  const ttl = resource?.access_token_ttl_seconds ?? deps.defaultTtlSeconds;
  const { token, claims } = deps.accessTokens.mint(
    {
      sub: grant.member_id,
      aud: grant.resource,
      client_id: client.id,
      scope,
      org_id: grant.org_id,
      auth_event_id: grant.id,
      ...(grant.agent_id && { agent_id: grant.agent_id }),
    },
    ttl,
  );
  const refreshToken = client.grantTypes.has(REFRESH_TOKEN)
    ? await deps.refreshTokens.issue(trx, grant, client.id, grant.scope)
    : undefined;
  await deps.audit.append(
    trx,
    {
      kind: input.kind,
      orgId: grant.org_id,
      actorId: client.id,
      agentId: grant.agent_id,
      subjectId: grant.member_id,
      grantId: grant.id,
      jti: claims.jti,
      scope,
      detail: { grant_type: input.grantType, aud: grant.resource, exp: claims.exp, refresh_token_issued: refreshToken !== undefined },
    },
    input.audit,
  );
  return { access_token: token, token_type: 'Bearer', expires_in: ttl, scope, ...(refreshToken && { refresh_token: refreshToken }) };
}
