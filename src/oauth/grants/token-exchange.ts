import type { KillSwitch } from '../../agents/kill-switch.js';
import type { AuditBatcher } from '../../audit/batcher.js';
import { type ActorClaim, delegatedScope, delegationDepth, MAX_DELEGATION_DEPTH } from '../../authz/delegation.js';
import type { Roles } from '../../authz/roles.js';
import type { Clock } from '../../clock.js';
import type { Metrics } from '../../ops/metrics.js';
import type { Grants } from '../consent/grants.js';
import { InvalidGrant, InvalidRequest, InvalidScope, OAuthError, UnauthorizedClient } from '../errors.js';
import type { Resources } from '../resources/resources.js';
import { parseScope } from '../scopes.js';
import type { AccessTokens } from '../tokens/access-token.js';
import type { RevokedAccessTokens } from '../tokens/revoked-tokens.js';
import { checkResource } from '../tokens/token-target.js';
import type { GrantHandler, TokenRequest, TokenResponse } from './registry.js';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

export interface TokenExchangeDeps {
  resources: Resources;
  accessTokens: AccessTokens;
  revoked: RevokedAccessTokens;
  grants: Grants;
  roles: Roles;
  killSwitch: KillSwitch;
  auditBatcher: AuditBatcher;
  metrics: Metrics;
  clock: Clock;
  defaultTtlSeconds: number;
}

/** Every agent named in an actor chain. */
function chainAgents(act: ActorClaim | undefined): string[] {
  return act ? [act.sub, ...chainAgents(act.act)] : [];
}

/**
 * RFC 8693 delegation: an agent (authenticated as its client) presents a user's access token and
 * receives a token for another resource with `sub` = the user and `act` = the agent, nesting the
 * previous actor when the subject token was itself delegated (§4.1). The scope only narrows:
 * requested ∩ subject token ∩ the user's permissions ∩ the agent's permissions. The new token
 * belongs to the same grant, so revoking the consent kills it. Refusals are audited.
 */
export function tokenExchangeGrant(deps: TokenExchangeDeps): GrantHandler {
  async function exchange({ client, params, resources }: TokenRequest): Promise<TokenResponse & { detail: Record<string, unknown> }> {
    if (!client.agentId || client.type !== 'confidential' || !client.grantTypes.has(TOKEN_EXCHANGE) || client.orgId === null) {
      throw new UnauthorizedClient('only an agent’s confidential client may exchange tokens');
    }
    if (!params.subject_token || params.subject_token_type !== ACCESS_TOKEN_TYPE) {
      throw new InvalidRequest(`subject_token and subject_token_type=${ACCESS_TOKEN_TYPE} are required`);
    }
    if (params.requested_token_type !== undefined && params.requested_token_type !== ACCESS_TOKEN_TYPE) {
      throw new InvalidRequest('only access tokens can be requested');
    }
    if (params.actor_token !== undefined) throw new InvalidRequest('the actor is the authenticated client; actor_token is not used');
    const subject = deps.accessTokens.verify(params.subject_token);
    if (!subject || deps.revoked.has(subject.jti)) throw new InvalidGrant('the subject token is not active');
    if (!subject.auth_event_id || !subject.sub.startsWith('mbr_')) throw new InvalidGrant('the subject token does not act for a user');
    if (deps.grants.isRevoked(subject.auth_event_id)) throw new InvalidGrant('the consent behind the subject token was revoked');
    if (subject.org_id !== client.orgId) throw new InvalidGrant('the subject token belongs to another organization');
    const act = subject.act as ActorClaim | undefined;
    if (delegationDepth(act) + 1 > MAX_DELEGATION_DEPTH)
      throw new InvalidGrant(`delegation chains are limited to ${MAX_DELEGATION_DEPTH} agents`);
    if (chainAgents(act).some((id) => deps.killSwitch.isStopped(id)))
      throw new InvalidGrant('an agent in the delegation chain is suspended');
    const resource = await checkResource(deps.resources, client, resources);
    const requested = parseScope(params.scope);
    if (!requested) throw new InvalidScope('scope is malformed');
    const [user, agent] = await Promise.all([
      deps.roles.permissionsOf(client.orgId, subject.sub),
      deps.roles.permissionsOf(client.orgId, client.agentId),
    ]);
    const scope = delegatedScope({ requested, subject: subject.scope.split(' ').filter(Boolean), user, agent });
    if (!scope.ok) throw new InvalidScope(scope.reason);
    const nestedAct: ActorClaim = { sub: client.agentId, ...(act && { act }) };
    const nowSeconds = Math.floor(deps.clock.now() / 1000);
    // A delegated token never outlives the token it was exchanged for.
    const ttl = Math.max(1, Math.min(resource.access_token_ttl_seconds ?? deps.defaultTtlSeconds, subject.exp - nowSeconds));
    const { token, claims } = deps.accessTokens.mint(
      {
        sub: subject.sub,
        aud: resource.identifier,
        client_id: client.id,
        scope: scope.scopes.join(' '),
        org_id: subject.org_id,
        agent_id: client.agentId,
        auth_event_id: subject.auth_event_id,
        act: nestedAct,
      },
      ttl,
    );
    deps.metrics.tokensIssued.inc({ grant_type: 'token_exchange' });
    return {
      access_token: token,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: ttl,
      scope: claims.scope,
      detail: {
        jti: claims.jti,
        subject_jti: subject.jti,
        act: nestedAct,
        aud: resource.identifier,
        grant: subject.auth_event_id,
        member: subject.sub,
      },
    };
  }

  return {
    grantType: TOKEN_EXCHANGE,
    parameters: ['subject_token', 'subject_token_type', 'requested_token_type', 'resource', 'scope'],
    async handle(request: TokenRequest): Promise<TokenResponse> {
      const { client, params, audit } = request;
      try {
        const { detail, ...response } = await exchange(request);
        await deps.auditBatcher.record(
          {
            kind: 'token.exchanged',
            orgId: client.orgId,
            actorId: client.agentId,
            agentId: client.agentId,
            subjectId: detail.member as string,
            grantId: detail.grant as string,
            jti: detail.jti as string,
            scope: response.scope,
            detail,
          },
          audit,
        );
        return response;
      } catch (error) {
        // Escalation attempts leave a trace: who tried what, and why it was refused.
        if (error instanceof OAuthError) {
          await deps.auditBatcher.record(
            {
              kind: 'token.exchange_refused',
              orgId: client.orgId,
              actorId: client.agentId ?? client.id,
              agentId: client.agentId,
              result: 'failure',
              scope: params.scope ?? null,
              detail: { error: error.error, reason: error.description },
            },
            audit,
          );
        }
        throw error;
      }
    },
  };
}
