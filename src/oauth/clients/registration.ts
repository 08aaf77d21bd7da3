import type { AuditContext, AuditLog } from '../../audit/audit-log.js';
import { type Clock, isoAt } from '../../clock.js';
import { newId } from '../../crypto/ids.js';
import { hashSecret, newSecret, secretMatches } from '../../crypto/secret-token.js';
import type { EventBus } from '../../events/bus.js';
import { isLoopbackHostname } from '../../outbound/address-guard.js';
import type { ClientsTable } from '../../store/schema.js';
import type { Store } from '../../store/store.js';
import { inTransaction } from '../../store/transaction.js';
import { InvalidClientMetadata, InvalidRedirectUri, InvalidToken, OAuthError } from '../errors.js';
import { parseScope } from '../scopes.js';

const AUTH_METHODS = new Set(['none', 'client_secret_basic', 'client_secret_post']);
const GRANT_TYPES = new Set(['authorization_code', 'refresh_token']);

/** The metadata Mandate keeps from a registration request (RFC 7591 §2). */
interface CheckedMetadata {
  client_name: string;
  application_type: 'web' | 'native';
  redirect_uris: string[];
  grant_types: string[];
  token_endpoint_auth_method: 'none' | 'client_secret_basic' | 'client_secret_post';
  scope: string;
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function text(value: unknown, name: string, max: number): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > max || hasControlCharacter(value)) {
    throw new InvalidClientMetadata(`${name} must be a printable string of at most ${max} characters`);
  }
  return value;
}

/**
 * RFC 8252 §7 and OAuth 2.1 §2.3.1: web clients redirect to https; native apps to loopback http
 * or a private-use scheme (reverse domain name, so it contains a dot). No fragments, no credentials.
 */
export function checkRegisteredRedirect(uri: string, applicationType: 'web' | 'native'): void {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new InvalidRedirectUri(`${uri} is not an absolute URI`);
  }
  if (uri.includes('#') || url.username || url.password)
    throw new InvalidRedirectUri('redirect URIs must not contain a fragment or credentials');
  const loopback = url.protocol === 'http:' && isLoopbackHostname(url.hostname);
  if (url.protocol === 'https:') return;
  if (applicationType === 'native' && (loopback || (/^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol) && url.protocol !== 'http:')))
    return;
  if (applicationType === 'web' && loopback) return;
  throw new InvalidRedirectUri(`${uri} is not allowed for a ${applicationType} application`);
}

/**
 * OpenID Connect Dynamic Client Registration 1.0 §2 lets application_type be omitted (as the MCP
 * SDK does): redirects to loopback http or a private-use scheme only a native app can receive
 * (RFC 8252 §7), so those make it `native`; anything else is `web`.
 */
function defaultApplicationType(redirectUris: readonly string[]): 'web' | 'native' {
  const native = redirectUris.some((uri) => {
    try {
      const url = new URL(uri);
      return url.protocol !== 'https:' && (url.protocol !== 'http:' || isLoopbackHostname(url.hostname));
    } catch {
      return false;
    }
  });
  return native ? 'native' : 'web';
}

