import { createLocalJWKSet, exportSPKI, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InsufficientScopeError, InvalidTokenError, MandateAuthError } from '../src/errors.js';
import { verifyAccessToken } from '../src/verify.js';
import { decodeSegment, encodeSegment, generateTestKey, now, startIssuer, type TestIssuer } from './support.js';

const RESOURCE_A = 'https://calendar.example.com/api';
const RESOURCE_B = 'https://mail.example.com/api';

let issuer: TestIssuer;

beforeAll(async () => {
  issuer = await startIssuer();
});

afterAll(async () => {
  await issuer.close();
});

/** Expects verification to fail with a MandateAuthError of the given code and status. */
async function expectRefused(token: string, expected: { error: string; status: number; description?: RegExp }): Promise<MandateAuthError> {
  const failure = await verifyAccessToken(token, { issuer: issuer.issuer, audience: RESOURCE_A }).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(failure).toBeInstanceOf(MandateAuthError);
  const error = failure as MandateAuthError;
  expect(error.error).toBe(expected.error);
  expect(error.status).toBe(expected.status);
  if (expected.description) expect(error.description).toMatch(expected.description);
  // Descriptions are safe: they never echo the token.
  expect(error.description).not.toContain(token);
  expect(error.description).not.toContain(token.split('.')[1] ?? token);
  return error;
}

