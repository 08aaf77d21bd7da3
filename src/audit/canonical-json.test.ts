import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assertCanonicalDepth, CANONICAL_MAX_DEPTH, canonicalJson, NestingTooDeepError } from './canonical-json.js';

/** Replaces -0 (which JSON cannot represent) by 0, at any depth. */
function normalise(value: unknown): unknown {
  if (Object.is(value, -0)) return 0;
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v)]));
  }
  return value;
}

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    const value = { b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } };
    expect(canonicalJson(value)).toBe('{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
  });

  it('drops undefined members', () => {
    expect(canonicalJson({ a: undefined, b: 2, c: { d: undefined } })).toBe('{"b":2,"c":{}}');
  });

  it('keeps array order and writes undefined array items as null, like JSON', () => {
    expect(canonicalJson([3, 1, 2])).toBe('[3,1,2]');
    expect(canonicalJson(['b', 'a'])).toBe('["b","a"]');
    expect(canonicalJson([1, undefined, 2])).toBe(JSON.stringify([1, undefined, 2]));
  });

  it('serialises primitives as JSON.stringify does', () => {
    expect(canonicalJson(null)).toBe('null');
    expect(canonicalJson(true)).toBe('true');
    expect(canonicalJson(1e21)).toBe('1e+21');
    expect(canonicalJson(0.1)).toBe('0.1');
    expect(canonicalJson(-0)).toBe('0');
    expect(canonicalJson('a"b\\c\n\u0001')).toBe(JSON.stringify('a"b\\c\n\u0001'));
    expect(canonicalJson({})).toBe('{}');
    expect(canonicalJson([])).toBe('[]');
  });

  it('throws on NaN and infinities, at any depth', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(TypeError);
    expect(() => canonicalJson(Number.POSITIVE_INFINITY)).toThrow(TypeError);
    expect(() => canonicalJson({ a: [1, Number.NEGATIVE_INFINITY] })).toThrow(TypeError);
    expect(() => canonicalJson({ a: { b: Number.NaN } })).toThrow(TypeError);
  });

  it('sorts property names by UTF-16 code units (RFC 8785 §3.2.3 example)', () => {
    const value = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    expect(canonicalJson(value)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('sorts integer-like keys as strings, not numerically', () => {
    expect(canonicalJson({ '10': 'a', '9': 'b', '1': 'c' })).toBe('{"1":"c","10":"a","9":"b"}');
  });

  it('parses back to the same value for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(JSON.parse(canonicalJson(value))).toEqual(normalise(value));
      }),
    );
  });

  it('has no whitespace outside strings and sorted keys, for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        // Re-serialising the parsed value canonically is a fixed point.
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        // Without string contents, no whitespace remains.
        expect(text.replace(/"(?:[^"\\]|\\.)*"/g, '""')).not.toMatch(/\s/);
      }),
    );
  });

  it('is independent of insertion order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.string(), fc.jsonValue()), { selector: ([key]) => key }),
        fc.infiniteStream(fc.nat()),
        (entries, seeds) => {
          const shuffled = entries
            .map((entry) => ({ entry, sortKey: seeds.next().value }))
            .sort((x, y) => x.sortKey - y.sortKey)
            .map(({ entry }) => entry);
          const a = Object.fromEntries(entries);
          const b = Object.fromEntries([...entries].reverse());
          const c = Object.fromEntries(shuffled);
          expect(canonicalJson(b)).toBe(canonicalJson(a));
          expect(canonicalJson(c)).toBe(canonicalJson(a));
        },
      ),
    );
  });

  /** `levels` arrays or objects inside each other, built without recursion. */
  function nested(levels: number, kind: 'array' | 'object'): unknown {
    let value: unknown = 1;
    for (let i = 0; i < levels; i++) value = kind === 'array' ? [value] : { a: value };
    return value;
  }

  it('refuses a value nested deeper than the bound with a 400-class error, not a RangeError, even 100,000 deep', () => {
    for (const kind of ['array', 'object'] as const) {
      const deep = nested(100_000, kind);
      expect(() => canonicalJson(deep)).toThrow(NestingTooDeepError);
      expect(() => assertCanonicalDepth(deep)).toThrow(NestingTooDeepError);
      expect(() => canonicalJson(nested(CANONICAL_MAX_DEPTH + 1, kind))).toThrow(NestingTooDeepError);
    }
    const error = (() => {
      try {
        canonicalJson(nested(100_000, 'object'));
      } catch (caught) {
        return caught as NestingTooDeepError;
      }
    })();
    expect(error?.code).toBe('invalid_request');
  });

  it('accepts a value exactly at the bound', () => {
    for (const kind of ['array', 'object'] as const) {
      const value = nested(CANONICAL_MAX_DEPTH, kind);
      expect(() => assertCanonicalDepth(value)).not.toThrow();
      expect(canonicalJson(value)).toBe(JSON.stringify(value));
    }
  });

  it('writes a 100,000-deep value without recursion when the caller lifts the bound', () => {
    const deep = nested(100_000, 'array');
    expect(canonicalJson(deep, Number.POSITIVE_INFINITY)).toBe(`${'['.repeat(100_000)}1${']'.repeat(100_000)}`);
  });

  it('refuses a cycle instead of looping', () => {
    const cycle: Record<string, unknown> = { b: 1 };
    cycle.self = cycle;
    expect(() => canonicalJson(cycle)).toThrow(NestingTooDeepError);
  });
});
