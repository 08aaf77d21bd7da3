import type { Kysely } from 'kysely';
import { type Clock, isoAt } from '../../clock.js';
import { secretMatches } from '../../crypto/secret-token.js';
import type { EventBus } from '../../events/bus.js';
import { InvalidatingCache } from '../../events/cache.js';
import type { ClientsTable, Database } from '../../store/schema.js';
import { InvalidClient, InvalidRequest } from '../errors.js';
import { type ClientMetadataDocuments, ClientMetadataError } from './client-metadata-documents.js';
import { ClientStore } from './store.js';

/** A client as the protocol endpoints see it, with the digests of its live secrets. */
export interface RegisteredClient {
  id: string;
  name: string;
  orgId: string | null;
  agentId: string | null;
  type: ClientsTable['type'];
  method: ClientsTable['token_endpoint_auth_method'];
  grantTypes: ReadonlySet<string>;
  scopes: readonly string[];
  resources: readonly string[];
  /**
   * Registered by itself (RFC 7591) rather than by an administrator: it belongs to no
   * organization, may ask for any registered resource, and, when it registered no scope, for
   * any scope the resource defines. The user's organization and consent bound it instead.
   */
  dynamic: boolean;
  redirectUris: readonly string[];
  active: boolean;
  secrets: readonly { hash: string; expiresAt: number | null }[];
}

/** What the request presented, before anything is checked. */
interface PresentedCredentials {
  clientId: string;
  method: RegisteredClient['method'];
  secret?: string;
}

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
    return {
      clientId: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')),
      secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')),
    };
  } catch {
    throw new InvalidClient('malformed Basic credentials', true);
  }
}

/** Which method the request used. RFC 6749 §2.3: a client MUST NOT use more than one. */
export function presentedCredentials(authorization: string | undefined, body: Record<string, string | undefined>): PresentedCredentials {
  const basic = parseBasic(authorization);
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

/**
 * Authenticates clients at the token, introspection and revocation endpoints. Secrets are
 * SHA-256 digests compared in constant time (DESIGN.md §7); the client and its digests are
 * read through a cache that `clients.changed` invalidates on every node.
 */
export class ClientAuthenticator {
  private readonly clients: ClientStore;
  private readonly cache: InvalidatingCache<RegisteredClient>;

  constructor(
    db: Kysely<Database>,
    private readonly clock: Clock,
    bus: EventBus,
    cacheTtlMs: number,
    /** Resolves URL client ids (client ID metadata documents); absent when the feature is off. */
    private readonly metadataDocuments?: ClientMetadataDocuments,
  ) {
    this.clients = new ClientStore(db);
    this.cache = new InvalidatingCache(clock, cacheTtlMs);
    bus.subscribe('clients.changed', ({ id }) => this.cache.invalidate(id));
    bus.subscribe('bus.resynced', () => this.cache.clear());
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
    if (presented.secret !== undefined && !this.secretIsLive(client, presented.secret))
      throw new InvalidClient(FAILED, usedBasic, 'wrong or expired secret');
    return client;
  }

  /** The client an id names; a URL id is resolved from its metadata document (throws ClientMetadataError). */
  async lookup(clientId: string): Promise<RegisteredClient | undefined> {
    if (this.metadataDocuments?.accepts(clientId)) return this.metadataDocuments.resolve(clientId);
    if (!/^cli_[0-9a-z]{26}$/.test(clientId)) return undefined;
    return this.cache.get(clientId, async () => {
      const row = await this.clients.find(clientId);
      if (!row) return undefined;
      const secrets = await this.clients.liveSecrets(clientId, isoAt(this.clock));
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
        secrets: secrets.map((s) => ({ hash: s.secret_hash, expiresAt: s.expires_at ? Date.parse(s.expires_at) : null })),
      };
    });
  }

  private secretIsLive(client: RegisteredClient, secret: string): boolean {
    const now = this.clock.now();
    let ok = false;
    // Every live secret is compared, so timing does not tell which one matched.
    for (const s of client.secrets) if (secretMatches(secret, s.hash) && (s.expiresAt === null || s.expiresAt > now)) ok = true;
    return ok;
  }
}
