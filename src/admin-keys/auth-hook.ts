import type { FastifyRequest } from 'fastify';
import { ApiError } from '../http/errors.js';
import type { AdminKeys, AdminKeyView } from './admin-keys.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The admin key that authenticated this /v1 request. */
    adminKey?: AdminKeyView;
  }
}

/** RFC 6750 §3: a request without credentials gets the challenge without an error code. */
const CHALLENGE = 'Bearer realm="mandate"';

/**
 * Authenticates the management API with admin API keys (`Authorization: Bearer mnd_ak_…`).
 * Missing credentials and bad ones both answer 401 with a `WWW-Authenticate` challenge.
 */
export function adminAuthHook(adminKeys: AdminKeys) {
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization;
    if (!header) {
      throw new ApiError('unauthorized', 'an admin API key is required: Authorization: Bearer mnd_ak_…', {
        headers: { 'www-authenticate': CHALLENGE },
      });
    }
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
    const key = match?.[1] ? await adminKeys.authenticate(match[1]) : undefined;
    if (!key) {
      throw new ApiError('unauthorized', 'the admin API key is invalid or revoked', {
        headers: { 'www-authenticate': `${CHALLENGE}, error="invalid_token", error_description="the admin API key is invalid or revoked"` },
      });
    }
    request.adminKey = key;
  };
}
