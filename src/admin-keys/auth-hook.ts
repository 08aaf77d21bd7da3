import type { FastifyRequest } from 'fastify';
import { bearerChallenge, MandateError } from '../errors.js';
import type { AdminKeys, AdminKeyView } from './admin-keys.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The admin key that authenticated this /v1 request. */
    adminKey?: AdminKeyView;
  }
}

/**
 * Authenticates the management API with admin API keys (`Authorization: Bearer mnd_ak_…`).
 * Missing credentials and bad ones both answer 401 with a `WWW-Authenticate` challenge.
 */
export function adminAuthHook(adminKeys: AdminKeys) {
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization;
    if (!header) {
      // RFC 6750 §3: a request without credentials gets the challenge without an error code.
      throw new MandateError('unauthorized', 'an admin API key is required: Authorization: Bearer mnd_ak_…', {
        challenge: bearerChallenge(),
      });
    }
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
    const key = match?.[1] ? await adminKeys.authenticate(match[1]) : undefined;
    if (!key) {
      throw new MandateError('unauthorized', 'the admin API key is invalid or revoked', {
        challenge: bearerChallenge({ error: 'invalid_token', error_description: 'the admin API key is invalid or revoked' }),
      });
    }
    request.adminKey = key;
  };
}
