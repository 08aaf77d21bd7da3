import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type IdPrefix, isId, newId } from './ids.js';

const PREFIXES: IdPrefix[] = ['org', 'mbr', 'agt', 'cli', 'grt', 'ses', 'evt', 'ca', 'ak', 'key', 'req'];
const MAX_TIME = 2 ** 48 - 1;

describe('newId', () => {
  it('makes ids that isId accepts for their own prefix', () => {
    const id = newId('org');
    expect(id).toMatch(/^org_[0-9a-z]{26}$/);
    expect(isId('org', id)).toBe(true);
  });

  it.each(PREFIXES)('round-trips through isId for prefix %s', (prefix) => {
    expect(isId(prefix, newId(prefix))).toBe(true);
  });

  it('makes different ids at the same instant', () => {
    const now = Date.now();
    const ids = new Set(Array.from({ length: 200 }, () => newId('evt', now)));
    expect(ids.size).toBe(200);
  });

  it('sorts ids made at increasing times in the same order as strings', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_TIME }), fc.integer({ min: 0, max: MAX_TIME }), (a, b) => {
        fc.pre(a !== b);
        const [t1, t2] = a < b ? [a, b] : [b, a];
        const first = newId('evt', t1);
        const second = newId('evt', t2);
        expect(first < second).toBe(true);
      }),
    );
  });

  it('sorts ids one millisecond apart', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_TIME - 1 }), (t) => {
        expect(newId('evt', t) < newId('evt', t + 1)).toBe(true);
      }),
    );
  });

  it('encodes the same time prefix for the same millisecond', () => {
    const t = 1_700_000_000_000;
    // 48 bits of time fill the first 9 characters completely (45 bits) plus part of the 10th.
    const a = newId('org', t);
    const b = newId('org', t);
    expect(a).not.toBe(b);
    expect(a.slice(0, 4 + 9)).toBe(b.slice(0, 4 + 9));
    expect(newId('org', 0).slice(0, 4 + 9)).toBe('org_000000000');
    expect(newId('org', MAX_TIME).slice(0, 4 + 9)).toBe('org_zzzzzzzzz');
  });
});

describe('isId', () => {
  const id = newId('org');

  it('rejects a wrong prefix', () => {
    expect(isId('mbr', id)).toBe(false);
    expect(isId('org', `mbr_${id.slice(4)}`)).toBe(false);
    expect(isId('org', id.slice(4))).toBe(false);
  });

  it('rejects a wrong length', () => {
    expect(isId('org', id.slice(0, -1))).toBe(false);
    expect(isId('org', `${id}0`)).toBe(false);
    expect(isId('org', 'org_')).toBe(false);
  });

  it('rejects characters outside the Crockford alphabet and upper case', () => {
    const body = id.slice(4);
    for (const bad of ['i', 'l', 'o', 'u', 'A', '-']) {
      expect(isId('org', `org_${bad}${body.slice(1)}`), bad).toBe(false);
    }
    expect(isId('org', id.toUpperCase())).toBe(false);
  });
});
