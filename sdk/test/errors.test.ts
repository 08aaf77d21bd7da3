import { validateHeaderValue } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractBearer } from '../src/bearer.js';
import { InsufficientScopeError, InvalidRequestError, InvalidTokenError, type MandateAuthError, MissingTokenError } from '../src/errors.js';
import { parseBearerChallenge } from './support.js';

const METADATA = 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp';

describe('WWW-Authenticate challenges', () => {
  it('names the error and description for invalid_token (RFC 6750 §3)', () => {
    expect(new InvalidTokenError('the access token has expired').wwwAuthenticate(METADATA)).toBe(
      `Bearer realm="mandate", error="invalid_token", error_description="the access token has expired", resource_metadata="${METADATA}"`,
    );
  });

  it('names every required scope for insufficient_scope', () => {
    const error = new InsufficientScopeError({ missingScopes: ['calendar.write'], requiredScopes: ['calendar.read', 'calendar.write'] });
    expect(error.status).toBe(403);
    const params = parseBearerChallenge(error.wwwAuthenticate(METADATA));
    expect(params?.get('error')).toBe('insufficient_scope');
    expect(params?.get('scope')).toBe('calendar.read calendar.write');
    expect(params?.get('resource_metadata')).toBe(METADATA);
  });

  it('has no error attribute for a missing token (RFC 6750 §3.1)', () => {
    const error = new MissingTokenError();
    expect(error.status).toBe(401);
    expect(error.wwwAuthenticate(METADATA)).toBe(`Bearer resource_metadata="${METADATA}"`);
    expect(error.wwwAuthenticate()).toBe('Bearer realm="mandate"');
  });

  it('escapes quotes and backslashes', () => {
    const header = new InvalidTokenError('a "quoted" \\ value').wwwAuthenticate();
    expect(header).toBe('Bearer realm="mandate", error="invalid_token", error_description="a \\"quoted\\" \\\\ value"');
    expect(parseBearerChallenge(header)?.get('error_description')).toBe('a "quoted" \\ value');
  });

  it('is always a valid, parseable header whatever the description, scopes and URL (property)', () => {
    const text = fc.string({ unit: 'binary', maxLength: 80 });
    const printable = (value: string): string => value.replace(/[^\x20-\x7e]/g, '?');
    fc.assert(
      fc.property(text, fc.array(text, { minLength: 1, maxLength: 4 }), text, (description, scopes, url) => {
        const errors: MandateAuthError[] = [
          new InvalidTokenError(description),
          new InvalidRequestError(description),
          new MissingTokenError(description),
          new InsufficientScopeError({ missingScopes: scopes, requiredScopes: scopes }),
        ];
        for (const error of errors) {
          const header = error.wwwAuthenticate(url);
          expect(() => validateHeaderValue('www-authenticate', header)).not.toThrow();
          const params = parseBearerChallenge(header);
          expect(params).toBeDefined();
          expect(params?.get('resource_metadata')).toBe(printable(url));
          if (error instanceof MissingTokenError) {
            expect(params?.has('error')).toBe(false);
          } else if (error instanceof InsufficientScopeError) {
            expect(params?.get('scope')).toBe(printable(scopes.join(' ')));
          } else {
            expect(params?.get('error')).toBe(error.error);
            expect(params?.get('error_description')).toBe(printable(description));
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('extractBearer', () => {
  it.each([
    { header: 'Bearer abc.def.ghi', token: 'abc.def.ghi' },
    { header: 'bearer abc.def.ghi', token: 'abc.def.ghi' },
    { header: 'BEARER abc-_~+/==', token: 'abc-_~+/==' },
    { header: 'Bearer   abc', token: 'abc' },
  ])('reads $header', ({ header, token }) => {
    expect(extractBearer(header)).toBe(token);
  });

  it.each([undefined, '', '   '])('reports a missing token for %j', (header) => {
    expect(() => extractBearer(header)).toThrow(MissingTokenError);
  });

  it.each(['Bearer', 'Bearer ', 'Bearer a b', 'Bearer a,b', 'Bearer "abc"', 'Basic dXNlcjpwYXNz', 'Bearerabc', 'Token abc', 'Bearer a=b'])(
    'refuses %j as 401 invalid_request',
    (header) => {
      let thrown: unknown;
      try {
        extractBearer(header);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidRequestError);
      expect((thrown as MandateAuthError).status).toBe(401);
      expect((thrown as MandateAuthError).error).toBe('invalid_request');
    },
  );
});
