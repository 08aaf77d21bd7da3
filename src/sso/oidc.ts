import * as client from 'openid-client';
import { InvalidRequestError, MandateError } from '../errors.js';
import { OutboundRequestError, outboundRequest } from '../outbound/request.js';
import type { SsoProtocolDeps } from './protocol.js';
import {
  type PendingSsoLogin,
  type SsoBegun,
  type SsoCallback,
  type SsoConnection,
  type SsoIdentity,
  type SsoProtocol,
  SsoRejected,
  ssoCallbackUrl,
} from './protocol.js';
import type { OidcSettingsInput } from './schemas.js';

/** What an OIDC connection stores (its client secret is sealed apart, never here). */
export type OidcSettings = {
  issuer: string;
  client_id: string;
  scopes: string[];
  claims: { email: string; name: string; groups: string };
};

const DEFAULT_SCOPES = ['openid', 'email', 'profile'];
/** Asymmetric JWS algorithms only: `none` proves nothing, and HS* is keyed with the client secret, which Mandate holds too. */
const ASYMMETRIC_ALG = /^(?:(?:RS|PS|ES)(?:256|384|512)|EdDSA|Ed25519)$/;
/** How long a connection's discovered metadata (and the JWKS cached with it) is reused. */
const DISCOVERY_TTL_MS = 15 * 60_000;
const HTTP_TIMEOUT_MS = 10_000;
const MAX_RESPONSE_BYTES = 1_000_000;
const EMAIL = /^[^@\s]+@[^@\s]+$/;

/**
 * OpenID Connect login (authorization code + PKCE S256, state, nonce) with openid-client. Every
 * request to the IdP goes through the guarded outbound client (no private addresses, no redirects).
 */
export class OidcProtocol implements SsoProtocol<OidcSettings, OidcSettingsInput> {
  readonly protocol = 'oidc' as const;
  private readonly configurations = new Map<string, { version: string; config: client.Configuration; expiresAt: number }>();

  constructor(private readonly deps: Pick<SsoProtocolDeps, 'clock' | 'issuer' | 'allowLoopback'>) {}

  async prepareSettings(input: OidcSettingsInput): Promise<OidcSettings> {
    // The admin API validated the shape (schemas.ts); this guards callers that bypass it.
    if (typeof input?.issuer !== 'string' || typeof input.client_id !== 'string' || !input.client_id) {
      throw new InvalidRequestError('oidc needs an issuer and a client_id');
    }
    const issuer = this.issuerUrl(input.issuer);
    let config: client.Configuration;
    try {
      config = await this.discover(issuer, input.client_id, undefined);
    } catch (error) {
      throw new InvalidRequestError(`OIDC discovery at ${issuer.href} failed: ${reasonOf(error)}`);
    }
    const metadata = config.serverMetadata();
    // OpenID Connect Discovery 1.0 §4.3: the discovered issuer must be exactly the configured one.
    if (new URL(metadata.issuer).href !== issuer.href) throw new InvalidRequestError('the discovery document names another issuer');
    if (!metadata.authorization_endpoint || !metadata.token_endpoint || !metadata.jwks_uri) {
      throw new InvalidRequestError('the discovery document lacks an authorization, token or jwks_uri endpoint');
    }
    if (metadata.response_types_supported && !metadata.response_types_supported.includes('code')) {
      throw new InvalidRequestError('the identity provider does not support the authorization code flow');
    }
    const algs = metadata.id_token_signing_alg_values_supported;
    if (algs && !algs.some((alg) => ASYMMETRIC_ALG.test(alg))) {
      throw new InvalidRequestError('the identity provider signs ID tokens with no asymmetric algorithm');
    }
    return {
      issuer: metadata.issuer,
      client_id: input.client_id,
      scopes: [...new Set(['openid', ...(input.scopes ?? DEFAULT_SCOPES)])],
      claims: { email: input.claims?.email ?? 'email', name: input.claims?.name ?? 'name', groups: input.claims?.groups ?? 'groups' },
    };
  }

