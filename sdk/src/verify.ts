import { createRemoteJWKSet, errors, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { type MandateTokenClaims, parseMandateClaims, REQUIRED_CLAIMS } from './claims.js';
import { InvalidTokenError } from './errors.js';
import { requireScopes } from './scopes.js';

/** Options of {@link verifyAccessToken}. */
export interface VerifyAccessTokenOptions {
  /** The Mandate issuer, exactly as it appears in the `iss` claim, e.g. `https://auth.example.com`. */
  issuer: string;
  /** This resource server's identifier; the token's `aud` must contain it. */
  audience: string;
  /** Scopes the request needs; a token lacking any gets {@link InsufficientScopeError}. */
  scopes?: string[];
  /** Where signing keys come from. Default: the issuer's JWKS at `${issuer}/oauth2/jwks`, cached per issuer. */
  jwks?: JWTVerifyGetKey;
  /** Allowed clock skew for `exp`, `nbf` and `iat`, in seconds. Default 5. */
  clockToleranceSeconds?: number;
  /** Accepted JWS algorithms. Default `['ES256', 'EdDSA']`. `none` and HMAC algorithms are refused. */
  algorithms?: string[];
}

/** RFC 9068 §4: resource servers accept only JWTs typed as access tokens. */
const ACCESS_TOKEN_TYP = 'at+jwt';
const DEFAULT_ALGORITHMS: readonly string[] = ['ES256', 'EdDSA'];
const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;
/** Far above any Mandate token; refuses oversized input before any parsing. */
const MAX_TOKEN_LENGTH = 16_384;
/** The path of Mandate's JWKS under the issuer. */
const JWKS_PATH = '/oauth2/jwks';

/** Remote key sets by JWKS URL, so every verification of one issuer shares one fetch and cache. */
const remoteKeySets = new Map<string, JWTVerifyGetKey>();

function remoteKeySet(issuer: string): JWTVerifyGetKey {
  const url = `${issuer.replace(/\/+$/, '')}${JWKS_PATH}`;
  let keySet = remoteKeySets.get(url);
  if (!keySet) {
    keySet = createRemoteJWKSet(new URL(url));
    remoteKeySets.set(url, keySet);
  }
  return keySet;
}

/**
 * Rejects options that would weaken verification. Misconfiguration is a programming error, not a
 * token error, so it throws TypeError.
 *
 * @param options - The options to check.
 * @returns The effective algorithms and clock tolerance.
 * @throws TypeError when `issuer` or `audience` is empty, `algorithms` is empty or includes `none`
 *   or an HMAC algorithm, or `clockToleranceSeconds` is negative.
 */
export function checkVerifyOptions(options: VerifyAccessTokenOptions): { algorithms: string[]; clockTolerance: number } {
  if (typeof options.issuer !== 'string' || options.issuer.length === 0) throw new TypeError('issuer is required');
  if (typeof options.audience !== 'string' || options.audience.length === 0) throw new TypeError('audience is required');
  const algorithms = [...(options.algorithms ?? DEFAULT_ALGORITHMS)];
  if (algorithms.length === 0) throw new TypeError('algorithms must not be empty');
  // RFC 8725 §3.1/§3.2: never unsecured JWTs, and never symmetric algorithms with public keys.
  const unsafe = algorithms.find((alg) => alg.toLowerCase() === 'none' || /^HS/i.test(alg));
  if (unsafe !== undefined) throw new TypeError(`algorithm ${unsafe} is not allowed for access tokens`);
  const clockTolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  if (!Number.isFinite(clockTolerance) || clockTolerance < 0) throw new TypeError('clockToleranceSeconds must be a non-negative number');
  return { algorithms, clockTolerance };
}

/** A short, safe description of why jose refused the token; nothing from the token is echoed. */
function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the access token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'typ') return 'the token is not an access token (typ must be at+jwt)';
    if (error.claim === 'nbf') return 'the access token is not yet valid';
    if (error.claim === 'iss') return 'the access token was issued by an unexpected issuer';
    if (error.claim === 'aud') return 'the access token is not intended for this resource';
    if (error.reason === 'missing' && (REQUIRED_CLAIMS as readonly string[]).includes(error.claim)) {
      return `the access token lacks the required "${error.claim}" claim`;
    }
    return 'the access token has invalid claims';
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the access token is signed with an algorithm that is not allowed';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the access token signature is invalid';
  if (error instanceof errors.JWKSNoMatchingKey) return 'the access token is signed with an unknown key';
  if (error instanceof errors.JWKSMultipleMatchingKeys) return 'the access token does not identify its signing key';
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid || error instanceof errors.JOSENotSupported) {
    return 'the access token is malformed';
  }
  return 'the access token could not be verified';
}

/**
 * Verifies a Mandate JWT access token locally (RFC 9068): signature against the issuer's keys,
 * algorithm allow-list, `typ: at+jwt`, exact issuer, audience, expiry and not-before with a small
 * clock skew, and the required claims. Revocation is not visible locally; use
 * {@link introspectToken} where a revoked token must be refused at once.
 *
 * @param token - The bearer token, as extracted from the Authorization header.
 * @param options - The issuer and audience to expect, the scopes to require, and verification tuning.
 * @returns The token's claims.
 * @throws {@link InsufficientScopeError} when the token is valid but lacks a required scope.
 * @throws {@link InvalidTokenError} for every other failure, with a short safe description.
 * @throws TypeError when the options themselves are invalid (e.g. `algorithms` includes `none` or `HS256`).
 */
export async function verifyAccessToken(token: string, options: VerifyAccessTokenOptions): Promise<MandateTokenClaims> {
  const { algorithms, clockTolerance } = checkVerifyOptions(options);
  if (typeof token !== 'string' || token.length === 0) throw new InvalidTokenError('the access token is empty');
  if (token.length > MAX_TOKEN_LENGTH) throw new InvalidTokenError('the access token is too large');
  let payload: Record<string, unknown>;
  try {
    const result = await jwtVerify(token, options.jwks ?? remoteKeySet(options.issuer), {
      algorithms,
      typ: ACCESS_TOKEN_TYP,
      issuer: options.issuer,
      audience: options.audience,
      clockTolerance,
      requiredClaims: [...REQUIRED_CLAIMS],
    });
    payload = result.payload;
  } catch (error) {
    throw new InvalidTokenError(describe(error), { cause: error });
  }
  const claims = parseMandateClaims(payload);
  requireScopes(claims.scope, options.scopes);
  return claims;
}
