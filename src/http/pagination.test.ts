import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../errors.js';
import { decodeCursor, encodeCursor, toPage } from './pagination.js';

const ID = `org_${'0123456789abcdefghjkmnpqrs'}`;

function b64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error, nothing was thrown');
}

describe('cursors', () => {
  it('round-trips an id', () => {
    expect(ID).toMatch(/^org_[0-9a-z]{26}$/);
    const cursor = encodeCursor(ID);
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(cursor).not.toContain(ID);
    expect(decodeCursor(cursor)).toBe(ID);
  });

  it('round-trips ids with any lower-case prefix', () => {
    for (const id of [`mbr_${'z'.repeat(26)}`, `ak_${'0'.repeat(26)}`]) expect(decodeCursor(encodeCursor(id))).toBe(id);
  });

  it('decodes no cursor to undefined', () => {
    expect(decodeCursor(undefined)).toBeUndefined();
  });

  it.each([
    ['x', 'x'],
    ['empty', ''],
    ['a number', b64url('{"after":1}')],
    ['not json', b64url('not json')],
    ['null', b64url('null')],
    ['no after', b64url('{}')],
    ['an id of the wrong shape', b64url('{"after":"org_short"}')],
    ['an upper-case id', b64url(JSON.stringify({ after: ID.toUpperCase() }))],
  ])('rejects a cursor holding %s with a 400 invalid_request', (_label, cursor) => {
    const error = errorOf(() => decodeCursor(cursor));
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect(error).toMatchObject({ code: 'invalid_request' });
  });
});

describe('toPage', () => {
  const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `org_${String(i).padStart(26, '0')}`, n: i }));

  it('has no next cursor when all rows fit', () => {
    expect(toPage(rows(3), 5)).toEqual({ data: rows(3), next_cursor: null });
    expect(toPage(rows(5), 5)).toEqual({ data: rows(5), next_cursor: null });
    expect(toPage([], 5)).toEqual({ data: [], next_cursor: null });
  });

  it('keeps limit rows and points the cursor at the last kept row when there are more', () => {
    const page = toPage(rows(6), 5);
    expect(page.data).toEqual(rows(5));
    expect(page.next_cursor).not.toBeNull();
    expect(decodeCursor(page.next_cursor ?? undefined)).toBe('org_00000000000000000000000004');
  });
});
