import { createLocalJWKSet, decodeJwt, type JSONWebKeySet, type JWTPayload, jwtVerify } from 'jose';
import type { Kysely } from 'kysely';
import { type Clock, isoAt } from '../../clock.js';
import { ReplayCache } from '../../crypto/replay-cache.js';
import { secretMatches } from '../../crypto/secret-token.js';
import type { EventBus } from '../../events/bus.js';
import { InvalidatingCache } from '../../events/cache.js';
import type { Database } from '../../store/schema.js';
import { InvalidClient, InvalidRequest } from '../errors.js';
import { type ClientMetadataDocuments, ClientMetadataError } from './client-metadata-documents.js';
import type { RegisteredClient } from './registered-client.js';
import { ClientStore } from './store.js';

export type { RegisteredClient } from './registered-client.js';

/** What the request presented, before anything is checked. */
interface PresentedCredentials {
  clientId: string;
  method: RegisteredClient['method'];
  secret?: string;
  assertion?: string;
}

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Asymmetric algorithms only for client assertions (RFC 7523 with private_key_jwt). */
const ASSERTION_ALGORITHMS = ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'];
/** An assertion may not live longer than this; its jti is remembered that long. */
const MAX_ASSERTION_LIFETIME_SECONDS = 300;

const FAILED = 'client authentication failed';

/**
 * RFC 6749 §2.3.1 client_secret_basic: `Basic base64(urlencode(id) ":" urlencode(secret))`.
 * Returns undefined for a header that is not Basic.
 */
function parseBasic(header: string | undefined): { clientId: string; secret: string } | undefined {
  const match = header ? /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(header) : null;
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new InvalidClient('malformed Basic credentials', true);
  try {
    return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    throw new InvalidClient('malformed Basic credentials', true);
  }
}

/** application/x-www-form-urlencoded decoding; generated ids and secrets have nothing to decode, so they skip it. */
function formDecode(value: string): string {
  if (!value.includes('%') && !value.includes('+')) return value;
  return decodeURIComponent(value.replace(/\+/g, ' '));
}

/** Which method the request used. RFC 6749 §2.3: a client MUST NOT use more than one. */
export function presentedCredentials(authorization: string | undefined, body: Record<string, string | undefined>): PresentedCredentials {
  const basic = parseBasic(authorization);
  if (body.client_assertion !== undefined || body.client_assertion_type !== undefined) {
    if (basic || body.client_secret !== undefined) throw new InvalidRequest('use exactly one client authentication method');
    if (body.client_assertion_type !== JWT_BEARER || !body.client_assertion)
      throw new InvalidRequest(`client_assertion_type must be ${JWT_BEARER}`);
    // RFC 7523 §3: the client is the assertion's subject; a client_id parameter, if sent, must agree.
    let sub: unknown;
    try {
      sub = decodeJwt(body.client_assertion).sub;
    } catch {
      throw new InvalidClient('client_assertion is not a JWT');
    }
    if (typeof sub !== 'string' || (body.client_id !== undefined && body.client_id !== sub))
      throw new InvalidClient('client assertion does not name the client');
    return { clientId: sub, method: 'private_key_jwt', assertion: body.client_assertion };
  }
  if (basic) {
    if (body.client_secret !== undefined) throw new InvalidRequest('use exactly one client authentication method');
    if (body.client_id !== undefined && body.client_id !== basic.clientId)
      throw new InvalidRequest('client_id does not match the authenticated client');
    return { clientId: basic.clientId, method: 'client_secret_basic', secret: basic.secret };
  }
  if (!body.client_id) throw new InvalidClient('client authentication is required');
  if (body.client_secret !== undefined) return { clientId: body.client_id, method: 'client_secret_post', secret: body.client_secret };
  return { clientId: body.client_id, method: 'none' };
}

export interface ClientAuthenticatorDeps {
  db: Kysely<Database>;
  clock: Clock;
  bus: EventBus;
  cacheTtlMs: number;
  /** RFC 7523 §3: what a client assertion's `aud` may name: the issuer and the token endpoint. */
  assertionAudiences: string[];
  /** Resolves URL client ids (client ID metadata documents); absent when the feature is off. */
  metadataDocuments?: ClientMetadataDocuments;
}

/**
 * Authenticates clients at the token, introspection and revocation endpoints. Secrets are
 * SHA-256 digests compared in constant time (docs/architecture.md §7); the client and its digests are
 * read through a cache that `clients.changed` invalidates on every node.
 */
export class ClientAuthenticator {
  private readonly clients: ClientStore;
  private readonly cache: InvalidatingCache<RegisteredClient>;

  private readonly replays: ReplayCache;

  constructor(private readonly deps: ClientAuthenticatorDeps) {
    this.clients = new ClientStore(deps.db);
    this.replays = new ReplayCache(deps.db);
    this.cache = new InvalidatingCache(deps.clock, deps.cacheTtlMs);
    deps.bus.subscribe('clients.changed', ({ id }) => this.cache.invalidate(id));
    deps.bus.subscribe('bus.resynced', () => this.cache.clear());
  }

