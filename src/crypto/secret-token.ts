import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefixes that let secret scanners recognise Mandate's tokens (docs/architecture.md §3.3). */
export type SecretPrefix =
  | 'mnd_ak_'
  | 'mnd_rt_'
  | 'mnd_st_'
  | 'mnd_imp_'
  | 'mnd_cs_'
  | 'mnd_ac_'
  | 'mnd_csrf_'
  | 'mnd_rat_'
  | 'mnd_vl_'
  | 'mnd_vs_'
  | 'mnd_ar_'
  | 'mnd_scim_'
  | 'mnd_rs_';

/** A new opaque secret: prefix + 256 random bits, base64url. */
export function newSecret(prefix: SecretPrefix): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

/**
 * SHA-256 of a secret, hex. Mandate's secrets carry >= 128 bits of entropy, so a fast hash is
 * enough and a slow one would only cap throughput (docs/architecture.md §7); only this digest is stored.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented secret against a stored digest. */
export function secretMatches(secret: string, storedDigest: string): boolean {
  if (!/^[0-9a-f]{64}$/.test(storedDigest)) return false;
  const presented = Buffer.from(hashSecret(secret), 'hex');
  const stored = Buffer.from(storedDigest, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
