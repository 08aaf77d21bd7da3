import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPkceValue, verifyPkce } from './pkce.js';

describe('PKCE S256 (RFC 7636)', () => {
  it('matches the RFC 7636 Appendix B example', () => {
    expect(verifyPkce('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM')).toBe(true);
  });

  it.each([
    ['a verifier that does not match', 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'],
    ['plain (verifier equals challenge)', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'],
    ['a short verifier', 'short', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'],
    ['a verifier with illegal characters', `${'a'.repeat(42)}+`, 'x'],
  ])('refuses %s', (_name, verifier, challenge) => {
    expect(verifyPkce(verifier, challenge)).toBe(false);
  });

  it('accepts any well-formed verifier against its own S256 challenge', () => {
    const unreserved = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~'.split(''));
    fc.assert(
      fc.property(fc.array(unreserved, { minLength: 43, maxLength: 128 }), (chars) => {
        const verifier = chars.join('');
        expect(isPkceValue(verifier)).toBe(true);
        expect(verifyPkce(verifier, createHash('sha256').update(verifier).digest('base64url'))).toBe(true);
      }),
    );
  });
});