  publicSettings(settings: OidcSettings): Record<string, unknown> {
    return { issuer: settings.issuer, client_id: settings.client_id, scopes: settings.scopes, claims: settings.claims };
  }

  async begin(connection: SsoConnection<OidcSettings>, state: string): Promise<SsoBegun> {
    const config = await this.configurationOf(connection).catch((error: unknown) => {
      throw new MandateError('provider_unavailable', `the identity provider could not be reached: ${reasonOf(error)}`);
    });
    const codeVerifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      response_type: 'code',
      redirect_uri: ssoCallbackUrl(this.deps.issuer, connection.row.id),
      scope: connection.settings.scopes.join(' '),
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
    return { send: { kind: 'redirect', location: url.href }, nonce, codeVerifier };
  }

  async complete(connection: SsoConnection<OidcSettings>, callback: SsoCallback, pending: PendingSsoLogin): Promise<SsoIdentity> {
    if (!pending.nonce || !pending.codeVerifier) throw new SsoRejected('the login state has no nonce or PKCE verifier');
    const { settings } = connection;
    let config: client.Configuration;
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      config = await this.configurationOf(connection);
      // Checks state, RFC 9207 `iss` (when the IdP advertises it), PKCE, and the ID token's
      // signature (enableNonRepudiationChecks), alg, iss, aud, azp, exp, iat and nonce.
      tokens = await client.authorizationCodeGrant(config, callback.url, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (error) {
      throw new SsoRejected(reasonOf(error));
    }
    const idToken = tokens.id_token;
    const claims = tokens.claims();
    if (!idToken || !claims) throw new SsoRejected('the identity provider returned no ID token');
    const alg = headerAlg(idToken);
    if (!ASYMMETRIC_ALG.test(alg))
      throw new SsoRejected(`the ID token is signed with ${alg || 'no algorithm'}; an asymmetric signature is required`);
    // OIDC Core §3.1.3.7 (6): an azp, when present, must be this client.
    if (claims.azp !== undefined && claims.azp !== settings.client_id)
      throw new SsoRejected('the ID token was issued to another client (azp)');

    let asserted: Record<string, unknown> = claims;
    const lacks = (name: string) => asserted[name] === undefined;
    if ((lacks(settings.claims.email) || lacks(settings.claims.groups)) && config.serverMetadata().userinfo_endpoint) {
      try {
        const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
        asserted = { ...userinfo, ...claims };
      } catch (error) {
        if (lacks(settings.claims.email)) throw new SsoRejected(`the userinfo request failed: ${reasonOf(error)}`);
      }
    }
    const email = asserted[settings.claims.email];
    if (typeof email !== 'string' || !EMAIL.test(email)) throw new SsoRejected(`claim ${settings.claims.email} is missing or not an email`);
    if (asserted.email_verified === false || asserted.email_verified === 'false') {
      throw new SsoRejected('the identity provider says the email address is not verified');
    }
    const name = asserted[settings.claims.name];
    const groups = asserted[settings.claims.groups];
    return {
      subject: claims.sub,
      email,
      ...(typeof name === 'string' && name && { name: name.slice(0, 200) }),
      groups: groupsOf(groups),
      groupsAsserted: groups !== undefined,
      detail: {
        ...(typeof claims.acr === 'string' && { acr: claims.acr }),
        ...(Array.isArray(claims.amr) && { idp_amr: claims.amr }),
      },
    };
  }

  /** The connection's client configuration, discovered once per TTL and per connection version. */
  private async configurationOf(connection: SsoConnection<OidcSettings>): Promise<client.Configuration> {
    const { row, settings } = connection;
    const now = this.deps.clock.now();
    const cached = this.configurations.get(row.id);
    if (cached && cached.version === row.updated_at && cached.expiresAt > now) return cached.config;
    const config = await this.discover(this.issuerUrl(settings.issuer), settings.client_id, connection.secret);
    if (config.serverMetadata().issuer !== settings.issuer) throw new Error('the discovery document names another issuer');
    this.configurations.set(row.id, { version: row.updated_at, config, expiresAt: now + DISCOVERY_TTL_MS });
    return config;
  }

  private async discover(issuer: URL, clientId: string, secret: string | undefined): Promise<client.Configuration> {
    const allowLoopback = this.deps.allowLoopback;
    const execute: ((config: client.Configuration) => void)[] = [client.enableNonRepudiationChecks];
    if (allowLoopback && issuer.protocol === 'http:') execute.push(client.allowInsecureRequests);
    const config = await client.discovery(issuer, clientId, undefined, client.None(), {
      [client.customFetch]: guardedFetch(allowLoopback),
      timeout: HTTP_TIMEOUT_MS / 1000,
      execute,
    });
    if (!secret) return config;
    // RFC 8414 §2: without token_endpoint_auth_methods_supported, client_secret_basic is the default.
    const methods = config.serverMetadata().token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
    const auth =
      !methods.includes('client_secret_basic') && methods.includes('client_secret_post')
        ? client.ClientSecretPost(secret)
        : client.ClientSecretBasic(secret);
    const authenticated = new client.Configuration(config.serverMetadata(), clientId, undefined, auth);
    authenticated[client.customFetch] = guardedFetch(allowLoopback);
    authenticated.timeout = HTTP_TIMEOUT_MS / 1000;
    for (const extension of execute) extension(authenticated);
    return authenticated;
  }

  private issuerUrl(value: string): URL {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new InvalidRequestError('issuer is not an absolute URL');
    }
    if (url.protocol !== 'https:' && !(this.deps.allowLoopback && url.protocol === 'http:')) {
      throw new InvalidRequestError('issuer must be an https URL');
    }
    if (url.search || url.hash || url.username || url.password)
      throw new InvalidRequestError('issuer must have no query, fragment or credentials');
    return url;
  }
}

