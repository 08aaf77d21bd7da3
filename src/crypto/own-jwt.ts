import { verify } from 'node:crypto';
import type { KeyRing } from './key-ring.js';

/**
 * Verifies a compact JWS this server signed: the `kid` must name a published key, the `alg`
 * must be that key's (never the header's choice: RFC 8725 §3.1), `typ` must match (RFC 8725
 * §3.11: explicit typing keeps an access token from passing as a session token), `iss` must
 * be ours and `exp` in the future. Returns the payload, or undefined; never throws.
 */
export function verifyOwnJwt<T extends { iss: string; exp: number }>(
  keyRing: KeyRing,
  token: string,
  expected: { typ: string; issuer: string; nowSeconds: number },
): T | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || token.length > 8192) return undefined;
  const [encodedHeader, encodedPayload, signature] = parts as [string, string, string];
  let header: { alg?: unknown; kid?: unknown; typ?: unknown };
  let payload: T;
  try {
    header = JSON.parse(Buffer.from(encodedHeader, 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(encodedPayload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (header.typ !== expected.typ || typeof header.kid !== 'string') return undefined;
  const key = keyRing.verificationKey(header.kid);
  if (!key || header.alg !== key.alg) return undefined;
  const input = Buffer.from(`${encodedHeader}.${encodedPayload}`);
  const sig = Buffer.from(signature, 'base64url');
  const valid =
    key.alg === 'ES256' ? verify('sha256', input, { key: key.key, dsaEncoding: 'ieee-p1363' }, sig) : verify(null, input, key.key, sig);
  if (!valid || payload === null || typeof payload !== 'object') return undefined;
  if (payload.iss !== expected.issuer || typeof payload.exp !== 'number' || payload.exp <= expected.nowSeconds) return undefined;
  return payload;
}
