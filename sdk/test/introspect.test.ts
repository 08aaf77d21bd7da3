import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InsufficientScopeError, InvalidTokenError, type MandateAuthError } from '../src/errors.js';
import { introspectToken } from '../src/introspect.js';
import { now, type RunningServer, readBody, sendJson, serve } from './support.js';

const ISSUER = 'https://auth.example.com';
const RESOURCE = 'https://calendar.example.com/api';
const CLIENT_ID = 'rs:calendar api';
const CLIENT_SECRET = 's3cr3t+/=:!*()"';

/** Form-urlencoding as RFC 6749 Appendix B, decoded the way Mandate's token endpoint decodes it. */
function formDecode(value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

function activeResponse(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    active: true,
    token_type: 'Bearer',
    iss: ISSUER,
    sub: 'user-1',
    aud: RESOURCE,
    client_id: 'client-1',
    scope: 'calendar.read',
    org_id: 'org-1',
    jti: 'jti-1',
    iat: now(),
    exp: now() + 300,
    ...overrides,
  };
}

/** Tokens the fake authorization server knows, and what introspecting them answers. */
const TOKENS: Record<string, Record<string, unknown>> = {
  'active-token': activeResponse(),
  'revoked-token': { active: false },
  'other-resource-token': activeResponse({ aud: 'https://mail.example.com/api' }),
  'expired-token': activeResponse({ exp: now() - 60 }),
  'foreign-issuer-token': activeResponse({ iss: 'https://evil.example.com' }),
  'string-active-token': activeResponse({ active: 'true' }),
  'no-client-id-token': activeResponse({ client_id: undefined }),
};

let server: RunningServer;
let endpoint: string;
const requests: Array<{ contentType: string | undefined; params: URLSearchParams }> = [];

beforeAll(async () => {
  server = await serve(async (req, res) => {
    if (req.method !== 'POST' || req.url !== '/oauth2/introspect') return sendJson(res, 404, { error: 'not_found' });
    const match = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    const decoded = Buffer.from(match?.[1] ?? '', 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const id = formDecode(decoded.slice(0, colon));
    const secret = formDecode(decoded.slice(colon + 1));
    if (colon < 0 || id !== CLIENT_ID || secret !== CLIENT_SECRET) return sendJson(res, 401, { error: 'invalid_client' });
    const params = new URLSearchParams(await readBody(req));
    requests.push({ contentType: req.headers['content-type'], params });
    if (params.get('token') === 'broken-json-token') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{not json');
      return;
    }
    return sendJson(res, 200, TOKENS[params.get('token') ?? ''] ?? { active: false });
  });
  endpoint = `${server.url}/oauth2/introspect`;
});

afterAll(async () => {
  await server.close();
});

const options = (): Parameters<typeof introspectToken>[1] => ({
  introspectionEndpoint: endpoint,
  clientId: CLIENT_ID,
  clientSecret: CLIENT_SECRET,
  audience: RESOURCE,
});

describe('introspectToken', () => {
  it('returns the claims of an active token, authenticating with client_secret_basic', async () => {
    const claims = await introspectToken('active-token', { ...options(), issuer: ISSUER, scopes: ['calendar.read'] });
    expect(claims).toMatchObject({
      iss: ISSUER,
      sub: 'user-1',
      aud: RESOURCE,
      client_id: 'client-1',
      scope: 'calendar.read',
      org_id: 'org-1',
    });
    expect(claims).not.toHaveProperty('active');
    const last = requests.at(-1);
    expect(last?.contentType).toBe('application/x-www-form-urlencoded');
    expect(last?.params.get('token')).toBe('active-token');
  });

  it.each([
    { name: 'an inactive (revoked) token', token: 'revoked-token', description: /not active/ },
    { name: 'a token for another resource', token: 'other-resource-token', description: /not intended for this resource/ },
    { name: 'an expired token', token: 'expired-token', description: /expired/ },
    { name: 'an unexpected issuer', token: 'foreign-issuer-token', description: /issuer/ },
    { name: '"active": "true" (not literally true)', token: 'string-active-token', description: /not active/ },
    { name: 'a response without client_id', token: 'no-client-id-token', description: /client_id/ },
    { name: 'a malformed response (fails closed)', token: 'broken-json-token', description: /could not be introspected/ },
  ])('refuses $name with 401 invalid_token', async ({ token, description }) => {
    const failure = await introspectToken(token, { ...options(), issuer: ISSUER }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(InvalidTokenError);
    expect((failure as MandateAuthError).status).toBe(401);
    expect((failure as MandateAuthError).error).toBe('invalid_token');
    expect((failure as MandateAuthError).description).toMatch(description);
  });

  it('fails closed when the resource server credentials are refused', async () => {
    const failure = await introspectToken('active-token', { ...options(), clientSecret: 'wrong' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(InvalidTokenError);
    expect((failure as InvalidTokenError).cause).toBeInstanceOf(Error);
  });

  it('fails closed when the endpoint is unreachable', async () => {
    const closed = await serve((_req, res) => res.end());
    await closed.close();
    await expect(
      introspectToken('active-token', { ...options(), introspectionEndpoint: `${closed.url}/oauth2/introspect` }),
    ).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it('refuses an active token lacking a required scope with 403 insufficient_scope', async () => {
    const failure = await introspectToken('active-token', { ...options(), scopes: ['calendar.write'] }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(InsufficientScopeError);
    expect((failure as InsufficientScopeError).status).toBe(403);
    expect((failure as InsufficientScopeError).missingScopes).toEqual(['calendar.write']);
  });

  it('uses a caller-supplied fetch', async () => {
    let calls = 0;
    const countingFetch: typeof fetch = (input, init) => {
      calls += 1;
      return fetch(input, init);
    };
    await introspectToken('active-token', { ...options(), fetch: countingFetch });
    expect(calls).toBe(1);
  });
});
