import { describe, expect, it } from 'vitest';
import { MandateError } from '../errors.js';
import { errorHeaders } from '../http/error-headers.js';
import { statusOf } from '../http/status.js';
import { CibaPollError, InvalidClient, InvalidGrant, InvalidRequest, InvalidToken, OAuthError } from './errors.js';

describe('OAuth errors as neutral errors', () => {
  it.each([
    [new InvalidRequest('x'), 'invalid_request', 400],
    [new InvalidGrant('x', 'for the log'), 'invalid_grant', 400],
    [new CibaPollError('access_denied', 'x'), 'access_denied', 400],
    [new InvalidClient('x'), 'invalid_client', 401],
    [new InvalidToken('x'), 'invalid_token', 401],
    // RFC 6749 has no code for these two: the code carries them, the RFC code stays in `error`.
    [new OAuthError('invalid_request', 'x', 429), 'rate_limited', 429],
    [new OAuthError('access_denied', 'x', 403), 'forbidden', 403],
  ])('%s answers %s with %i', (error, code, status) => {
    expect(error).toBeInstanceOf(MandateError);
    expect(error.protocol).toBe('oauth');
    expect(error.code).toBe(code);
    expect(statusOf(error.code)).toBe(status);
  });

  it('keeps the RFC code and the log detail', () => {
    const error = new OAuthError('invalid_request', 'too many', 429);
    expect(error.error).toBe('invalid_request');
    expect(new InvalidGrant('x', 'for the log').detail).toBe('for the log');
  });

  it('challenges with the scheme the client used, and a refused bearer token', () => {
    expect(errorHeaders(new InvalidClient('x', true))).toEqual({ 'www-authenticate': 'Basic realm="mandate"' });
    expect(errorHeaders(new InvalidClient('x', false))).toEqual({});
    expect(errorHeaders(new InvalidToken('x'))).toEqual({ 'www-authenticate': 'Bearer realm="mandate", error="invalid_token"' });
    expect(errorHeaders(new InvalidGrant('x'))).toEqual({});
  });
});
