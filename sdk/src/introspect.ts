import { audienceIncludes, type MandateTokenClaims, parseMandateClaims } from './claims.js';
import { InvalidTokenError } from './errors.js';
import { requireScopes } from './scopes.js';

/** Options of {@link introspectToken}. */
export interface IntrospectTokenOptions {
  /** Mandate's RFC 7662 endpoint, e.g. `https://auth.example.com/oauth2/introspect`. */
  introspectionEndpoint: string;
  /** The resource credential id (`rsc_…`), or this resource server's confidential client id. */
  clientId: string;
  /** The resource credential secret (`mnd_rs_…`), or the client secret. */
  clientSecret: string;
  /** This resource server's identifier; the token's `aud` must contain it. */
  audience: string;
  /** When set, the token's `iss` must equal it exactly. */
  issuer?: string;
  /** Scopes the request needs; a token lacking any gets {@link InsufficientScopeError}. */
  scopes?: string[];
  /** The fetch implementation. Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Give up on the introspection endpoint after this many milliseconds. Default 5000. */
  timeoutMs?: number;
  /** Allowed clock skew for `exp`, in seconds. Default 5. */
  clockToleranceSeconds?: number;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;
/** Introspection answers are small; anything larger is refused. */
const MAX_RESPONSE_BYTES = 65_536;

/** RFC 6749 §2.3.1 / Appendix B: the application/x-www-form-urlencoded encoding of one value. */
function formUrlEncode(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*]/g, (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

/**
 * RFC 6749 §2.3.1 client_secret_basic credentials.
 *
 * @param clientId - The client id.
 * @param clientSecret - The client secret.
 * @returns `Basic base64(urlencode(clientId) ":" urlencode(clientSecret))`.
 */
export function basicAuthorization(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${formUrlEncode(clientId)}:${formUrlEncode(clientSecret)}`, 'utf8').toString('base64')}`;
}

function unavailable(cause: unknown): InvalidTokenError {
  return new InvalidTokenError('the access token could not be introspected', { cause });
}

/** POSTs the token to the introspection endpoint and returns its JSON object answer. */
async function requestIntrospection(token: string, options: IntrospectTokenOptions): Promise<Record<string, unknown>> {
  const fetchImpl = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await fetchImpl(options.introspectionEndpoint, {
      method: 'POST',
      headers: {
        authorization: basicAuthorization(options.clientId, options.clientSecret),
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
      redirect: 'error',
      signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    });
  } catch (error) {
    throw unavailable(error);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw unavailable(new Error(`introspection endpoint answered HTTP ${response.status}`));
  }
  let body: unknown;
  try {
    const text = await response.text();
    if (text.length > MAX_RESPONSE_BYTES) throw new Error('introspection response too large');
    body = JSON.parse(text);
  } catch (error) {
    throw unavailable(error);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw unavailable(new Error('introspection response is not a JSON object'));
  return body as Record<string, unknown>;
}

/**
 * Asks Mandate whether a token is active right now (RFC 7662), so a revoked token is refused at
 * once. Use it on high-risk routes; {@link verifyAccessToken} is cheaper and works offline. The
 * resource server authenticates with HTTP Basic: its resource credential (any organization's
 * tokens for it) or a confidential client of the token's organization. Fails closed: if the endpoint cannot
 * be reached or answers oddly, the token is refused.
 *
 * @param token - The bearer token, as extracted from the Authorization header.
 * @param options - The endpoint and client credentials, the audience to expect and the scopes to require.
 * @returns The token's claims, as the introspection response states them.
 * @throws {@link InsufficientScopeError} when the token is active but lacks a required scope.
 * @throws {@link InvalidTokenError} when the token is inactive, for another resource, expired, or cannot be introspected.
 */
export async function introspectToken(token: string, options: IntrospectTokenOptions): Promise<MandateTokenClaims> {
  if (typeof options.audience !== 'string' || options.audience.length === 0) throw new TypeError('audience is required');
  if (typeof token !== 'string' || token.length === 0) throw new InvalidTokenError('the access token is empty');
  const response = await requestIntrospection(token, options);
  // RFC 7662 §2.2: anything but a literal `true` means inactive.
  if (response.active !== true) throw new InvalidTokenError('the access token is not active');
  const claims = parseMandateClaims(response);
  if (options.issuer !== undefined && claims.iss !== options.issuer) {
    throw new InvalidTokenError('the access token was issued by an unexpected issuer');
  }
  if (!audienceIncludes(claims.aud, options.audience)) throw new InvalidTokenError('the access token is not intended for this resource');
  const tolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  if (claims.exp <= Math.floor(Date.now() / 1000) - tolerance) throw new InvalidTokenError('the access token has expired');
  requireScopes(claims.scope, options.scopes);
  return claims;
}
