import { describe, expect, it } from 'vitest';
import { VerifiedClaimsCache } from './verified-claims.js';

const claims = (exp: number, name = 'c') => ({ exp, name });

describe('VerifiedClaimsCache', () => {
  it('returns cached claims only strictly before exp, and forgets them after', () => {
    const cache = new VerifiedClaimsCache<{ exp: number; name: string }>(10);
    cache.set('token-a', claims(100));
    expect(cache.get('token-a', 99)).toEqual(claims(100));
    expect(cache.get('token-a', 100)).toBeUndefined();
    expect(cache.get('token-a', 50)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('matches the exact token only', () => {
    const cache = new VerifiedClaimsCache<{ exp: number; name: string }>(10);
    cache.set('header.payload.signature', claims(100));
    expect(cache.get('header.payload.signaturE', 1)).toBeUndefined();
    expect(cache.get('header.payloaD.signature', 1)).toBeUndefined();
    expect(cache.get('header.payload.signature', 1)).toEqual(claims(100));
  });

  it('stays within its capacity, evicting the least recently used token', () => {
    const cache = new VerifiedClaimsCache<{ exp: number; name: string }>(3);
    for (const name of ['a', 'b', 'c']) cache.set(name, claims(100, name));
    expect(cache.get('a', 1)?.name).toBe('a');
    cache.set('d', claims(100, 'd'));
    expect(cache.size).toBe(3);
    expect(cache.get('b', 1)).toBeUndefined();
    expect(['a', 'c', 'd'].map((name) => cache.get(name, 1)?.name)).toEqual(['a', 'c', 'd']);
  });
});
