import { createServer } from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequestAuthorizer, type MandateAuthOptions } from '../src/authorize-request.js';
import type { MandateTokenClaims } from '../src/claims.js';
import { MissingTokenError } from '../src/errors.js';
import { mandateExpress } from '../src/express.js';
import { mandateFastify } from '../src/fastify.js';
import { mandateNodeHttp } from '../src/node-http.js';
import {
  decodeSegment,
  listen,
  now,
  parseBearerChallenge,
  type RunningServer,
  readBody,
  sendJson,
  serve,
  startIssuer,
  type TestIssuer,
} from './support.js';

const RESOURCE = 'https://calendar.example.com/api';
const OTHER_RESOURCE = 'https://mail.example.com/api';
const METADATA_URL = 'https://calendar.example.com/.well-known/oauth-protected-resource/api';
const RS_CLIENT_ID = 'calendar-rs';
const RS_CLIENT_SECRET = 'calendar-rs-secret';

let issuer: TestIssuer;
let introspection: RunningServer;
const revokedJtis = new Set<string>();

/** What a protected handler answers: the claims it was handed. */
function visible(claims: MandateTokenClaims | undefined): Record<string, unknown> {
  return { sub: claims?.sub, client_id: claims?.client_id, scope: claims?.scope, org_id: claims?.org_id };
}

/** The routes every framework serves: what each requires. */
function routeOptions(): Record<'/read' | '/write' | '/high-risk', MandateAuthOptions> {
  const base = { issuer: issuer.issuer, resource: RESOURCE };
  return {
    '/read': { ...base, scopes: ['calendar.read'] },
    '/write': { ...base, scopes: ['calendar.write'] },
    '/high-risk': {
      ...base,
      scopes: ['calendar.read'],
      introspection: {
        introspectionEndpoint: `${introspection.url}/oauth2/introspect`,
        clientId: RS_CLIENT_ID,
        clientSecret: RS_CLIENT_SECRET,
      },
    },
  };
}

async function startFastify(): Promise<RunningServer> {
  const app = Fastify();
  for (const [path, options] of Object.entries(routeOptions())) {
    app.get(path, { preHandler: mandateFastify(options) }, async (request) => visible(request.mandate));
  }
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, server: app.server, close: () => app.close() };
}

async function startExpress(): Promise<RunningServer> {
  const app = express();
  for (const [path, options] of Object.entries(routeOptions())) {
    app.get(path, mandateExpress(options), (req, res) => {
      res.json(visible(req.mandate));
    });
  }
  return listen(createServer(app));
}

async function startNodeHttp(): Promise<RunningServer> {
  const authorizers = new Map(Object.entries(routeOptions()).map(([path, options]) => [path, mandateNodeHttp(options)]));
  return serve(async (req, res) => {
    const authorize = authorizers.get(req.url ?? '');
    if (!authorize) return sendJson(res, 404, { error: 'not_found' });
    const claims = await authorize(req, res);
    if (!claims) return;
    sendJson(res, 200, visible(claims));
  });
}

beforeAll(async () => {
  issuer = await startIssuer();
  // A real RFC 7662 endpoint: checks the resource server's Basic credentials, answers from the
  // token's own claims unless its jti was revoked.
  introspection = await serve(async (req, res) => {
    const expected = `Basic ${Buffer.from(`${RS_CLIENT_ID}:${RS_CLIENT_SECRET}`).toString('base64')}`;
    if (req.headers.authorization !== expected) return sendJson(res, 401, { error: 'invalid_client' });
    const token = new URLSearchParams(await readBody(req)).get('token') ?? '';
    const claims = decodeSegment(token.split('.')[1] ?? '');
    if (typeof claims.jti !== 'string' || revokedJtis.has(claims.jti)) return sendJson(res, 200, { active: false });
    return sendJson(res, 200, { active: true, token_type: 'Bearer', ...claims });
  });
});

afterAll(async () => {
  await introspection.close();
  await issuer.close();
});

