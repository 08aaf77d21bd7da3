/**
 * XCorp's own identity provider for the SSO tests: oidc-provider (panva) on loopback, an OpenID
 * Provider with one confidential client (Mandate), accounts carrying `email`, `email_verified`,
 * `name` and a `groups` claim, and its devInteractions login page (any password). Consent is
 * pre-granted, as for an app an enterprise administrator has approved.
 *
 * `tamper()` rewrites the next ID tokens the token endpoint returns, to play a hostile or broken
 * IdP: re-signed with the IdP's own key after changing claims (another audience, another nonce),
 * unsigned (`alg: none`), or signed with HS256 keyed by the client secret.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { importJWK, type JWK, SignJWT } from 'jose';
import { freePort } from './ports.js';

export interface IdpAccount {
  email: string;
  email_verified?: boolean;
  name?: string;
  /** Omitted: the account carries no groups claim at all. */
  groups?: string[];
}

export interface IdTokenTamper {
  /** How to sign the rewritten token: the IdP's key, no signature, or HMAC with the client secret. */
  sign: 'idp' | 'none' | 'HS256';
  claims?: (claims: Record<string, unknown>) => Record<string, unknown>;
}

export interface EnterpriseIdp {
  /** `http://127.0.0.1:<port>` */
  issuer: string;
  client: { id: string; secret: string };
  /** Replaces the client's registered redirect URIs (Mandate's connection callbacks, known once created). */
  setRedirectUris(uris: string[]): Promise<void>;
  /** Sets or clears the ID-token rewriting of the token endpoint. */
  tamper(rule: IdTokenTamper | undefined): void;
  /** Token-endpoint requests answered so far. */
  tokenRequests(): number;
  close(): Promise<void>;
}

interface KoaContext {
  path: string;
  method: string;
  status: number;
  body: unknown;
  oidc?: {
    client?: { clientId: string };
    session?: { accountId?: string; grantIdFor(clientId: string): string | undefined };
    result?: { consent?: { grantId?: string } };
    provider: { Grant: GrantConstructor };
  };
}
interface GrantInstance {
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  save(): Promise<string>;
}
type GrantConstructor = (new (init: {
  clientId: string;
  accountId: string;
}) => GrantInstance) & {
  find(id: string): Promise<GrantInstance | undefined>;
};
interface ProviderInstance {
  use(middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void;
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  Client: { adapter: { upsert(id: string, payload: object): Promise<void> } };
}
type ProviderConstructor = new (issuer: string, configuration: object) => ProviderInstance;

const noisy = (line: unknown) => typeof line === 'string' && /oidc-provider (NOTICE|WARNING)/.test(line);
for (const method of ['info', 'warn'] as const) {
  const original = console[method];
  console[method] = (...args: unknown[]) => {
    if (!noisy(args[0])) original(...args);
  };
}

const SCOPES = 'openid email profile groups';

export interface EnterpriseIdpOptions {
  /**
   * Extra `id_token_signing_alg_values_supported` the discovery document advertises (a careless
   * IdP listing `none` or `HS256`), so a client cannot lean on the metadata to refuse them.
   */
  advertiseAlgorithms?: string[];
}

export async function startEnterpriseIdp(accounts: Record<string, IdpAccount>, options: EnterpriseIdpOptions = {}): Promise<EnterpriseIdp> {
  const { default: Provider } = (await import('oidc-provider')) as unknown as { default: ProviderConstructor };
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const client = { id: 'mandate', secret: randomBytes(24).toString('base64url') };
  const signingJwk = {
    ...(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }) as JWK),
    kid: 'xcorp-idp-1',
    alg: 'ES256',
    use: 'sig',
  };
  const signingKey = await importJWK(signingJwk, 'ES256');

  const provider = new Provider(issuer, {
    jwks: { keys: [signingJwk] },
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      // Cookies ignore ports: keep clear of other loopback servers' cookies.
      names: { session: 'xidp_session', interaction: 'xidp_interaction', resume: 'xidp_interaction_resume' },
    },
    scopes: SCOPES.split(' '),
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    // The claims land in the ID token itself, as most enterprise IdPs configure it.
    conformIdTokenClaims: false,
    findAccount: async (_ctx: unknown, id: string) => ({
      accountId: id,
      claims: async () => {
        const account = accounts[id] ?? { email: `${id}@xcorp.test` };
        return {
          sub: id,
          email: account.email,
          email_verified: account.email_verified ?? true,
          ...(account.name && { name: account.name }),
          ...(account.groups && { groups: account.groups }),
        };
      },
    }),
    features: { devInteractions: { enabled: true }, userinfo: { enabled: true } },
    pkce: { required: () => true },
    loadExistingGrant: async (ctx: KoaContext) => {
      const oidc = ctx.oidc;
      if (!oidc?.client || !oidc.session?.accountId) return undefined;
      const existing = oidc.result?.consent?.grantId ?? oidc.session.grantIdFor(oidc.client.clientId);
      if (existing) return oidc.provider.Grant.find(existing);
      const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
      grant.addOIDCScope(SCOPES);
      grant.addOIDCClaims(['email', 'email_verified', 'name', 'groups']);
      await grant.save();
      return grant;
    },
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
  });

  const setRedirectUris = (uris: string[]) =>
    provider.Client.adapter.upsert(client.id, {
      client_id: client.id,
      client_secret: client.secret,
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: uris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      scope: SCOPES,
      id_token_signed_response_alg: 'ES256',
    });
  await setRedirectUris(['http://localhost/placeholder']);

  let rule: IdTokenTamper | undefined;
  let tokenRequests = 0;
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/.well-known/openid-configuration' && options.advertiseAlgorithms) {
      const metadata = ctx.body as { id_token_signing_alg_values_supported?: string[] };
      metadata.id_token_signing_alg_values_supported = [
        ...(metadata.id_token_signing_alg_values_supported ?? []),
        ...options.advertiseAlgorithms,
      ];
    }
    if (ctx.method !== 'POST' || ctx.path !== '/token') return;
    tokenRequests += 1;
    const body = ctx.body as { id_token?: string } | undefined;
    if (!rule || ctx.status !== 200 || !body?.id_token) return;
    const claims = JSON.parse(Buffer.from(body.id_token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    const rewritten = rule.claims ? rule.claims(claims) : claims;
    body.id_token = await signAs(rule.sign, rewritten);
  });

  async function signAs(sign: IdTokenTamper['sign'], claims: Record<string, unknown>): Promise<string> {
    if (sign === 'none') {
      const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims)}.`;
    }
    if (sign === 'HS256') {
      return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(client.secret));
    }
    return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: signingJwk.kid }).sign(signingKey);
  }

  const handler = provider.callback();
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });

  return {
    issuer,
    client,
    setRedirectUris,
    tamper: (next) => {
      rule = next;
    },
    tokenRequests: () => tokenRequests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
