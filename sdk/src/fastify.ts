import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { createRequestAuthorizer, type MandateAuthOptions } from './authorize-request.js';
import type { MandateTokenClaims } from './claims.js';
import { errorResponseOf, resourceMetadataUrlOf } from './error-response.js';
import { type ProtectedResourceMetadataOptions, protectedResourceMetadata, protectedResourceMetadataPath } from './protected-resource.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified Mandate token claims, set by {@link mandateFastify} on the routes it protects. */
    mandate?: MandateTokenClaims;
  }
}

/**
 * A Fastify `preHandler` hook that admits only requests bearing a valid Mandate access token with
 * the required scopes, and sets `request.mandate` to its claims. Refused requests get 401 or 403
 * with JSON `{ error, error_description }` and a `WWW-Authenticate` challenge naming the RFC 9728
 * `resource_metadata` URL.
 *
 * @example
 * app.get('/events', { preHandler: mandateFastify({ issuer, resource, scopes: ['calendar.read'] }) }, handler);
 *
 * @param options - The issuer, resource, required scopes and verification method.
 * @returns The hook.
 * @throws TypeError at once when the options are invalid.
 */
export function mandateFastify(options: MandateAuthOptions): preHandlerAsyncHookHandler {
  const authorize = createRequestAuthorizer(options);
  const resourceMetadataUrl = resourceMetadataUrlOf(options);
  return async function mandatePreHandler(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    let claims: MandateTokenClaims;
    try {
      claims = await authorize(request.headers.authorization);
    } catch (error) {
      const response = errorResponseOf(error, resourceMetadataUrl);
      if (!response) throw error;
      return reply.code(response.status).headers(response.headers).send(response.body);
    }
    request.mandate = claims;
    return undefined;
  };
}

/**
 * Serves the RFC 9728 protected resource metadata document at its path-inserted well-known path
 * (e.g. `/.well-known/oauth-protected-resource/mcp` for `https://mcp.example.com/mcp`), with
 * permissive CORS so browser-based clients can discover the authorization server.
 *
 * @param app - The Fastify instance, before it is ready.
 * @param options - The resource identifier, its authorization servers, and optional scopes and name.
 */
export function registerProtectedResourceMetadata(app: FastifyInstance, options: ProtectedResourceMetadataOptions): void {
  const document = protectedResourceMetadata(options);
  const [path = ''] = protectedResourceMetadataPath(options.resource).split('?');
  app.get(path, async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=3600').header('access-control-allow-origin', '*').send(document),
  );
}
