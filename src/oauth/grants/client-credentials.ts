import { UnauthorizedClient } from '../errors.js';
import type { Resources } from '../resources/resources.js';
import type { AccessTokens } from '../tokens/access-token.js';
import { checkResource, checkScope } from '../tokens/token-target.js';
import { CLIENT_CREDENTIALS } from './grant-types.js';
import { defineGrant, type GrantHandler } from './registry.js';

export interface ClientCredentialsDeps {
  resources: Resources;
  accessTokens: AccessTokens;
  defaultTtlSeconds: number;
}

/**
 * RFC 6749 §4.4 for agents' confidential clients: the client is the subject (RFC 9068 §2.2),
 * or its agent when it has one. No database write but the audit event, which the token pipeline
 * group-commits before the token is returned; the agent was admitted before (rate limit), and
 * its restriction narrows the scopes.
 */
export function clientCredentialsGrant(deps: ClientCredentialsDeps): GrantHandler {
  return defineGrant({
    grantType: CLIENT_CREDENTIALS,
    parameters: ['scope', 'resource'],
    admitsAgent: true,
    async handle({ client, params, resources, restrictScopes }) {
      if (client.type !== 'confidential' || !client.grantTypes.has(CLIENT_CREDENTIALS) || client.orgId === null) {
        throw new UnauthorizedClient(`this client may not use ${CLIENT_CREDENTIALS}`);
      }
      const resource = await checkResource(deps.resources, client, resources);
      const scopes = restrictScopes(checkScope(params.scope, client, resource));
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
      return {
        response: { access_token: token, token_type: 'Bearer', expires_in: ttl, scope },
        issued: {
          event: {
            kind: 'token.issued',
            orgId: client.orgId,
            actorId: client.id,
            agentId: client.agentId,
            jti: claims.jti,
            scope,
            detail: { grant_type: CLIENT_CREDENTIALS, aud: resource.identifier, exp: claims.exp },
          },
        },
      };
    },
  });
}
