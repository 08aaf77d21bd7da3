import type { Clock } from '../../clock.js';
import type { KeyRing } from '../../crypto/key-ring.js';
import { verifyOwnJwt } from '../../crypto/own-jwt.js';
import { randomBytesFromPool } from '../../crypto/random-pool.js';
import { signCompactJws } from '../../crypto/signing-key.js';
import { VerifiedClaimsCache } from './verified-claims.js';

/** When a credential for these principals may say it was issued (tenancy/principal-stops.ts). */
export interface IssuanceEpochs {
  issuedAtFor(ids: readonly (string | null | undefined)[], nowMs: number): number;
}

/** The `kid` of a compact JWS whose header has already been verified. */
function kidOf(token: string): string {
  return (JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString('utf8')) as { kid: string }).kid;
}

function chainIds(act: AccessTokenClaims['act']): string[] {
  return act ? [act.sub, ...chainIds(act.act)] : [];
}

/** RFC 9068 §2.2 claims plus Mandate's tenancy and delegation claims (docs/architecture.md §5). */
export interface AccessTokenClaims {
  iss: string;
  /** The user acted for; for client_credentials the agent or client itself (RFC 9068 §2.2). */
  sub: string;
  aud: string;
  client_id: string;
  scope: string;
  org_id: string;
  agent_id?: string;
  /** The grant (consent event) the token derives from; absent for client_credentials. */
  auth_event_id?: string;
  act?: { sub: string; act?: AccessTokenClaims['act'] };
  /** RFC 8693 §4.4: the party the user allowed to act for them with this token. */
  may_act?: { sub: string };
  /** RFC 9396 §9.1: exactly what a person approved (CIBA tokens). */
  authorization_details?: Record<string, unknown>[];
  jti: string;
  iat: number;
  exp: number;
}

export type AccessTokenInput = Omit<AccessTokenClaims, 'iss' | 'jti' | 'iat' | 'exp'>;

export interface AccessTokensDeps {
  keyRing: KeyRing;
  issuer: string;
  clock: Clock;
  epochs?: IssuanceEpochs;
}

/** Mints RFC 9068 JWT access tokens (`typ: at+jwt`) with node:crypto, and verifies its own. */
export class AccessTokens {
  private readonly verified = new VerifiedClaimsCache<{ exp: number; kid: string; claims: AccessTokenClaims }>();
  constructor(private readonly deps: AccessTokensDeps) {}

  mint(input: AccessTokenInput, ttlSeconds: number): { token: string; claims: AccessTokenClaims } {
    const now = this.deps.clock.now();
    const iat = this.deps.epochs?.issuedAtFor([input.sub, input.agent_id, ...chainIds(input.act)], now) ?? Math.floor(now / 1000);
    // 128 random bits: unique per token, and unguessable so a jti never names someone else's token.
    const claims: AccessTokenClaims = {
      iss: this.deps.issuer,
      ...input,
      jti: randomBytesFromPool(16).toString('base64url'),
      iat,
      exp: iat + ttlSeconds,
    };
    return {
      token: signCompactJws(this.deps.keyRing.activeKey(), { typ: 'at+jwt' }, claims as unknown as Record<string, unknown>),
      claims,
    };
  }

  /**
   * The claims of a token this server signed, if its signature, `typ`, `iss` and `exp` hold.
   * Revocation and client state are the caller's to check. Never throws on bad input.
   */
  verify(token: string): AccessTokenClaims | undefined {
    const nowSeconds = Math.floor(this.deps.clock.now() / 1000);
    // Resource servers introspect the same token many times; an ES256 verification costs more
    // than the rest of the request, so a verified token's claims are kept until it expires.
    // A cached entry also needs its signing key still published: a key taken out of the ring takes
    // its tokens with it, cached or not.
    const cached = this.verified.get(token, nowSeconds);
    if (cached && this.deps.keyRing.verificationKey(cached.kid)) return cached.claims;
    const claims = verifyOwnJwt<AccessTokenClaims>(this.deps.keyRing, token, { typ: 'at+jwt', issuer: this.deps.issuer, nowSeconds });
    if (claims) this.verified.set(token, { exp: claims.exp, kid: kidOf(token), claims });
    return claims;
  }
}