describe('verifyAccessToken', () => {
  it('accepts a valid token via the remote JWKS at <issuer>/oauth2/jwks and returns its claims', async () => {
    const token = await issuer.mint({ audience: RESOURCE_A, scope: 'calendar.read calendar.write', claims: { agent_id: 'agent-7' } });
    const claims = await verifyAccessToken(token, { issuer: issuer.issuer, audience: RESOURCE_A, scopes: ['calendar.read'] });
    expect(claims).toMatchObject({
      iss: issuer.issuer,
      sub: 'user-1',
      aud: RESOURCE_A,
      client_id: 'client-1',
      org_id: 'org-1',
      scope: 'calendar.read calendar.write',
      agent_id: 'agent-7',
    });
    expect(typeof claims.jti).toBe('string');
  });

  it('caches the remote JWKS per issuer', async () => {
    await verifyAccessToken(await issuer.mint({ audience: RESOURCE_A }), { issuer: issuer.issuer, audience: RESOURCE_A });
    const before = issuer.jwksFetches();
    expect(before).toBeGreaterThanOrEqual(1);
    for (let i = 0; i < 5; i += 1) {
      await verifyAccessToken(await issuer.mint({ audience: RESOURCE_A }), { issuer: issuer.issuer, audience: RESOURCE_A });
    }
    expect(issuer.jwksFetches()).toBe(before);
  });

  it('uses a caller-supplied key set', async () => {
    const other = await generateTestKey('local-key');
    const token = await issuer.mint({ audience: RESOURCE_A, key: other });
    const jwks = createLocalJWKSet({ keys: [other.publicJwk] });
    await expect(verifyAccessToken(token, { issuer: issuer.issuer, audience: RESOURCE_A, jwks })).resolves.toMatchObject({ sub: 'user-1' });
  });

  it('accepts typ application/at+jwt, an aud array, nested act and auth_event_id', async () => {
    const token = await issuer.mint({
      audience: RESOURCE_A,
      header: { typ: 'application/at+jwt' },
      claims: { aud: [RESOURCE_B, RESOURCE_A], act: { sub: 'agent-1', act: { sub: 'agent-0' } }, auth_event_id: 'ae-1' },
    });
    const claims = await verifyAccessToken(token, { issuer: issuer.issuer, audience: RESOURCE_A });
    expect(claims.aud).toEqual([RESOURCE_B, RESOURCE_A]);
    expect(claims.act).toEqual({ sub: 'agent-1', act: { sub: 'agent-0' } });
    expect(claims.auth_event_id).toBe('ae-1');
  });

  it('allows a few seconds of clock skew', async () => {
    const token = await issuer.mint({ audience: RESOURCE_A, claims: { exp: now() - 2, nbf: now() + 2 } });
    await expect(verifyAccessToken(token, { issuer: issuer.issuer, audience: RESOURCE_A })).resolves.toBeDefined();
    await expect(
      verifyAccessToken(token, { issuer: issuer.issuer, audience: RESOURCE_A, clockToleranceSeconds: 0 }),
    ).rejects.toBeInstanceOf(InvalidTokenError);
  });

  describe('refuses', () => {
    const cases: Array<{ name: string; token: () => Promise<string>; description: RegExp }> = [
      {
        name: 'an expired token',
        token: () => issuer.mint({ audience: RESOURCE_A, claims: { iat: now() - 600, exp: now() - 60 } }),
        description: /expired/,
      },
      {
        name: 'nbf in the future',
        token: () => issuer.mint({ audience: RESOURCE_A, claims: { nbf: now() + 120 } }),
        description: /not yet valid/,
      },
      {
        name: 'a wrong issuer',
        token: () => issuer.mint({ audience: RESOURCE_A, claims: { iss: 'https://evil.example.com' } }),
        description: /issuer/,
      },
      {
        name: 'a token for resource B presented to resource A',
        token: () => issuer.mint({ audience: RESOURCE_B }),
        description: /not intended for this resource/,
      },
      { name: 'a missing typ', token: () => issuer.mint({ audience: RESOURCE_A, header: { typ: undefined } }), description: /at\+jwt/ },
      { name: 'typ JWT', token: () => issuer.mint({ audience: RESOURCE_A, header: { typ: 'JWT' } }), description: /at\+jwt/ },
      {
        name: 'alg none',
        token: async () => {
          const signed = await issuer.mint({ audience: RESOURCE_A });
          const payload = signed.split('.')[1] ?? '';
          return `${encodeSegment({ alg: 'none', typ: 'at+jwt' })}.${payload}.`;
        },
        description: /algorithm|malformed/,
      },
      {
        name: 'HS256 signed with the public JWK as the HMAC secret (key confusion)',
        token: async () => {
          const payload = decodeSegment((await issuer.mint({ audience: RESOURCE_A })).split('.')[1] ?? '');
          const secret = new TextEncoder().encode(JSON.stringify(issuer.key.publicJwk));
          return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: issuer.key.kid }).sign(secret);
        },
        description: /algorithm/,
      },
      {
        name: 'HS256 signed with the public key PEM as the HMAC secret (key confusion)',
        token: async () => {
          const payload = decodeSegment((await issuer.mint({ audience: RESOURCE_A })).split('.')[1] ?? '');
          const secret = new TextEncoder().encode(await exportSPKI(issuer.key.publicKey));
          return new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: issuer.key.kid }).sign(secret);
        },
        description: /algorithm/,
      },
      {
        name: 'a tampered payload',
        token: async () => {
          const [header, payload, signature] = (await issuer.mint({ audience: RESOURCE_A, scope: 'calendar.read' })).split('.');
          const claims = decodeSegment(payload ?? '');
          return `${header}.${encodeSegment({ ...claims, scope: 'calendar.read calendar.admin' })}.${signature}`;
        },
        description: /signature/,
      },
      {
        name: 'an unknown kid',
        token: async () => issuer.mint({ audience: RESOURCE_A, key: await generateTestKey('unknown-kid') }),
        description: /unknown key/,
      },
      {
        name: 'a missing client_id',
        token: () => issuer.mint({ audience: RESOURCE_A, claims: { client_id: undefined } }),
        description: /client_id/,
      },
      { name: 'a missing jti', token: () => issuer.mint({ audience: RESOURCE_A, claims: { jti: undefined } }), description: /jti/ },
      { name: 'a missing sub', token: () => issuer.mint({ audience: RESOURCE_A, claims: { sub: undefined } }), description: /sub/ },
      { name: 'a missing iat', token: () => issuer.mint({ audience: RESOURCE_A, claims: { iat: undefined } }), description: /iat/ },
      {
        name: 'a non-string client_id',
        token: () => issuer.mint({ audience: RESOURCE_A, claims: { client_id: 42 } }),
        description: /client_id/,
      },
      { name: 'a malformed act', token: () => issuer.mint({ audience: RESOURCE_A, claims: { act: { sub: 7 } } }), description: /act/ },
      { name: 'garbage', token: async () => 'qqqqqqqq.wwwwwwww.zzzzzzzz', description: /malformed/ },
      { name: 'an oversized token', token: async () => 'a'.repeat(20_000), description: /too large/ },
    ];

    it.each(cases)('$name → 401 invalid_token', async ({ token, description }) => {
      const error = await expectRefused(await token(), { error: 'invalid_token', status: 401, description });
      expect(error).toBeInstanceOf(InvalidTokenError);
      expect(error.wwwAuthenticate()).toMatch(/^Bearer realm="mandate", error="invalid_token", error_description="/);
    });
  });

  it('refuses a token lacking a required scope with 403 insufficient_scope naming all required scopes', async () => {
    const token = await issuer.mint({ audience: RESOURCE_A, scope: 'calendar.read' });
    const failure = await verifyAccessToken(token, {
      issuer: issuer.issuer,
      audience: RESOURCE_A,
      scopes: ['calendar.read', 'calendar.write'],
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(InsufficientScopeError);
    const error = failure as InsufficientScopeError;
    expect(error.status).toBe(403);
    expect(error.error).toBe('insufficient_scope');
    expect(error.missingScopes).toEqual(['calendar.write']);
    expect(error.requiredScopes).toEqual(['calendar.read', 'calendar.write']);
    expect(error.wwwAuthenticate('https://calendar.example.com/.well-known/oauth-protected-resource/api')).toContain(
      'scope="calendar.read calendar.write"',
    );
  });

  it('does not mistake a scope prefix for the scope', async () => {
    const token = await issuer.mint({ audience: RESOURCE_A, scope: 'calendar.writer' });
    await expect(
      verifyAccessToken(token, { issuer: issuer.issuer, audience: RESOURCE_A, scopes: ['calendar.write'] }),
    ).rejects.toBeInstanceOf(InsufficientScopeError);
  });

  it.each([
    { name: 'none', options: { algorithms: ['none'] } },
    { name: 'HS256', options: { algorithms: ['ES256', 'HS256'] } },
    { name: 'an empty list', options: { algorithms: [] } },
    { name: 'a negative clock tolerance', options: { clockToleranceSeconds: -1 } },
    { name: 'an empty issuer', options: { issuer: '' } },
    { name: 'an empty audience', options: { audience: '' } },
  ])('rejects unsafe options ($name) with TypeError', async ({ options }) => {
    const token = await issuer.mint({ audience: RESOURCE_A });
    await expect(verifyAccessToken(token, { issuer: issuer.issuer, audience: RESOURCE_A, ...options })).rejects.toBeInstanceOf(TypeError);
  });
});
