import { Secret, TOTP } from 'otpauth';

/** RFC 6238 §4: 30-second time steps; 6 digits and HMAC-SHA-1, which every authenticator app supports. */
const PERIOD_SECONDS = 30;
const DIGITS = 6;
const ALGORITHM = 'SHA1';
/** RFC 6238 §5.2: one step either side absorbs clock drift and the time it takes to type the code. */
const WINDOW = 1;
/** RFC 4226 §4 (R6): a shared secret of at least 128 bits, 160 recommended. */
const SECRET_BYTES = 20;

/** A fresh TOTP shared secret, base32 (RFC 4648), as authenticator apps take it. */
export function newTotpSecret(): string {
  return new Secret({ size: SECRET_BYTES }).base32;
}

/** The `otpauth://totp/…` URI an authenticator app scans (Key Uri Format). */
export function totpUri(secret: string, names: { issuer: string; account: string }): string {
  return new TOTP({
    issuer: names.issuer,
    label: names.account,
    secret: Secret.fromBase32(secret),
    algorithm: ALGORITHM,
    digits: DIGITS,
    period: PERIOD_SECONDS,
  }).toString();
}

/** The code for the time step containing `nowMs` (what an authenticator app shows then). */
export function totpCode(secret: string, nowMs: number): string {
  return TOTP.generate({
    secret: Secret.fromBase32(secret),
    algorithm: ALGORITHM,
    digits: DIGITS,
    period: PERIOD_SECONDS,
    timestamp: nowMs,
  });
}

/**
 * The time step `code` belongs to when it is valid at `nowMs` (within one step either side) and
 * newer than `lastStep`, else null. RFC 6238 §5.2: a verifier must not accept an OTP a second
 * time, so callers store the step returned and pass it back as `lastStep`; codes of that step and
 * of earlier ones are refused from then on. The comparison is constant-time (otpauth uses
 * crypto.timingSafeEqual).
 */
export function verifyTotp(secret: string, code: string, nowMs: number, lastStep: number | null): number | null {
  const token = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(token)) return null;
  const delta = TOTP.validate({
    token,
    secret: Secret.fromBase32(secret),
    algorithm: ALGORITHM,
    digits: DIGITS,
    period: PERIOD_SECONDS,
    timestamp: nowMs,
    window: WINDOW,
  });
  if (delta === null) return null;
  const step = TOTP.counter({ period: PERIOD_SECONDS, timestamp: nowMs }) + delta;
  return lastStep !== null && step <= lastStep ? null : step;
}
