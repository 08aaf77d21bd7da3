import { UnauthorizedClient } from '../oauth/errors.js';
import { CIBA_GRANT_TYPE } from '../oauth/grants/grant-types.js';
import { defineGrant, type GrantHandler } from '../oauth/grants/registry.js';
import type { AccessTokens } from '../oauth/tokens/access-token.js';
import type { Approvals } from './approvals.js';

/** Single-purpose tokens live briefly: long enough to do the one approved thing. */
const CIBA_TOKEN_TTL_SECONDS = 300;

export interface CibaGrantDeps {
  approvals: Approvals;
  accessTokens: AccessTokens;
}

/**
 * OpenID CIBA Core §10-11, poll mode: the client trades its `auth_req_id` for a token once a
 * person approved. The token acts for the user, names the agent, and carries exactly the approved
 * `authorization_details` (RFC 9396 §9.1); the approval is consumed by it (a second use is refused).
 */
export function cibaGrant(deps: CibaGrantDeps): GrantHandler {
  return defineGrant({
    grantType: CIBA_GRANT_TYPE,
    parameters: ['auth_req_id'],
    admitsAgent: false,
    async handle({ client, params }) {
      if (!client.grantTypes.has(CIBA_GRANT_TYPE)) throw new UnauthorizedClient(`this client may not use ${CIBA_GRANT_TYPE}`);
      const { request, details } = await deps.approvals.redeem(client, params.auth_req_id);
      const { token, claims } = deps.accessTokens.mint(
        {
          sub: request.member_id,
          aud: request.resource,
          client_id: client.id,
          scope: request.scope,
          org_id: request.org_id,
          ...(request.agent_id && { agent_id: request.agent_id }),
          authorization_details: details,
        },
        CIBA_TOKEN_TTL_SECONDS,
      );
      return {
        response: {
          access_token: token,
          token_type: 'Bearer',
          expires_in: CIBA_TOKEN_TTL_SECONDS,
          scope: request.scope,
          authorization_details: details,
        },
        issued: {
          event: {
            kind: 'token.issued',
            orgId: request.org_id,
            actorId: request.agent_id ?? client.id,
            agentId: request.agent_id,
            subjectId: request.member_id,
            clientId: client.id,
            jti: claims.jti,
            scope: request.scope,
            detail: { grant_type: CIBA_GRANT_TYPE, approval: request.id, authorization_details: details },
          },
        },
      };
    },
  });
}
