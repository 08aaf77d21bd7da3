import type { IRouter, NextFunction, Request, RequestHandler, Response } from 'express';
import { createRequestAuthorizer, type MandateAuthOptions } from './authorize-request.js';
import type { MandateTokenClaims } from './claims.js';
import { errorResponseOf, resourceMetadataUrlOf } from './error-response.js';
import { type ProtectedResourceMetadataOptions, protectedResourceMetadata, protectedResourceMetadataPath } from './protected-resource.js';

declare global {
  namespace Express {
    interface Request {
      /** The verified Mandate token claims, set by {@link mandateExpress} on the routes it protects. */
      mandate?: MandateTokenClaims;
    }
  }
}

/**
 * Express middleware that admits only requests bearing a valid Mandate access token with the
 * required scopes, and sets `req.mandate` to its claims. Refused requests get 401 or 403 with JSON
 * `{ error, error_description }` and a `WWW-Authenticate` challenge naming the RFC 9728
 * `resource_metadata` URL.
 *
 * @example
 * app.get('/events', mandateExpress({ issuer, resource, scopes: ['calendar.read'] }), handler);
 *
 * @param options - The issuer, resource, required scopes and verification method.
 * @returns The middleware.
 * @throws TypeError at once when the options are invalid.
 */
export function mandateExpress(options: MandateAuthOptions): RequestHandler {
  const authorize = createRequestAuthorizer(options);
  const resourceMetadataUrl = resourceMetadataUrlOf(options);
  return async function mandateMiddleware(req: Request, res: Response, next: NextFunction): Promise<void> {
    let claims: MandateTokenClaims;
    try {
      claims = await authorize(req.headers.authorization);
    } catch (error) {
      const response = errorResponseOf(error, resourceMetadataUrl);
      if (!response) return next(error);
      res.status(response.status).set(response.headers).json(response.body);
      return;
    }
    req.mandate = claims;
    next();
  };
}

/**
 * Serves the RFC 9728 protected resource metadata document at its path-inserted well-known path,
 * with permissive CORS so browser-based clients can discover the authorization server.
 *
 * @param app - The Express application or router.
 * @param options - The resource identifier, its authorization servers, and optional scopes and name.
 */
export function registerProtectedResourceMetadataExpress(app: IRouter, options: ProtectedResourceMetadataOptions): void {
  const document = protectedResourceMetadata(options);
  const [path = ''] = protectedResourceMetadataPath(options.resource).split('?');
  app.get(path, (_req: Request, res: Response) => {
    res.set({ 'cache-control': 'public, max-age=3600', 'access-control-allow-origin': '*' }).json(document);
  });
}