describe.each([
  { framework: 'Fastify', start: startFastify },
  { framework: 'Express', start: startExpress },
  { framework: 'node:http', start: startNodeHttp },
])('$framework middleware', ({ start }) => {
  let app: RunningServer;

  beforeAll(async () => {
    app = await start();
  });

  afterAll(async () => {
    await app.close();
  });

  const get = (path: string, authorization?: string): Promise<Response> =>
    fetch(`${app.url}${path}`, authorization === undefined ? {} : { headers: { authorization } });

  it('admits a valid token and hands its claims to the handler', async () => {
    const token = await issuer.mint({ audience: RESOURCE, scope: 'calendar.read' });
    const response = await get('/read', `Bearer ${token}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ sub: 'user-1', client_id: 'client-1', scope: 'calendar.read', org_id: 'org-1' });
  });

  it('answers a missing token with 401 and a challenge naming only resource_metadata', async () => {
    const response = await get('/read');
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${METADATA_URL}"`);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('answers a token lacking the scope with 403 insufficient_scope naming the needed scope', async () => {
    const token = await issuer.mint({ audience: RESOURCE, scope: 'calendar.read' });
    const response = await get('/write', `Bearer ${token}`);
    expect(response.status).toBe(403);
    const header = response.headers.get('www-authenticate') ?? '';
    expect(header).toContain('scope="calendar.write"');
    expect(header).toContain(`resource_metadata="${METADATA_URL}"`);
    expect(parseBearerChallenge(header)?.get('error')).toBe('insufficient_scope');
    expect(await response.json()).toMatchObject({ error: 'insufficient_scope' });
  });

  it.each([
    { name: 'a token for another resource', token: () => issuer.mint({ audience: OTHER_RESOURCE }), error: 'invalid_token' },
    {
      name: 'an expired token',
      token: () => issuer.mint({ audience: RESOURCE, claims: { iat: now() - 600, exp: now() - 60 } }),
      error: 'invalid_token',
    },
  ])('answers $name with 401 $error', async ({ token, error }) => {
    const response = await get('/read', `Bearer ${await token()}`);
    expect(response.status).toBe(401);
    const challenge = parseBearerChallenge(response.headers.get('www-authenticate') ?? '');
    expect(challenge?.get('error')).toBe(error);
    expect(challenge?.get('resource_metadata')).toBe(METADATA_URL);
    expect(await response.json()).toMatchObject({ error, error_description: expect.any(String) });
  });

  it('answers a non-Bearer Authorization header with 401 invalid_request', async () => {
    const response = await get('/read', 'Basic dXNlcjpwYXNz');
    expect(response.status).toBe(401);
    expect(parseBearerChallenge(response.headers.get('www-authenticate') ?? '')?.get('error')).toBe('invalid_request');
  });

  it('introspects on high-risk routes: admits an active token and refuses it once revoked', async () => {
    const token = await issuer.mint({ audience: RESOURCE, scope: 'calendar.read' });
    const admitted = await get('/high-risk', `Bearer ${token}`);
    expect(admitted.status).toBe(200);
    expect(await admitted.json()).toMatchObject({ sub: 'user-1', scope: 'calendar.read' });

    revokedJtis.add(decodeSegment(token.split('.')[1] ?? '').jti as string);
    // Still valid locally: only introspection sees the revocation.
    expect((await get('/read', `Bearer ${token}`)).status).toBe(200);
    const refused = await get('/high-risk', `Bearer ${token}`);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'invalid_token', error_description: 'the access token is not active' });
  });

  it('refuses a token for another resource on the introspected route', async () => {
    const token = await issuer.mint({ audience: OTHER_RESOURCE, scope: 'calendar.read' });
    const response = await get('/high-risk', `Bearer ${token}`);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: 'invalid_token' });
  });
});

describe('createRequestAuthorizer', () => {
  it('always rejects, never throws synchronously, for a missing token', async () => {
    const authorize = createRequestAuthorizer({ issuer: 'https://auth.example.com', resource: RESOURCE });
    const result = authorize(undefined);
    expect(result).toBeInstanceOf(Promise);
    await expect(result).rejects.toBeInstanceOf(MissingTokenError);
  });
});

describe('middleware factories', () => {
  it.each([
    { name: 'Fastify', create: mandateFastify },
    { name: 'Express', create: mandateExpress },
    { name: 'node:http', create: mandateNodeHttp },
  ])('$name refuses unsafe options at once', ({ create }) => {
    expect(() => create({ issuer: 'https://auth.example.com', resource: RESOURCE, algorithms: ['HS256'] })).toThrow(TypeError);
    expect(() => create({ issuer: 'https://auth.example.com', resource: 'not a url' })).toThrow(TypeError);
  });
});