  async authenticate(authorization: string | undefined, body: Record<string, string | undefined>): Promise<RegisteredClient> {
    const presented = presentedCredentials(authorization, body);
    const usedBasic = presented.method === 'client_secret_basic';
    const client = await this.lookup(presented.clientId).catch((error: unknown) => {
      if (error instanceof ClientMetadataError) throw new InvalidClient(FAILED, usedBasic, error.message);
      throw error;
    });
    // One message for unknown client, wrong secret and wrong method, so ids cannot be probed.
    if (!client?.active) throw new InvalidClient(FAILED, usedBasic, client ? 'client disabled' : 'unknown client');
    if (client.method !== presented.method)
      throw new InvalidClient(FAILED, usedBasic, `registered for ${client.method}, used ${presented.method}`);
    if (presented.secret !== undefined && !this.secretIsLive(client, presented.secret)) {
      throw new InvalidClient(FAILED, usedBasic, 'wrong or expired secret');
    }
    // Each method proves possession its own way; a client without a proof only passes as `none`.
    if (presented.method === 'private_key_jwt') await this.checkAssertion(client, presented.assertion ?? '');
    return client;
  }

  /** The client an id names; a URL id is resolved from its metadata document (throws ClientMetadataError). */
  async lookup(clientId: string): Promise<RegisteredClient | undefined> {
    if (clientId.startsWith('http') && this.deps.metadataDocuments?.accepts(clientId)) return this.deps.metadataDocuments.resolve(clientId);
    if (!/^cli_[0-9a-z]{26}$/.test(clientId)) return undefined;
    return this.cache.get(clientId, async () => {
      const row = await this.clients.find(clientId);
      if (!row) return undefined;
      const secrets = await this.clients.liveSecrets(clientId, isoAt(this.deps.clock));
      return {
        id: row.id,
        name: row.name,
        orgId: row.org_id,
        agentId: row.agent_id,
        type: row.type,
        method: row.token_endpoint_auth_method,
        grantTypes: new Set(JSON.parse(row.grant_types) as string[]),
        scopes: row.scope.split(' ').filter(Boolean),
        resources: JSON.parse(row.resources) as string[],
        dynamic: row.source !== 'admin',
        redirectUris: JSON.parse(row.redirect_uris) as string[],
        active: row.status === 'active',
        ...(row.jwks && { jwks: JSON.parse(row.jwks) as JSONWebKeySet }),
        requirePar: row.require_par === 1,
        cibaNotificationEndpoint: row.backchannel_client_notification_endpoint ?? null,
        secrets: secrets.map((s) => ({ hash: s.secret_hash, expiresAt: s.expires_at ? Date.parse(s.expires_at) : null })),
      };
    });
  }

  /**
   * RFC 7523 §3: signed by one of the client's keys, `iss` = `sub` = client id, `aud` this server
   * (issuer or token endpoint), short-lived, and its `jti` never seen before (replay).
   */
  private async checkAssertion(client: RegisteredClient, assertion: string): Promise<void> {
    if (!client.jwks) throw new InvalidClient(FAILED, false, 'no jwks registered');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(assertion, createLocalJWKSet(client.jwks), {
        issuer: client.id,
        subject: client.id,
        audience: this.deps.assertionAudiences,
        algorithms: ASSERTION_ALGORITHMS,
        requiredClaims: ['exp', 'jti'],
        clockTolerance: 5,
        currentDate: new Date(this.deps.clock.now()),
      }));
    } catch (error) {
      throw new InvalidClient(FAILED, false, `client assertion: ${(error as { code?: string }).code ?? 'invalid'}`);
    }
    // RFC 7519 §4.1.3: `aud` is a string or an array of strings; jose matches one member and
    // ignores the rest, so an array smuggling other values is refused here.
    if (Array.isArray(payload.aud) && !payload.aud.every((aud) => typeof aud === 'string'))
      throw new InvalidClient(FAILED, false, 'client assertion: aud holds a non-string');
    const now = Math.floor(this.deps.clock.now() / 1000);
    if ((payload.exp as number) - now > MAX_ASSERTION_LIFETIME_SECONDS)
      throw new InvalidClient(FAILED, false, 'client assertion lives too long');
    const expiresAt = new Date((payload.exp as number) * 1000);
    if (!(await this.replays.firstUse(`client_assertion ${client.id}`, String(payload.jti), expiresAt))) {
      throw new InvalidClient(FAILED, false, 'client assertion replayed');
    }
    // Forget credentials that have expired anyway, a few at a time.
    await this.replays.prune(new Date(this.deps.clock.now()));
  }

  private secretIsLive(client: RegisteredClient, secret: string): boolean {
    const now = this.deps.clock.now();
    let ok = false;
    // Every live secret is compared, so timing does not tell which one matched.
    for (const s of client.secrets) if (secretMatches(secret, s.hash) && (s.expiresAt === null || s.expiresAt > now)) ok = true;
    return ok;
  }
}
