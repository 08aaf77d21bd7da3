import { InvalidRequestError, MissingTokenError } from './errors.js';

/** RFC 6750 §2.1: `credentials = "Bearer" 1*SP b64token`. The scheme is case-insensitive. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;
const SCHEME = /^([^\s]+)(?:\s|$)/;

/**
 * Extracts the access token from an `Authorization` header (RFC 6750 §2.1).
 *
 * @param authorizationHeader - The raw header value, or undefined when the request has none.
 * @returns The token.
 * @throws {@link MissingTokenError} (401, no error attribute in the challenge) when the header is absent or empty.
 * @throws {@link InvalidRequestError} (401 `invalid_request`) when the header is not exactly one Bearer token.
 */
export function extractBearer(authorizationHeader: string | undefined): string {
  const header = authorizationHeader?.trim();
  if (!header) throw new MissingTokenError();
  const match = BEARER.exec(header);
  if (match?.[1]) return match[1];
  const scheme = SCHEME.exec(header)?.[1];
  if (scheme?.toLowerCase() !== 'bearer') throw new InvalidRequestError('the Authorization header must use the Bearer scheme');
  throw new InvalidRequestError('the Authorization header must carry exactly one bearer token');
}
