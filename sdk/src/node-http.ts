import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequestAuthorizer, type MandateAuthOptions } from './authorize-request.js';
import type { MandateTokenClaims } from './claims.js';
import { errorResponseOf, resourceMetadataUrlOf } from './error-response.js';

/** Authorizes a node:http request; on refusal it has already written the response. */
export type NodeHttpAuthorizer = (req: IncomingMessage, res: ServerResponse) => Promise<MandateTokenClaims | undefined>;

/**
 * Authorization for plain `node:http` servers. The returned function resolves to the token's
 * claims, or, when the request is refused, writes the 401/403 response (JSON
 * `{ error, error_description }` and a `WWW-Authenticate` challenge) and resolves to undefined.
 *
 * @example
 * const authorize = mandateNodeHttp({ issuer, resource, scopes: ['calendar.read'] });
 * http.createServer(async (req, res) => {
 *   const claims = await authorize(req, res);
 *   if (!claims) return;
 *   res.end(`hello ${claims.sub}`);
 * });
 *
 * @param options - The issuer, resource, required scopes and verification method.
 * @returns The authorizer. It rethrows errors that are not authorization failures.
 * @throws TypeError at once when the options are invalid.
 */
export function mandateNodeHttp(options: MandateAuthOptions): NodeHttpAuthorizer {
  const authorize = createRequestAuthorizer(options);
  const resourceMetadataUrl = resourceMetadataUrlOf(options);
  return async function mandateNodeHttpAuthorizer(req: IncomingMessage, res: ServerResponse): Promise<MandateTokenClaims | undefined> {
    try {
      return await authorize(req.headers.authorization);
    } catch (error) {
      const response = errorResponseOf(error, resourceMetadataUrl);
      if (!response) throw error;
      res.writeHead(response.status, { ...response.headers, 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(response.body));
      return undefined;
    }
  };
}
