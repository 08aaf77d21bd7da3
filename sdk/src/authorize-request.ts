import type { JWTVerifyGetKey } from 'jose';
import { extractBearer } from './bearer.js';
import type { MandateTokenClaims } from './claims.js';
import { type IntrospectTokenOptions, introspectToken } from './introspect.js';
import { checkVerifyOptions, type VerifyAccessTokenOptions, verifyAccessToken } from './verify.js';

/**
 * How to reach Mandate's RFC 7662 introspection endpoint: as the resource's own credential
 * (`rsc_…` / `mnd_rs_…`, which reads the resource's tokens of every organization, for multi-tenant
 * servers) or as a confidential client (which reads its own organization's tokens only).
 */
export interface MandateIntrospectionOptions {
  /** E.g. `https://auth.example.com/oauth2/introspect`. Default: `${issuer}/oauth2/introspect`. */
  introspectionEndpoint?: string;
  /** The resource credential id (`rsc_…`), or this resource server's confidential client id. */
  clientId: string;
  /** The resource credential secret (`mnd_rs_…`), or the client secret. */
  clientSecret: string;
  /** The fetch implementation. Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Give up on the introspection endpoint after this many milliseconds. Default 5000. */
  timeoutMs?: number;
}

/** What a protected route accepts: shared by {@link authorizeRequest} and every middleware. */
export interface MandateAuthOptions {
  /** The Mandate issuer, exactly as in the `iss` claim, e.g. `https://auth.example.com`. */
  issuer: string;
  /**
   * This protected resource's identifier (RFC 9728), e.g. `https://mcp.example.com/mcp`. It is the
   * expected audience unless `audience` says otherwise, and locates the `resource_metadata` URL.
   */
  resource: string;
  /** The audience tokens must carry. Default: `resource`. */
  audience?: string;
  /** Scopes the route needs; a token lacking any gets 403 `insufficient_scope`. */
  scopes?: string[];
  /** Signing keys for local verification. Default: the issuer's JWKS at `${issuer}/oauth2/jwks`, cached. */
  jwks?: JWTVerifyGetKey;
  /** Allowed clock skew in seconds. Default 5. */
  clockToleranceSeconds?: number;
  /** Accepted JWS algorithms. Default `['ES256', 'EdDSA']`. */
  algorithms?: string[];
  /** When set, tokens are checked by introspection instead of locally, so revocation takes effect at once. */
  introspection?: MandateIntrospectionOptions;
  /** The `resource_metadata` URL announced in challenges. Default: derived from `resource` (RFC 9728 §3.1). */
  resourceMetadataUrl?: string;
}

/** Authorizes one request from its `Authorization` header; see {@link createRequestAuthorizer}. */
export type RequestAuthorizer = (authorizationHeader: string | undefined) => Promise<MandateTokenClaims>;

/** The introspection endpoint to call: the one given, or Mandate's under the issuer. */
function introspectionEndpointOf(introspection: MandateIntrospectionOptions, issuer: string): string {
  const endpoint = introspection.introspectionEndpoint ?? `${issuer.replace(/\/+$/, '')}/oauth2/introspect`;
  try {
    new URL(endpoint);
  } catch {
    throw new TypeError('introspection.introspectionEndpoint must be an absolute URL');
  }
  if (!introspection.clientId || !introspection.clientSecret) throw new TypeError('introspection.clientId and clientSecret are required');
  return endpoint;
}

/**
 * Checks `options` once and returns the function that authorizes requests with them: it extracts
 * the bearer token, then verifies it locally or, when `options.introspection` is set, introspects
 * it, and checks the scopes. Every middleware is built on it.
 *
 * @param options - The issuer, resource, scopes and verification method.
 * @returns The authorizer; it rejects with a {@link MandateAuthError} when a request is not authorized.
 * @throws TypeError when the options are invalid.
 */
export function createRequestAuthorizer(options: MandateAuthOptions): RequestAuthorizer {
  const audience = options.audience ?? options.resource;
  const scopes = options.scopes && { scopes: [...options.scopes] };
  const clockToleranceSeconds = options.clockToleranceSeconds !== undefined && { clockToleranceSeconds: options.clockToleranceSeconds };
  if (options.introspection) {
    if (!options.issuer) throw new TypeError('issuer is required');
    if (!audience) throw new TypeError('resource is required');
    const introspectOptions: IntrospectTokenOptions = {
      ...options.introspection,
      introspectionEndpoint: introspectionEndpointOf(options.introspection, options.issuer),
      issuer: options.issuer,
      audience,
      ...scopes,
      ...clockToleranceSeconds,
    };
    return async (authorizationHeader) => introspectToken(extractBearer(authorizationHeader), introspectOptions);
  }
  const verifyOptions: VerifyAccessTokenOptions = {
    issuer: options.issuer,
    audience,
    ...scopes,
    ...clockToleranceSeconds,
    ...(options.jwks && { jwks: options.jwks }),
    ...(options.algorithms && { algorithms: [...options.algorithms] }),
  };
  checkVerifyOptions(verifyOptions);
  return async (authorizationHeader) => verifyAccessToken(extractBearer(authorizationHeader), verifyOptions);
}

/**
 * Authorizes one request from its `Authorization` header: extracts the bearer token, verifies it
 * locally or, when `options.introspection` is set, introspects it, then checks the scopes.
 *
 * @param authorizationHeader - The raw `Authorization` header, or undefined when absent.
 * @param options - The issuer, resource, scopes and verification method.
 * @returns The token's claims.
 * @throws {@link MandateAuthError} (a {@link MissingTokenError}, {@link InvalidRequestError},
 *   {@link InvalidTokenError} or {@link InsufficientScopeError}) when the request is not authorized.
 * @throws TypeError when the options are invalid.
 */
export async function authorizeRequest(authorizationHeader: string | undefined, options: MandateAuthOptions): Promise<MandateTokenClaims> {
  return createRequestAuthorizer(options)(authorizationHeader);
}
