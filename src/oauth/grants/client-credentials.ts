import { type AgentRestrictionsView, readOnlyScopes } from '../../anomaly/restrictions.js';
import type { AuditBatcher } from '../../audit/batcher.js';
import type { Metrics } from '../../ops/metrics.js';
import { InvalidScope, OAuthError, UnauthorizedClient } from '../errors.js';
import type { Resources } from '../resources/resources.js';
import type { AccessTokens } from '../tokens/access-token.js';
import { checkResource, checkScope } from '../tokens/token-target.js';
import type { GrantHandler, TokenRequest, TokenResponse } from './registry.js';

export interface ClientCredentialsDeps {
  resources: Resources;
  accessTokens: AccessTokens;
  auditBatcher: AuditBatcher;
  metrics: Metrics;
  defaultTtlSeconds: number;
  /** Anomaly responses (read-only agents) and per-agent rate limits; none when absent. */
  restrictions?: AgentRestrictionsView;
}

/**
 * RFC 6749 §4.4 for agents' confidential clients: the client is the subject (RFC 9068 §2.2),
 * or its agent when it has one. No database write but the audit event, which is group-committed
 * and durable before the token is returned.
 */
export function clientCredentialsGrant(deps: ClientCredentialsDeps): GrantHandler {
  return {
    grantType: 'client_credentials',
    parameters: ['scope', 'resource'],
    async handle({ client, params, resources, audit }: TokenRequest): Promise<TokenResponse> {
      if (client.type !== 'confidential' || !client.grantTypes.has('client_credentials') || client.orgId === null) {
        throw new UnauthorizedClient('this client may not use client_credentials');
      }
      if (client.agentId && deps.restrictions) {
        const { allowed, retryAfterSeconds } = await deps.restrictions.admit(client.orgId, client.agentId);
        // RFC 6585 §4: 429; OAuth defines no rate-limit code for the token endpoint, so invalid_request says why.
        if (!allowed)
          throw new OAuthError('invalid_request', `too many token requests for this agent; retry in ${retryAfterSeconds} s`, 429);
      }
      const resource = await checkResource(deps.resources, client, resources);
      let scopes = checkScope(params.scope, client, resource);
      // An anomaly response down-scoped the agent: its new tokens carry read scopes only.
      if (deps.restrictions?.restrictionOf(client.agentId) === 'read_only') {
        scopes = readOnlyScopes(scopes);
        if (scopes.length === 0) throw new InvalidScope('the agent is restricted to read-only scopes');
      }
      const ttl = resource.access_token_ttl_seconds ?? deps.defaultTtlSeconds;
      const scope = scopes.join(' ');
      const { token, claims } = deps.accessTokens.mint(
        {
          sub: client.agentId ?? client.id,
          aud: resource.identifier,
          client_id: client.id,
          scope,
          org_id: client.orgId,
          ...(client.agentId && { agent_id: client.agentId }),
        },
        ttl,
      );
      await deps.auditBatcher.record(
        {
          kind: 'token.issued',
          orgId: client.orgId,
          actorId: client.id,
          agentId: client.agentId,
          jti: claims.jti,
          scope,
          detail: { grant_type: 'client_credentials', aud: resource.identifier, exp: claims.exp },
        },
        audit,
      );
      deps.metrics.tokensIssued.inc({ grant_type: 'client_credentials' });
      return { access_token: token, token_type: 'Bearer', expires_in: ttl, scope };
    },
  };
}