/** Validates a registration request body into the metadata Mandate stores (RFC 7591 §2, §3.2.2 errors). */
export function checkClientMetadata(body: unknown): CheckedMetadata {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new InvalidClientMetadata('the body must be a JSON object');
  const m = body as Record<string, unknown>;
  if (m.application_type !== undefined && m.application_type !== 'web' && m.application_type !== 'native')
    throw new InvalidClientMetadata('application_type must be web or native');
  const grantTypes = m.grant_types ?? ['authorization_code'];
  if (!Array.isArray(grantTypes) || grantTypes.length === 0 || !grantTypes.every((g) => typeof g === 'string' && GRANT_TYPES.has(g))) {
    throw new InvalidClientMetadata('grant_types may contain authorization_code and refresh_token');
  }
  if (!grantTypes.includes('authorization_code')) throw new InvalidClientMetadata('grant_types must include authorization_code');
  const responseTypes = m.response_types ?? ['code'];
  if (!Array.isArray(responseTypes) || responseTypes.some((r) => r !== 'code'))
    throw new InvalidClientMetadata('response_types may only be code');
  const method = m.token_endpoint_auth_method ?? 'client_secret_basic';
  if (typeof method !== 'string' || !AUTH_METHODS.has(method)) {
    throw new InvalidClientMetadata('token_endpoint_auth_method must be none, client_secret_basic or client_secret_post');
  }
  const redirectUris = m.redirect_uris;
  if (
    !Array.isArray(redirectUris) ||
    redirectUris.length === 0 ||
    redirectUris.length > 20 ||
    !redirectUris.every((u) => typeof u === 'string' && u.length <= 2048)
  ) {
    throw new InvalidRedirectUri('redirect_uris must list 1 to 20 URIs');
  }
  const applicationType = m.application_type ?? defaultApplicationType(redirectUris as string[]);
  for (const uri of redirectUris as string[]) checkRegisteredRedirect(uri, applicationType);
  const scope = parseScope(text(m.scope, 'scope', 2000));
  if (!scope) throw new InvalidClientMetadata('scope is malformed');
  return {
    client_name: text(m.client_name, 'client_name', 200) ?? 'Unnamed application',
    application_type: applicationType,
    redirect_uris: [...new Set(redirectUris as string[])],
    grant_types: [...new Set(grantTypes as string[])],
    token_endpoint_auth_method: method as CheckedMetadata['token_endpoint_auth_method'],
    scope: scope.join(' '),
  };
}

/** RFC 7591 §3.2.1 response (and RFC 7592 §3 read response). */
export interface RegistrationResponse {
  client_id: string;
  client_id_issued_at: number;
  client_secret?: string;
  client_secret_expires_at?: number;
  registration_access_token?: string;
  registration_client_uri: string;
  client_name: string;
  application_type: string;
  redirect_uris: string[];
  grant_types: string[];
  response_types: string[];
  token_endpoint_auth_method: string;
  scope?: string;
}

export interface RegistrationOptions {
  policy: 'open' | 'initial_access_token' | 'off';
  initialAccessToken: string | undefined;
  issuer: string;
}

export interface ClientRegistrationDeps extends RegistrationOptions {
  store: Store;
  audit: AuditLog;
  clock: Clock;
  bus: EventBus;
}

/**
 * Dynamic client registration (RFC 7591) and its management protocol (RFC 7592). A registered
 * client belongs to no organization; it can do nothing until a user of an organization consents.
 */
export class ClientRegistration {
  constructor(private readonly deps: ClientRegistrationDeps) {}

  /** RFC 7591 §3: checks the policy, then registers. */
  async register(authorization: string | undefined, body: unknown, context: AuditContext): Promise<RegistrationResponse> {
    this.checkPolicy(authorization);
    const metadata = checkClientMetadata(body);
    const now = this.deps.clock.now();
    const confidential = metadata.token_endpoint_auth_method !== 'none';
    const secret = confidential ? newSecret('mnd_cs_') : undefined;
    const registrationToken = newSecret('mnd_rat_');
    const row: ClientsTable = {
      id: newId('cli', now),
      org_id: null,
      agent_id: null,
      name: metadata.client_name,
      type: confidential ? 'confidential' : 'public',
      token_endpoint_auth_method: metadata.token_endpoint_auth_method,
      redirect_uris: JSON.stringify(metadata.redirect_uris),
      grant_types: JSON.stringify(metadata.grant_types),
      scope: metadata.scope,
      resources: '[]',
      jwks: null,
      source: 'dcr',
      status: 'active',
      created_at: isoAt(this.deps.clock),
      updated_at: isoAt(this.deps.clock),
      registration_token_hash: hashSecret(registrationToken),
      application_type: metadata.application_type,
      require_par: 0,
    };
    await inTransaction(this.deps.store, async (trx) => {
      await trx.insertInto('clients').values(row).execute();
      if (secret) {
        await trx
          .insertInto('client_secrets')
          .values({
            id: newId('cs', now),
            client_id: row.id,
            secret_hash: hashSecret(secret),
            created_at: row.created_at,
            expires_at: null,
          })
          .execute();
      }
      await this.deps.audit.append(
        trx,
        { kind: 'client.created', detail: { client_id: row.id, source: 'dcr', name: row.name, redirect_uris: metadata.redirect_uris } },
        context,
      );
    });
    return {
      ...this.describe(row),
      ...(secret && { client_secret: secret, client_secret_expires_at: 0 }),
      registration_access_token: registrationToken,
    };
  }

