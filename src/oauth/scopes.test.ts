import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatScope, intersectScopes, parseScope, scopesOutside } from './scopes.js';

describe('parseScope (RFC 6749 §3.3)', () => {
  it.each([
    [undefined, []],
    ['', []],
    ['a', ['a']],
    ['a b  a', ['a', 'b']],
    ['calendar.read calendar:write', ['calendar.read', 'calendar:write']],
  ])('%j → %j', (input, expected) => {
    expect(parseScope(input as string | undefined)).toEqual(expected);
  });

  it.each(['a"b', 'a\\\\b', 'a\tb', 'é'])('refuses %j (outside %x21 / %x23-5B / %x5D-7E)', (input) => {
    expect(parseScope(input)).toBeUndefined();
  });
});

describe('scope sets', () => {
  it('intersects keeping the first set order', () => {
    expect(intersectScopes(['c', 'a', 'b'], ['a', 'b', 'x'], ['b', 'a'])).toEqual(['a', 'b']);
  });

  it('lists what lies outside the allowed set', () => {
    expect(scopesOutside(['a', 'admin', 'b'], ['a', 'b'])).toEqual(['admin']);
    expect(scopesOutside([], ['a'])).toEqual([]);
  });

  it('narrowing never widens: an intersection lies within every input', () => {
    const scope = fc.constantFrom('a', 'b', 'c', 'd', 'e');
    fc.assert(
      fc.property(fc.array(scope), fc.array(scope), (x, y) => {
        const both = intersectScopes(x, y);
        expect(scopesOutside(both, x)).toEqual([]);
        expect(scopesOutside(both, y)).toEqual([]);
      }),
    );
  });

  it('formats space-delimited', () => {
    expect(formatScope(['a', 'b'])).toBe('a b');
  });
});
