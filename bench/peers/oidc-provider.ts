/**
 * oidc-provider (panva) set up as closely to Mandate's client_credentials path as it allows, for the
 * comparative benchmarks. Runs as its own process, never inside the harness:
 *
 *   node --import tsx bench/peers/oidc-provider.ts <port> [jwt|opaque]
 *
 * One confidential client (client_secret_basic, client_credentials, scope `read`) whose credentials
 * come from BENCH_CLIENT_ID / BENCH_CLIENT_SECRET; one resource server `https://api.bench.test/`
 * (resource indicators) with ES256-signed `at+jwt` access tokens, or opaque ones when asked; the
 * default in-memory adapter.
 */
import { generateKeyPairSync } from 'node:crypto';

const RESOURCE = 'https://api.bench.test/';

const port = Number(process.argv[2]);
const accessTokenFormat = process.argv[3] ?? 'jwt';
if (!Number.isInteger(port) || !['jwt', 'opaque'].includes(accessTokenFormat)) {
  process.stderr.write('usage: node --import tsx bench/peers/oidc-provider.ts <port> [jwt|opaque]\n');
  process.exit(2);
}

// Mandate's signing key type: an ES256 (P-256) key, generated at start like Mandate's first key.
const signingKey = {
  ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }),
  kid: 'bench-es256',
  alg: 'ES256',
  use: 'sig',
};

// Its notices about the in-memory adapter, the Node version and default policies are expected here.
const quiet = (line: unknown) => typeof line === 'string' && /^oidc-provider (NOTICE|WARNING)/.test(line);
for (const method of ['info', 'warn'] as const) {
  const original = console[method];
  console[method] = (...args: unknown[]) => {
    if (!quiet(args[0])) original(...args);
  };
}
// Imported after the filter is in place: it warns about the Node version as it loads.
const { default: Provider, errors } = await import('oidc-provider');

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: process.env.BENCH_CLIENT_ID ?? 'bench',
      client_secret: process.env.BENCH_CLIENT_SECRET ?? 'bench-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'read',
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys: [signingKey] },
  scopes: ['read'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx: unknown, resourceIndicator: string) => {
        // Like Mandate, only the registered resource is a valid target.
        if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget();
        return { scope: 'read', audience: RESOURCE, accessTokenFormat, jwt: { sign: { alg: 'ES256' } }, accessTokenTTL: 600 };
      },
    },
  },
});

provider.listen(port, '127.0.0.1');
