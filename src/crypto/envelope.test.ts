import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Envelope, EnvelopeError, keyIdOf } from './envelope.js';

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Replaces the character at `index` of a base64url string with one whose 6-bit value differs in
 * its top bit. The top bit of every base64 character carries data (only low bits of the last
 * character can be padding), so the decoded bytes always change.
 */
function flipChar(text: string, index: number): string {
  const value = B64URL.indexOf(text.charAt(index));
  if (value < 0) throw new Error(`not base64url: ${text}`);
  return text.slice(0, index) + B64URL.charAt(value ^ 0b100000) + text.slice(index + 1);
}

function parts(sealed: string): string[] {
  const split = sealed.split('.');
  expect(split).toHaveLength(5);
  return split;
}

describe('Envelope', () => {
  const key = randomBytes(32);
  const envelope = new Envelope(key);

  it('opens what it sealed', () => {
    const sealed = envelope.seal('a private jwk', 'signing_keys:key_1');
    expect(envelope.open(sealed, 'signing_keys:key_1')).toBe('a private jwk');
  });

  it('produces v1.<kid>.<iv>.<body>.<tag> naming the current key', () => {
    const [version, kid, iv, , tag] = parts(envelope.seal('x', 'ctx'));
    expect(version).toBe('v1');
    expect(kid).toBe(keyIdOf(key));
    expect(kid).toBe(envelope.currentKeyId);
    expect(Buffer.from(iv ?? '', 'base64url')).toHaveLength(12);
    expect(Buffer.from(tag ?? '', 'base64url')).toHaveLength(16);
  });

  it('does not contain the plaintext, and seals the same plaintext differently each time', () => {
    const plaintext = 'super-secret-value-that-must-not-leak';
    const a = envelope.seal(plaintext, 'ctx');
    const b = envelope.seal(plaintext, 'ctx');
    expect(a).not.toContain(plaintext);
    expect(a).not.toContain(Buffer.from(plaintext).toString('base64url'));
    expect(a).not.toBe(b);
  });

  it('refuses to open with a different context (associated data)', () => {
    const sealed = envelope.seal('value', 'clients:cli_1');
    expect(() => envelope.open(sealed, 'clients:cli_2')).toThrow(EnvelopeError);
    expect(() => envelope.open(sealed, '')).toThrow(EnvelopeError);
  });

  it('refuses a ciphertext with any character of the body or tag changed', () => {
    const sealed = envelope.seal('some plaintext of moderate length', 'ctx');
    const [version, kid, iv, body, tag] = parts(sealed);
    const b = body ?? '';
    const t = tag ?? '';
    for (let i = 0; i < b.length; i += 1) {
      const tampered = [version, kid, iv, flipChar(b, i), t].join('.');
      expect(() => envelope.open(tampered, 'ctx'), `body char ${i}`).toThrow(EnvelopeError);
    }
    for (let i = 0; i < t.length; i += 1) {
      const tampered = [version, kid, iv, b, flipChar(t, i)].join('.');
      expect(() => envelope.open(tampered, 'ctx'), `tag char ${i}`).toThrow(EnvelopeError);
    }
    const ivText = iv ?? '';
    for (let i = 0; i < ivText.length; i += 1) {
      const tampered = [version, kid, flipChar(ivText, i), b, t].join('.');
      expect(() => envelope.open(tampered, 'ctx'), `iv char ${i}`).toThrow(EnvelopeError);
    }
  });

  it('refuses values that are not sealed values', () => {
    for (const bad of ['', 'plain', 'v2.a.b.c.d', 'v1..b.c.d', 'v1.kid.iv.body']) {
      expect(() => envelope.open(bad, 'ctx'), bad).toThrow(EnvelopeError);
    }
  });

  it('opens ciphertexts of a previous master key after rotation and flags them for re-sealing', () => {
    const oldKey = randomBytes(32);
    const oldEnvelope = new Envelope(oldKey);
    const oldSealed = oldEnvelope.seal('legacy secret', 'ctx');

    const rotated = new Envelope(randomBytes(32), [oldKey]);
    expect(rotated.open(oldSealed, 'ctx')).toBe('legacy secret');
    expect(rotated.needsReseal(oldSealed)).toBe(true);

    const resealed = rotated.seal('legacy secret', 'ctx');
    expect(rotated.needsReseal(resealed)).toBe(false);
    expect(rotated.open(resealed, 'ctx')).toBe('legacy secret');
    expect(oldEnvelope.needsReseal(oldSealed)).toBe(false);
    // A node that has not been given the new key yet (rolling restart) leaves newer values alone.
    expect(oldEnvelope.needsReseal(resealed)).toBe(false);
  });

  it('throws an EnvelopeError naming an unknown master key when the old key is not in the ring', () => {
    const oldSealed = new Envelope(randomBytes(32)).seal('legacy secret', 'ctx');
    const withoutOld = new Envelope(randomBytes(32));
    expect(() => withoutOld.open(oldSealed, 'ctx')).toThrow(EnvelopeError);
    expect(() => withoutOld.open(oldSealed, 'ctx')).toThrow(/unknown master key/);
  });

  it('rejects a master key that is not 32 bytes', () => {
    expect(() => new Envelope(randomBytes(16))).toThrow(EnvelopeError);
    expect(() => new Envelope(randomBytes(33))).toThrow(EnvelopeError);
  });

  it('round trip holds for any string and context', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (plaintext, context) => {
        expect(envelope.open(envelope.seal(plaintext, context), context)).toBe(plaintext);
      }),
    );
  });

  it('round trip holds for arbitrary (binary-ish) strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string(), (plaintext, context) => {
        // Lone surrogates do not survive UTF-8; compare with what UTF-8 can represent.
        const expected = Buffer.from(plaintext, 'utf8').toString('utf8');
        expect(envelope.open(envelope.seal(plaintext, context), context)).toBe(expected);
      }),
    );
  });
});

describe('Envelope strictness', () => {
  const envelope = new Envelope(randomBytes(32));

  it('refuses a truncated authentication tag', () => {
    const sealed = envelope.seal('hello', 'ctx');
    const parts = sealed.split('.');
    const tag = Buffer.from(parts[4] ?? '', 'base64url');
    for (const length of [4, 8, 12, 15]) {
      const shortened = [...parts.slice(0, 4), tag.subarray(0, length).toString('base64url')].join('.');
      expect(() => envelope.open(shortened, 'ctx')).toThrow(EnvelopeError);
    }
  });

  it('refuses a ciphertext with characters outside base64url', () => {
    expect(() => envelope.open(`${envelope.seal('hello', 'ctx')}!`, 'ctx')).toThrow(EnvelopeError);
  });
});
