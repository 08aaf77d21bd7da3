import { describe, expect, it } from 'vitest';
import { hashSecret, newSecret, type SecretPrefix, secretMatches } from './secret-token.js';

const PREFIXES: SecretPrefix[] = ['mnd_ak_', 'mnd_rt_', 'mnd_st_', 'mnd_imp_', 'mnd_cs_'];

describe('newSecret', () => {
  it.each(PREFIXES)('starts with %s followed by at least 43 base64url characters', (prefix) => {
    const secret = newSecret(prefix);
    expect(secret.startsWith(prefix)).toBe(true);
    const rest = secret.slice(prefix.length);
    expect(rest).toMatch(/^[A-Za-z0-9_-]{43,}$/);
    expect(Buffer.from(rest, 'base64url')).toHaveLength(32);
  });

  it('returns a different secret on every call', () => {
    const seen = new Set(Array.from({ length: 100 }, () => newSecret('mnd_rt_')));
    expect(seen.size).toBe(100);
  });
});

describe('hashSecret', () => {
  it('is 64 lower-case hex characters and stable', () => {
    const secret = newSecret('mnd_ak_');
    const digest = hashSecret(secret);
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(hashSecret(secret)).toBe(digest);
  });

  it('is SHA-256 of the UTF-8 secret', () => {
    expect(hashSecret('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('differs for different secrets', () => {
    expect(hashSecret('mnd_ak_a')).not.toBe(hashSecret('mnd_ak_b'));
  });
});

describe('secretMatches', () => {
  const secret = newSecret('mnd_cs_');
  const digest = hashSecret(secret);

  it('is true for the right secret', () => {
    expect(secretMatches(secret, digest)).toBe(true);
  });

  it('is false for another secret', () => {
    expect(secretMatches(newSecret('mnd_cs_'), digest)).toBe(false);
    expect(secretMatches(`${secret}x`, digest)).toBe(false);
    expect(secretMatches('', digest)).toBe(false);
  });

  it('is false (and does not throw) for a malformed stored digest', () => {
    expect(secretMatches(secret, 'abc')).toBe(false);
    expect(secretMatches(secret, '')).toBe(false);
    expect(secretMatches(secret, 'zz'.repeat(32))).toBe(false);
    expect(secretMatches(secret, digest.slice(0, 62))).toBe(false);
  });
});

describe('secretMatches with a malformed digest', () => {
  it('refuses a digest with trailing garbage', () => {
    expect(secretMatches('s', `${hashSecret('s')}zz`)).toBe(false);
  });
});
