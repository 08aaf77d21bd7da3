/** True when a database error is a unique-constraint violation, on either dialect. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  // PostgreSQL: SQLSTATE 23505; better-sqlite3: SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY.
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/**
 * Runs `work` and turns a unique-constraint violation into `onConflict()`: the check-then-insert
 * inside the transaction answers the common case clearly, this answers the race of two writers.
 */
export async function mapUniqueViolation<T>(work: () => Promise<T>, onConflict: () => Error): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isUniqueViolation(error)) throw onConflict();
    throw error;
  }
}

/**
 * SQLSTATE classes and codes that mean "the database is not answering", not "the query is wrong":
 * class 08 (connection exception), 57P01-57P03 (the server is shutting down or starting),
 * 57014 (a statement cancelled by `statement_timeout`), 53300 (too many connections).
 */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '57014', '53300']);

/** Socket errors of a lost or refused connection. */
const UNAVAILABLE_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND']);

/**
 * pg reports its own timeouts and lost connections as plain errors, by message only: a connect
 * or a wait for a pooled client that timed out, a query read timeout, a connection that ended.
 */
const UNAVAILABLE_PG_MESSAGES =
  /^(timeout exceeded when trying to connect|Connection terminated|Query read timeout|Client has encountered a connection error|Connection terminated due to connection timeout)/;

/**
 * True when `error` (or an error it was caused by) means the database cannot answer now: a
 * connection refused, lost or timed out, a pool with no free connection in time, a statement
 * cancelled by its timeout, or SQLite busy past its `busy_timeout`. Such a request is answered 503
 * `temporarily_unavailable` (http/error-handler.ts): retrying later may work, nothing is wrong
 * with the request.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (code.startsWith('08') && code.length === 5) return true;
      if (UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_SOCKET_CODES.has(code)) return true;
      if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_')) return true;
    }
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && UNAVAILABLE_PG_MESSAGES.test(message)) return true;
  }
  return false;
}
