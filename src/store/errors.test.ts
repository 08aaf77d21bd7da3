import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable, isUniqueViolation } from './errors.js';

/** What pg and better-sqlite3 actually throw, reduced to the fields the classification reads. */
const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isDatabaseUnavailable', () => {
  it.each([
    ['a refused connection', withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')],
    ['a reset connection', withCode('ECONNRESET')],
    ['an administrator shutdown (pg_ctl stop)', withCode('57P01', 'terminating connection due to administrator command')],
    ['a server still starting', withCode('57P03', 'the database system is starting up')],
    ['a statement cancelled by statement_timeout', withCode('57014', 'canceling statement due to statement timeout')],
    ['too many connections', withCode('53300')],
    ['a connection exception (class 08)', withCode('08006')],
    ['a full pool past its connect timeout', new Error('timeout exceeded when trying to connect')],
    ['a query read timeout', new Error('Query read timeout')],
    ['a connection that ended', new Error('Connection terminated unexpectedly')],
    ['a busy SQLite file', withCode('SQLITE_BUSY', 'database is locked')],
    ['a wrapped cause', new Error('flush failed', { cause: withCode('ECONNREFUSED') })],
  ])('%s is a fault of the database', (_, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
  });

  it.each([
    ['a unique violation', withCode('23505')],
    ['a syntax error', withCode('42601')],
    ['a foreign key violation', withCode('23503')],
    ['a SQLite constraint', withCode('SQLITE_CONSTRAINT_UNIQUE')],
    ['a programming error', new TypeError('cannot read properties of undefined')],
    ['nothing', undefined],
  ])('%s is not', (_, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });

  it('leaves the unique-violation test as it was', () => {
    expect(isUniqueViolation(withCode('23505'))).toBe(true);
    expect(isUniqueViolation(withCode('57P01'))).toBe(false);
  });
});
