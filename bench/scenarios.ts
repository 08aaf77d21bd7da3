/** The benchmarks: a request autocannon repeats, prepared once per freshly started target. */
import type { OidcProviderOptions } from './targets/oidc-provider.js';
import { basicAuth, RESOURCE, type RunningTarget } from './targets/target.js';

export interface BenchRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface Scenario {
  name: string;
  description: string;
  /** When set, the same scenario is also run against oidc-provider configured this way. */
  peer?: OidcProviderOptions & { note?: string };
  /** When set, also run against the ceiling server (bench/peers/ceiling.ts): what this stack can reach at best. */
  ceiling?: boolean;
  /** What Mandate should reach (issue #15 item 8), judged on the median of the rounds. */
  target?: Target;
  /** Setup step, once per target: returns the request to repeat. */
  prepare(target: RunningTarget): Promise<BenchRequest>;
  /** Checks one 200 answer before measuring; throws when the target is not set up as intended. */
  check?(body: Record<string, unknown>): void;
}

/** At least `atLeast` times the peer's or the ceiling's rate in the same run, or an absolute rate. */
export type Target = { of: 'peer' | 'ceiling'; atLeast: number } | { requestsPerSec: number };

const get = (path: string) => async (): Promise<BenchRequest> => ({ method: 'GET', path });

function formPost(target: RunningTarget, path: string, form: Record<string, string>): BenchRequest {
  return {
    method: 'POST',
    path,
    headers: { authorization: basicAuth(target.client), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  };
}

function tokenRequest(target: RunningTarget): BenchRequest {
  return formPost(target, target.endpoints.token, { grant_type: 'client_credentials', resource: RESOURCE, scope: 'read' });
}

/** Sends a request once, outside the measurement. */
export async function send(target: RunningTarget, request: BenchRequest): Promise<Response> {
  return fetch(`${target.base}${request.path}`, { method: request.method, headers: request.headers, body: request.body });
}

async function mintToken(target: RunningTarget): Promise<string> {
  const res = await send(target, tokenRequest(target));
  const body = (await res.json()) as { access_token?: string };
  if (!res.ok || !body.access_token) throw new Error(`${target.name}: token request answered ${res.status}: ${JSON.stringify(body)}`);
  return body.access_token;
}

/** RFC 9068: a compact JWS with `typ: at+jwt`, signed ES256 like Mandate's tokens. */
function checkJwtAccessToken(body: Record<string, unknown>): void {
  const parts = String(body.access_token).split('.');
  const header = parts.length === 3 ? (JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString()) as Record<string, unknown>) : {};
  if (!/^(application\/)?at\+jwt$/i.test(String(header.typ)) || header.alg !== 'ES256') {
    throw new Error(`expected an ES256 at+jwt access token, got ${JSON.stringify(body)}`);
  }
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'discovery',
    description: 'GET /.well-known/oauth-authorization-server',
    prepare: get('/.well-known/oauth-authorization-server'),
  },
  { name: 'jwks', description: 'GET /oauth2/jwks', prepare: get('/oauth2/jwks') },
  {
    name: 'client-credentials',
    description: 'client_credentials token requests (client_secret_basic, resource indicator, ES256 JWT access token)',
    peer: { accessTokenFormat: 'jwt' },
    ceiling: true,
    target: { of: 'ceiling', atLeast: 0.85 },
    prepare: async (target) => tokenRequest(target),
    check: checkJwtAccessToken,
  },
  {
    name: 'introspection',
    description: 'introspection (client_secret_basic) of one access token minted beforehand',
    peer: {
      accessTokenFormat: 'opaque',
      note: 'oidc-provider refuses to introspect JWT access tokens (unsupported_token_type: "Structured JWT Tokens cannot be introspected", no option changes it), so its introspection is measured with its opaque access-token format (looked up in its in-memory adapter); Mandate introspects its ES256 JWT.',
    },
    ceiling: true,
    target: { of: 'peer', atLeast: 3 },
    prepare: async (target) => formPost(target, target.endpoints.introspection, { token: await mintToken(target) }),
    check: (body) => {
      if (body.active !== true) throw new Error(`expected active: true, got ${JSON.stringify(body)}`);
    },
  },
  {
    name: 'authz-check',
    description: 'POST /v1/authz/check: an agent acting for a member (roles of both, audited decision)',
    // Twice the 3,676/s measured when issue #15 was filed.
    target: { requestsPerSec: 7352 },
    prepare: async (target) => {
      if (!target.decision) throw new Error(`${target.name} has no decision endpoint`);
      return {
        method: 'POST',
        path: '/v1/authz/check',
        headers: { authorization: `Bearer ${target.decision.adminKey}`, 'content-type': 'application/json' },
        body: target.decision.body,
      };
    },
    check: (body) => {
      if (body.decision !== 'allow') throw new Error(`expected allow, got ${JSON.stringify(body)}`);
    },
  },
];
