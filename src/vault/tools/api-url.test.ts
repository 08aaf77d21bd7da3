import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveApiUrl } from './api-url.js';
import { ApiPathError } from './errors.js';

describe('resolveApiUrl', () => {
  it.each([
    ['https://api.github.com', '/repos/o/r/issues', 'https://api.github.com/repos/o/r/issues'],
    ['https://api.github.com/', '/user', 'https://api.github.com/user'],
    ['https://slack.com/api', '/chat.postMessage', 'https://slack.com/api/chat.postMessage'],
    ['https://api.zoom.us/v2/', '/users/me', 'https://api.zoom.us/v2/users/me'],
    ['https://ghe.example.com/api/v3', '/repos/o/r', 'https://ghe.example.com/api/v3/repos/o/r'],
    [
      'https://www.googleapis.com',
      '/calendar/v3/calendars/a%40b.com/events',
      'https://www.googleapis.com/calendar/v3/calendars/a%40b.com/events',
    ],
    ['https://api.example.com', '/v1/items:batchGet', 'https://api.example.com/v1/items:batchGet'],
    ['https://api.example.com/base', '/', 'https://api.example.com/base/'],
    ['https://api.example.com', '/a/b/', 'https://api.example.com/a/b/'],
    ['https://api.example.com', '/@evil.com', 'https://api.example.com/@evil.com'],
    ['https://api.example.com', '/a%2Fb', 'https://api.example.com/a%2Fb'],
    ['http://127.0.0.1:8080/api', '/x', 'http://127.0.0.1:8080/api/x'],
  ])('%s + %s', (base, path, expected) => {
    expect(resolveApiUrl(base, path).href).toBe(expected);
  });

  it('adds the query, encoded', () => {
    const url = resolveApiUrl('https://api.github.com', '/search/issues', { q: 'repo:o/r is:open&x=1#', per_page: '5' });
    expect(url.href).toBe('https://api.github.com/search/issues?q=repo%3Ao%2Fr+is%3Aopen%26x%3D1%23&per_page=5');
    expect(url.searchParams.get('q')).toBe('repo:o/r is:open&x=1#');
  });

  it.each([
    '',
    'repos/o/r',
    '/../admin',
    '/a/../../admin',
    '/a/..',
    '/./a',
    '/a/.',
    '/%2e%2e/admin',
    '/%2E%2E/admin',
    '/.%2e/admin',
    '/%2e./admin',
    '/%252e%252e/admin',
    '/%25252e%25252e/admin',
    '/a%2F..%2Fadmin',
    '/a%5C..%5Cadmin',
    '/%2e',
    '//evil.com',
    '//evil.com/x',
    '/a//b',
    '///evil.com',
    '@evil.com',
    'https://evil.com/x',
    'http://evil.com',
    'javascript:alert(1)',
    '\\\\evil.com',
    '/\\evil.com',
    '/a\\..\\admin',
    '/a?admin=1',
    '/a#frag',
    '/a%3F?x',
    '/a b',
    '/a\tb',
    '/a\nb',
    '/a\u0000',
    '/é',
    '/a%zz',
    '/a%',
    '/a%2',
    `/${'a'.repeat(3000)}`,
  ])('refuses %j', (path) => {
    expect(() => resolveApiUrl('https://api.example.com/base', path)).toThrow(ApiPathError);
  });

  it('refuses a bad API base', () => {
    expect(() => resolveApiUrl('not a url', '/x')).toThrow(ApiPathError);
    expect(() => resolveApiUrl('https://u:p@api.example.com', '/x')).toThrow(ApiPathError);
    expect(() => resolveApiUrl('https://api.example.com?x=1', '/x')).toThrow(ApiPathError);
    expect(() => resolveApiUrl('file:///etc', '/passwd')).toThrow(ApiPathError);
  });

  it('keeps the base path as a whole-segment prefix', () => {
    // `/api` + `/v3x` is `/api/v3x`, never `/apiv3x` or a sibling of `/api`.
    expect(resolveApiUrl('https://h.example.com/api', '/v3x').pathname).toBe('/api/v3x');
  });

  const base = 'https://api.example.com/base';
  const hostile = fc.constantFrom(
    '/',
    '.',
    '..',
    '%2e',
    '%2E',
    '%25',
    '%2f',
    '%5c',
    '\\',
    '?',
    '#',
    '@',
    ':',
    '//',
    'evil.com',
    'a',
    '%',
    ' ',
    'é',
    '\u0000',
  );
  const paths = fc.oneof(
    fc.string(),
    fc.array(hostile, { maxLength: 12 }).map((parts) => parts.join('')),
    fc.array(hostile, { maxLength: 12 }).map((parts) => `/${parts.join('')}`),
    fc.webPath(),
  );

  it('never leaves the base, whatever the path (property)', () => {
    fc.assert(
      fc.property(paths, (path) => {
        let url: URL;
        try {
          url = resolveApiUrl(base, path);
        } catch (error) {
          expect(error).toBeInstanceOf(ApiPathError);
          return;
        }
        expect(url.origin).toBe('https://api.example.com');
        expect(url.pathname.startsWith('/base/')).toBe(true);
        expect(url.search).toBe('');
        expect(url.hash).toBe('');
        expect(url.pathname).toBe(`/base${path}`);
        const segments = url.pathname.split('/').slice(1);
        for (const segment of segments) {
          const decoded = decodeURIComponent(decodeURIComponent(segment));
          expect(['.', '..']).not.toContain(decoded);
        }
        expect(url.pathname.includes('//')).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('returns whatever encodeURIComponent makes of any value as one segment (property)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (value) => {
        const path = `/items/${encodeURIComponent(value)}`;
        let url: URL;
        try {
          url = resolveApiUrl(base, path);
        } catch (error) {
          expect(error).toBeInstanceOf(ApiPathError);
          return;
        }
        expect(url.pathname).toBe(`/base${path}`);
        expect(url.origin).toBe('https://api.example.com');
      }),
      { numRuns: 1000 },
    );
  });
});
