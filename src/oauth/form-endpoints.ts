import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { RegisteredClient } from './clients/registered-client.js';
import { InvalidClient, InvalidRequest } from './errors.js';

/**
 * RFC 6749 §3.2 / RFC 7662 §2.1 / RFC 7009 §2.1 / OpenID CIBA Core §7.1: these endpoints take
 * form-encoded bodies only. Registered in the plugin scope of each set of protocol endpoints.
 */
export async function formEndpoints(app: FastifyInstance): Promise<void> {
  await app.register(formbody, { bodyLimit: 16_384 });
  app.addHook('preValidation', (request, _reply, done) => {
    if (request.method === 'POST' && !request.headers['content-type']?.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
      return done(new InvalidRequest('the request body must be application/x-www-form-urlencoded'));
    }
    done();
  });
}

/** RFC 6749 §5.1 / RFC 7662 §2.2: token material is never cached. */
export function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}

/** Introspection and backchannel authentication are for confidential clients only (RFC 7662 §2.1, CIBA §7.1). */
export function requireConfidential(client: RegisteredClient): void {
  if (client.type !== 'confidential') throw new InvalidClient('this endpoint requires an authenticated confidential client');
}
