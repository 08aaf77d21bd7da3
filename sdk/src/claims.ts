import { InvalidTokenError } from './errors.js';

/** One link of an RFC 8693 §4.1 delegation chain: who acted, and on whose behalf they acted in turn. */
export interface MandateActor {
  /** The acting party. */
  sub: string;
  /** The party the actor itself acted for, when the delegation is nested. */
  act?: MandateActor;
}

/** The claims of a Mandate access token (RFC 9068 §2.2 plus Mandate's tenancy and delegation claims). */
export interface MandateTokenClaims {
  /** The authorization server that issued the token. */
  iss: string;
  /** The user acted for; for client_credentials the agent or client itself. */
  sub: string;
  /** The resource(s) the token is for. */
  aud: string | string[];
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** Issue time, seconds since the epoch. */
  iat: number;
  /** The token's unique identifier. */
  jti: string;
  /** The OAuth client the token was issued to. */
  client_id: string;
  /** Granted scopes, space-delimited (RFC 6749 §3.3); empty when none. */
  scope: string;
  /** The organization (tenant) the token belongs to. */
  org_id: string;
  /** The agent the client belongs to, if any. */
  agent_id?: string;
  /** The authorization (consent) event the token derives from; absent for client_credentials. */
  auth_event_id?: string;
  /** The delegation chain (RFC 8693 §4.1), when an actor acts on the subject's behalf. */
  act?: MandateActor;
}

/** The claims a Mandate access token must carry. */
export const REQUIRED_CLAIMS = ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'org_id'] as const;

/** Delegation chains deeper than this are refused rather than walked. */
const MAX_ACT_DEPTH = 16;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalidClaim(name: string): InvalidTokenError {
  return new InvalidTokenError(`the access token has a missing or invalid "${name}" claim`);
}

function requireString(payload: Record<string, unknown>, name: string): string {
  const value = payload[name];
  if (typeof value !== 'string' || value.length === 0) throw invalidClaim(name);
  return value;
}

function optionalString(payload: Record<string, unknown>, name: string): string | undefined {
  const value = payload[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalidClaim(name);
  return value;
}

function requireNumericDate(payload: Record<string, unknown>, name: string): number {
  const value = payload[name];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalidClaim(name);
  return value;
}

function parseAudience(value: unknown): string | string[] {
  if (typeof value === 'string' && value.length > 0) return value;
  if (Array.isArray(value) && value.length > 0 && value.every((entry) => typeof entry === 'string')) return [...(value as string[])];
  throw invalidClaim('aud');
}

function parseActor(value: unknown, depth: number): MandateActor {
  if (!isRecord(value) || depth > MAX_ACT_DEPTH) throw invalidClaim('act');
  const sub = value.sub;
  if (typeof sub !== 'string' || sub.length === 0) throw invalidClaim('act');
  return value.act === undefined ? { sub } : { sub, act: parseActor(value.act, depth + 1) };
}

/**
 * Checks the types of a token's claims and returns them as {@link MandateTokenClaims}, keeping only
 * the claims that type names. Signature, issuer, audience and time checks are the caller's.
 *
 * @param payload - The decoded JWT payload or RFC 7662 introspection response.
 * @returns The typed claims.
 * @throws {@link InvalidTokenError} when a required claim is missing or a claim has the wrong type.
 */
export function parseMandateClaims(payload: Record<string, unknown>): MandateTokenClaims {
  const claims: MandateTokenClaims = {
    iss: requireString(payload, 'iss'),
    sub: requireString(payload, 'sub'),
    aud: parseAudience(payload.aud),
    exp: requireNumericDate(payload, 'exp'),
    iat: requireNumericDate(payload, 'iat'),
    jti: requireString(payload, 'jti'),
    client_id: requireString(payload, 'client_id'),
    scope: optionalString(payload, 'scope') ?? '',
    org_id: requireString(payload, 'org_id'),
  };
  const agentId = optionalString(payload, 'agent_id');
  if (agentId !== undefined) claims.agent_id = agentId;
  const authEventId = optionalString(payload, 'auth_event_id');
  if (authEventId !== undefined) claims.auth_event_id = authEventId;
  if (payload.act !== undefined) claims.act = parseActor(payload.act, 1);
  return claims;
}

/**
 * Whether a token's `aud` claim names the given resource.
 *
 * @param aud - The token's `aud` claim (a string or an array of strings).
 * @param audience - This resource server's identifier.
 * @returns True when `aud` is, or contains, `audience`.
 */
export function audienceIncludes(aud: string | string[], audience: string): boolean {
  return typeof aud === 'string' ? aud === audience : aud.includes(audience);
}
