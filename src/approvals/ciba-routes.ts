import type { FastifyInstance } from 'fastify';
import type { RateLimit } from '../http/rate-limit.js';
import { auditContextOf } from '../http/request-context.js';
import type { ClientAuthenticator } from '../oauth/clients/authenticate.js';
import { UnauthorizedClient } from '../oauth/errors.js';
import { formEndpoints, noStore, requireConfidential } from '../oauth/form-endpoints.js';
import { readFormParams } from '../oauth/form-params.js';
import { refuseOtherMethods } from '../oauth/post-only.js';
import { BC_AUTHORIZE_PATH } from '../oauth/tokens/routes.js';
import type { PrincipalStops } from '../tenancy/principal-stops.js';
import type { Approvals } from './approvals.js';

export interface CibaRouteOptions {
  approvals: Approvals;
  clientAuth: ClientAuthenticator;
  stops: PrincipalStops;
  rateLimit: RateLimit;
}

/** OpenID CIBA Core §7: an agent's client asks for a token that a person must approve first. */
export async function cibaRoutes(app: FastifyInstance, { approvals, clientAuth, stops, rateLimit }: CibaRouteOptions): Promise<void> {
  await formEndpoints(app);
  app.post(
    BC_AUTHORIZE_PATH,
    { config: { oauth: true, rateLimit }, schema: { tags: ['oauth'], summary: 'Backchannel authentication (OpenID CIBA Core §7)' } },
    async (request, reply) => {
      const { params, resources } = readFormParams(request.body);
      const client = await clientAuth.authenticate(request.headers.authorization, params);
      requireConfidential(client);
      if (stops.isStopped(client.agentId)) throw new UnauthorizedClient('the agent is suspended');
      return noStore(reply).send(await approvals.request(client, params, resources, auditContextOf(request)));
    },
  );
  refuseOtherMethods(app, BC_AUTHORIZE_PATH);
}
