import { Secret, TOTP } from 'otpauth';
import { describe, expect, it } from 'vitest';
import { newTotpSecret, totpCode, totpUri, verifyTotp } from './totp.js';

// RFC 6238 Appendix B: the SHA-1 seed "12345678901234567890"; 8-digit values, whose last 6 digits are the 6-digit codes.
const RFC_SECRET = Secret.fromLatin1('12345678901234567890').base32;
const RFC_VECTORS: [number, string][] = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

describe('TOTP (RFC 6238)', () => {
  it.each(RFC_VECTORS)('matches the RFC 6238 test vector at T=%i', (seconds, eight) => {
    expect(totpCode(RFC_SECRET, seconds * 1000)).toBe(eight.slice(-6));
  });

  it('makes 160-bit base32 secrets and an otpauth URI authenticator apps read', () => {
    const secret = newTotpSecret();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = totpUri(secret, { issuer: 'Mandate (xcorp)', account: 'ops@xcorp.test' });
    expect(uri).toMatch(/^otpauth:\/\/totp\//);
    const parsed = new URL(uri);
    expect(parsed.searchParams.get('secret')).toBe(secret);
    expect(parsed.searchParams.get('algorithm')).toBe('SHA1');
    expect(parsed.searchParams.get('digits')).toBe('6');
    expect(parsed.searchParams.get('period')).toBe('30');
    expect(decodeURIComponent(parsed.pathname)).toContain('ops@xcorp.test');
  });

  const now = Date.parse('2026-11-17T09:00:10.000Z');
  const step = Math.floor(now / 30_000);
  const secret = newTotpSecret();
  const at = (offsetSteps: number) => TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: now + offsetSteps * 30_000 });

  it('accepts the current code and one step either side, and says which step it was', () => {
    expect(verifyTotp(secret, at(0), now, null)).toBe(step);
    expect(verifyTotp(secret, at(-1), now, null)).toBe(step - 1);
    expect(verifyTotp(secret, at(1), now, null)).toBe(step + 1);
    expect(verifyTotp(secret, ` ${at(0).slice(0, 3)} ${at(0).slice(3)} `, now, null)).toBe(step);
  });

  it('refuses codes two steps away, malformed codes, and another secret’s code', () => {
    expect(verifyTotp(secret, at(-2), now, null)).toBeNull();
    expect(verifyTotp(secret, at(2), now, null)).toBeNull();
    expect(verifyTotp(secret, '12345', now, null)).toBeNull();
    expect(verifyTotp(secret, 'abcdef', now, null)).toBeNull();
    expect(verifyTotp(newTotpSecret(), at(0), now, null)).toBeNull();
  });

  it('accepts a code once: the step used and earlier ones are refused afterwards (RFC 6238 §5.2)', () => {
    const used = verifyTotp(secret, at(0), now, null) as number;
    expect(verifyTotp(secret, at(0), now, used)).toBeNull();
    expect(verifyTotp(secret, at(-1), now, used)).toBeNull();
    expect(verifyTotp(secret, at(1), now, used)).toBe(step + 1);
  });
});