/** openid-client's fetch, through the SSRF-guarded outbound client. */
function guardedFetch(allowLoopback: boolean): client.CustomFetch {
  return async (url, options) => {
    const { body } = options;
    if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof URLSearchParams)) {
      throw new OutboundRequestError('unsupported request body');
    }
    const response = await outboundRequest({
      method: options.method,
      url: new URL(url),
      headers: options.headers,
      body: body === undefined || body === null ? undefined : body.toString(),
      allowLoopback,
      timeoutMs: HTTP_TIMEOUT_MS,
      maxBytes: MAX_RESPONSE_BYTES,
    });
    const headers = new Headers();
    for (const [name, value] of Object.entries(response.headers)) {
      if (value === undefined || ['content-length', 'content-encoding', 'transfer-encoding'].includes(name)) continue;
      for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
    }
    const empty = [101, 204, 205, 304].includes(response.status);
    return new Response(empty ? null : response.body, { status: response.status, headers });
  };
}

function headerAlg(jwt: string): string {
  try {
    const header = JSON.parse(Buffer.from(jwt.split('.')[0] ?? '', 'base64url').toString('utf8')) as { alg?: unknown };
    return typeof header.alg === 'string' ? header.alg : '';
  } catch {
    return '';
  }
}

function groupsOf(value: unknown): string[] {
  const list = Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
  return list.filter((group): group is string => typeof group === 'string' && group.length > 0 && group.length <= 256).slice(0, 500);
}

/** oauth4webapi's errors under openid-client's generic ones: their messages name the exact check. */
const CHECK_ERRORS = new Set(['OperationProcessingError', 'UnsupportedOperationError']);

/** A short reason naming the failed check; library messages name checks, never token contents. */
function reasonOf(error: unknown): string {
  if (error instanceof client.AuthorizationResponseError) return `the identity provider answered ${error.error}`;
  if (error instanceof client.ResponseBodyError) return `the token endpoint answered ${error.error}`;
  let specific: Error | undefined;
  for (let cause: unknown = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth += 1) {
    if (cause instanceof OutboundRequestError) return `the identity provider could not be reached (${cause.message})`;
    if (!specific && CHECK_ERRORS.has(cause.name)) specific = cause;
  }
  const chosen = specific ?? (error instanceof Error ? error : undefined);
  return chosen ? chosen.message.slice(0, 200) : 'unexpected error';
}
