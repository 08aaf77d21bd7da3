import type { Clock } from '../../clock.js';
import { SafeFetchError, safeFetch } from '../../outbound/safe-fetch.js';
import { OAuthError } from '../errors.js';
import type { RegisteredClient } from './registered-client.js';
import { checkRegisteredRedirect } from './registration.js';

/** Documents are small: the draft suggests 5 KB as a limit an authorization server may apply. */
const MAX_BYTES = 5 * 1024;
const TIMEOUT_MS = 5000;
const DEFAULT_CACHE_SECONDS = 300;
const MIN_CACHE_SECONDS = 60;
const MAX_CACHE_SECONDS = 86_400;
const FAILURE_CACHE_SECONDS = 30;
const MAX_CACHED_DOCUMENTS = 10_000;

/** Why a client ID metadata document was not accepted; the description is safe to show. */
export class ClientMetadataError extends Error {
  override name = 'ClientMetadataError';
}

/**
 * A client_id that is a URL naming a client ID metadata document
 * (draft-ietf-oauth-client-id-metadata-document §3): https with a path component.
 */
export function isMetadataDocumentUrl(clientId: string, options: { allowLoopback: boolean }): boolean {
  let url: URL;
  try {
    url = new URL(clientId);
  } catch {
    return false;
  }
  const schemeOk = url.protocol === 'https:' || (options.allowLoopback && url.protocol === 'http:');
  return schemeOk && url.pathname.length > 1 && !url.hash && !url.username && !url.password;
}

/** The client a document describes, after the draft's checks (§4.1): the id must equal the URL. */
export function clientFromDocument(clientId: string, body: string): RegisteredClient {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(body) as Record<string, unknown>;
  } catch {
    throw new ClientMetadataError('the client metadata document is not JSON');
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new ClientMetadataError('the client metadata document is not a JSON object');
  if (doc.client_id !== clientId) throw new ClientMetadataError('the document’s client_id differs from the URL it was fetched from');
  const method = doc.token_endpoint_auth_method ?? 'none';
  // A shared secret cannot be published in a public document.
  if (method !== 'none') throw new ClientMetadataError('token_endpoint_auth_method must be none for a client metadata document');
  const redirectUris = doc.redirect_uris;
  if (!Array.isArray(redirectUris) || redirectUris.length === 0 || !redirectUris.every((u) => typeof u === 'string')) {
    throw new ClientMetadataError('redirect_uris must be a non-empty array');
  }
  try {
    for (const uri of redirectUris as string[]) checkRegisteredRedirect(uri, 'native');
  } catch (error) {
    throw new ClientMetadataError(error instanceof OAuthError ? error.description : 'a redirect URI is not allowed');
  }
  const grantTypes = (doc.grant_types ?? ['authorization_code']) as unknown;
  if (!Array.isArray(grantTypes) || !grantTypes.every((g) => g === 'authorization_code' || g === 'refresh_token')) {
    throw new ClientMetadataError('grant_types may contain authorization_code and refresh_token');
  }
  const name = typeof doc.client_name === 'string' && doc.client_name.length <= 200 ? doc.client_name : new URL(clientId).host;
  const scope = typeof doc.scope === 'string' ? doc.scope.split(' ').filter(Boolean) : [];
  return {
    id: clientId,
    name,
    orgId: null,
    agentId: null,
    type: 'public',
    method: 'none',
    grantTypes: new Set(grantTypes as string[]),
    scopes: scope,
    resources: [],
    dynamic: true,
    redirectUris: redirectUris as string[],
    active: true,
    secrets: [],
  };
}

/** How long to keep a document: its Cache-Control max-age, within sane bounds; no-store: the minimum. */
export function cacheSeconds(cacheControl: string | undefined): number {
  if (!cacheControl) return DEFAULT_CACHE_SECONDS;
  if (/(^|,)\s*(no-store|no-cache)\b/i.test(cacheControl)) return MIN_CACHE_SECONDS;
  const maxAge = /max-age=(\d+)/i.exec(cacheControl)?.[1];
  if (!maxAge) return DEFAULT_CACHE_SECONDS;
  return Math.min(MAX_CACHE_SECONDS, Math.max(MIN_CACHE_SECONDS, Number(maxAge)));
}

export interface ClientMetadataDocumentsDeps {
  clock: Clock;
  /** Development only: documents over http:// and on loopback. */
  allowLoopback: boolean;
}

/**
 * Clients identified by a client ID metadata document, fetched with SSRF guards (https only,
 * no private or loopback addresses unless the development flag allows them, size and time
 * limits, no redirects) and cached as the document's Cache-Control says.
 */
export class ClientMetadataDocuments {
  private readonly cache = new Map<string, { client?: RegisteredClient; error?: ClientMetadataError; until: number }>();
  /** Fetches under way, so a burst of requests for one URL fetches it once. */
  private readonly inflight = new Map<string, Promise<RegisteredClient>>();

  constructor(private readonly deps: ClientMetadataDocumentsDeps) {}

  accepts(clientId: string): boolean {
    return isMetadataDocumentUrl(clientId, this.deps);
  }

  async resolve(clientId: string): Promise<RegisteredClient> {
    const hit = this.cache.get(clientId);
    if (hit && hit.until > this.deps.clock.now()) {
      if (hit.client) return hit.client;
      throw hit.error;
    }
    let pending = this.inflight.get(clientId);
    if (!pending) {
      pending = this.fetchDocument(clientId).finally(() => this.inflight.delete(clientId));
      this.inflight.set(clientId, pending);
    }
    return pending;
  }

  private remember(clientId: string, entry: { client?: RegisteredClient; error?: ClientMetadataError }, seconds: number): void {
    // Bounded: random URLs cannot grow the cache without limit.
    if (this.cache.size >= MAX_CACHED_DOCUMENTS) this.cache.clear();
    this.cache.set(clientId, { ...entry, until: this.deps.clock.now() + seconds * 1000 });
  }

  private async fetchDocument(clientId: string): Promise<RegisteredClient> {
    try {
      const client = await this.fetchAndCheck(clientId);
      return client;
    } catch (error) {
      // A failure is remembered briefly, so a bad URL cannot be used to make us fetch in a loop.
      if (error instanceof ClientMetadataError) this.remember(clientId, { error }, FAILURE_CACHE_SECONDS);
      throw error;
    }
  }

  private async fetchAndCheck(clientId: string): Promise<RegisteredClient> {
    let response: Awaited<ReturnType<typeof safeFetch>>;
    try {
      response = await safeFetch(clientId, { allowLoopback: this.deps.allowLoopback, maxBytes: MAX_BYTES, timeoutMs: TIMEOUT_MS });
    } catch (error) {
      throw new ClientMetadataError(
        error instanceof SafeFetchError
          ? `the client metadata document cannot be fetched: ${error.message}`
          : 'the client metadata document cannot be fetched',
      );
    }
    if (response.status !== 200) throw new ClientMetadataError(`the client metadata document answered HTTP ${response.status}`);
    const client = clientFromDocument(clientId, response.body);
    const header = response.headers['cache-control'];
    this.remember(clientId, { client }, cacheSeconds(Array.isArray(header) ? header.join(',') : header));
    return client;
  }
}
