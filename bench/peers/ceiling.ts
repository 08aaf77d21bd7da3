/**
 * The ceiling for any Fastify server that mints ES256 access tokens on this machine: Fastify 5 with
 * @fastify/formbody, a client_secret_basic check (SHA-256, constant time) and one node:crypto ES256
 * signature per request, and nothing else: no storage, no audit, no revocation state, no logging.
 * No real authorization server can be faster on this stack, so it bounds what a ratio against
 * oidc-provider can reach. `/introspect` is the same for introspection: the client check, then the
 * claims of a token it minted, from a Map (no signature check, no liveness, no headers beyond
 * Fastify's). Runs as its own process:
 *
 *   node --import tsx bench/peers/ceiling.ts <port>
 *
 * Client credentials come from BENCH_CLIENT_ID / BENCH_CLIENT_SECRET.
 */
import { createHash, generateKeyPairSync, randomUUID, sign, timingSafeEqual } from 'node:crypto';
import formbody from '@fastify/formbody';
import Fastify from 'fastify';

const RESOURCE = 'https://api.bench.test/';
const port = Number(process.argv[2]);
const clientId = process.env.BENCH_CLIENT_ID ?? 'bench';
const secretHash = createHash('sha256')
  .update(process.env.BENCH_CLIENT_SECRET ?? 'bench-secret')
  .digest();
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: 'ceiling' })).toString('base64url');

/** Claims of the tokens minted, for /introspect. */
const minted = new Map<string, Record<string, unknown>>();

function authenticated(authorization: string | undefined): boolean {
  const [id, secret] = Buffer.from((authorization ?? '').slice(6), 'base64')
    .toString()
    .split(':');
  const given = createHash('sha256')
    .update(decodeURIComponent(secret ?? ''))
    .digest();
  return decodeURIComponent(id ?? '') === clientId && timingSafeEqual(given, secretHash);
}

const app = Fastify({ logger: false });
await app.register(formbody);
app.get('/healthz', async () => ({ status: 'ok' }));
app.post('/introspect', async (request, reply) => {
  if (!authenticated(request.headers.authorization)) return reply.code(401).send({ error: 'invalid_client' });
  const claims = minted.get((request.body as Record<string, string>).token ?? '');
  return claims ? { active: true, token_type: 'Bearer', ...claims } : { active: false };
});
app.post('/token', async (request, reply) => {
  if (!authenticated(request.headers.authorization)) return reply.code(401).send({ error: 'invalid_client' });
  const body = request.body as Record<string, string>;
  if (body.grant_type !== 'client_credentials' || body.resource !== RESOURCE) return reply.code(400).send({ error: 'invalid_request' });
  const now = Math.floor(Date.now() / 1000);
  const payload = {
    iss: `http://127.0.0.1:${port}`,
    sub: clientId,
    aud: RESOURCE,
    client_id: clientId,
    scope: 'read',
    jti: randomUUID(),
    iat: now,
    exp: now + 600,
  };
  const input = `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  // Only the first few are kept: /introspect needs one, /token is measured without growing a Map.
  if (minted.size < 10) minted.set(`${input}.${signature}`, payload);
  return { access_token: `${input}.${signature}`, token_type: 'Bearer', expires_in: 600, scope: 'read' };
});
await app.listen({ port, host: '127.0.0.1' });