  /** RFC 7592 §2.1: read, with the registration access token. */
  async read(clientId: string, authorization: string | undefined): Promise<RegistrationResponse> {
    return this.describe(await this.authorize(clientId, authorization));
  }

  /** RFC 7592 §2.2: replace the metadata; the secret and the id stay. */
  async update(clientId: string, authorization: string | undefined, body: unknown, context: AuditContext): Promise<RegistrationResponse> {
    const current = await this.authorize(clientId, authorization);
    if ((body as { client_id?: unknown } | null)?.client_id !== clientId)
      throw new InvalidClientMetadata('client_id in the body must match');
    const metadata = checkClientMetadata(body);
    if ((metadata.token_endpoint_auth_method === 'none') !== (current.type === 'public')) {
      throw new InvalidClientMetadata('token_endpoint_auth_method cannot switch between public and confidential');
    }
    const changes = {
      name: metadata.client_name,
      application_type: metadata.application_type,
      redirect_uris: JSON.stringify(metadata.redirect_uris),
      grant_types: JSON.stringify(metadata.grant_types),
      token_endpoint_auth_method: metadata.token_endpoint_auth_method,
      scope: metadata.scope,
      updated_at: isoAt(this.deps.clock),
    };
    await inTransaction(this.deps.store, async (trx) => {
      await trx.updateTable('clients').set(changes).where('id', '=', clientId).execute();
      await this.deps.audit.append(trx, { kind: 'client.updated', detail: { client_id: clientId, source: 'dcr' } }, context);
      await this.deps.bus.record(trx, 'clients.changed', { id: clientId });
    });
    return this.describe({ ...current, ...changes });
  }

  /** RFC 7592 §2.3: deregister. Its tokens die with it (introspection checks the client). */
  async remove(clientId: string, authorization: string | undefined, context: AuditContext): Promise<void> {
    await this.authorize(clientId, authorization);
    await inTransaction(this.deps.store, async (trx) => {
      await trx.deleteFrom('clients').where('id', '=', clientId).execute();
      await this.deps.audit.append(trx, { kind: 'client.deleted', detail: { client_id: clientId, source: 'dcr' } }, context);
      await this.deps.bus.record(trx, 'clients.changed', { id: clientId });
    });
  }

  private checkPolicy(authorization: string | undefined): void {
    if (this.deps.policy === 'off') throw new OAuthError('access_denied', 'dynamic client registration is disabled', 403);
    if (this.deps.policy === 'initial_access_token') {
      const presented = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1];
      const expected = this.deps.initialAccessToken ?? '';
      if (!presented || !secretMatches(presented, hashSecret(expected))) throw new InvalidToken('a valid initial access token is required');
    }
  }

  /** RFC 7592 §3: the registration access token, compared by digest in constant time. */
  private async authorize(clientId: string, authorization: string | undefined): Promise<ClientsTable> {
    const token = /^Bearer (\S+)$/i.exec(authorization ?? '')?.[1];
    const row = await this.deps.store.db.selectFrom('clients').selectAll().where('id', '=', clientId).executeTakeFirst();
    // Unknown client and wrong token answer the same, so client ids cannot be probed (RFC 7592 §2.1).
    if (!token || !row?.registration_token_hash || !secretMatches(token, row.registration_token_hash)) {
      throw new InvalidToken('the registration access token is invalid');
    }
    return row;
  }

  private describe(row: ClientsTable): RegistrationResponse {
    return {
      client_id: row.id,
      client_id_issued_at: Math.floor(Date.parse(row.created_at) / 1000),
      registration_client_uri: `${this.deps.issuer}/oauth2/register/${row.id}`,
      client_name: row.name,
      application_type: row.application_type ?? 'web',
      redirect_uris: JSON.parse(row.redirect_uris) as string[],
      grant_types: JSON.parse(row.grant_types) as string[],
      response_types: ['code'],
      token_endpoint_auth_method: row.token_endpoint_auth_method,
      ...(row.scope && { scope: row.scope }),
    };
  }
}
