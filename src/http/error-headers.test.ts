import { describe, expect, it } from 'vitest';
import { basicChallenge, bearerChallenge, MandateError } from '../errors.js';
import { errorHeaders, renderChallenge } from './error-headers.js';

describe('renderChallenge', () => {
  it.each([
    [bearerChallenge(), 'Bearer realm="mandate"'],
    [bearerChallenge({ error: 'invalid_token' }), 'Bearer realm="mandate", error="invalid_token"'],
    [
      bearerChallenge({ error_description: 'wrong audience', error: 'invalid_token' }),
      'Bearer realm="mandate", error="invalid_token", error_description="wrong audience"',
    ],
    [
      bearerChallenge({ resource_metadata: 'https://rs.test/.well-known/oauth-protected-resource' }),
      'Bearer realm="mandate", resource_metadata="https://rs.test/.well-known/oauth-protected-resource"',
    ],
    [basicChallenge(), 'Basic realm="mandate"'],
    [bearerChallenge({ error_description: 'a "quoted" \\ text' }), 'Bearer realm="mandate", error_description="a \\"quoted\\" \\\\ text"'],
  ])('renders %j', (challenge, header) => {
    expect(renderChallenge(challenge)).toBe(header);
  });
});

describe('errorHeaders', () => {
  it('asks for WWW-Authenticate and Retry-After only when the error carries them', () => {
    expect(errorHeaders(new MandateError('not_found', 'x'))).toEqual({});
    expect(errorHeaders(new MandateError('unauthorized', 'x', { challenge: bearerChallenge() }))).toEqual({
      'www-authenticate': 'Bearer realm="mandate"',
    });
    expect(errorHeaders(new MandateError('rate_limited', 'x', { retryAfterSeconds: 12 }))).toEqual({ 'retry-after': '12' });
  });
});
