import { createPublicKey, type JsonWebKey } from 'node:crypto';
import type { AuditContext, AuditLog } from '../../audit/audit-log.js';
import { type Clock, isoAt } from '../../clock.js';
import { newId } from '../../crypto/ids.js';
import { hashSecret, newSecret } from '../../crypto/secret-token.js';
import { InvalidRequestError, NotFoundError } from '../../errors.js';
import type { EventBus } from '../../events/bus.js';
import { decodeCursor, type Page, toPage } from '../../http/pagination.js';
import { isLoopbackHostname } from '../../outbound/address-guard.js';
import type { ClientsTable } from '../../store/schema.js';
import type { Store } from '../../store/store.js';
import { type Executor, inTransaction } from '../../store/transaction.js';
import type { Organizations } from '../../tenancy/organizations.js';
import type { Resources } from '../resources/resources.js';
import { parseScope } from '../scopes.js';
import type { Client, CreateClient, RotateSecret, UpdateClient } from './schemas.js';
import { ClientStore } from './store.js';

export interface ClientsDeps {
  store: Store;
  organizations: Organizations;
  resources: Resources;
  audit: AuditLog;
  clock: Clock;
  bus: EventBus;
  /** Checks that an agent a client is bound to belongs to the organization and is not decommissioned. */
  agents?: { requireInOrg(orgId: string, agentId: string): Promise<{ status: string }> };
}

/** Admin-registered OAuth clients of an organization, with rotating secrets. */
export class Clients {
  private readonly clients: ClientStore;

  constructor(private readonly deps: ClientsDeps) {
    this.clients = new ClientStore(deps.store.db);
  }

  async create(orgRef: string, input: CreateClient, context: AuditContext): Promise<Client & { client_secret?: string }> {
    const method = input.token_endpoint_auth_method ?? (input.client_type === 'public' ? 'none' : 'client_secret_basic');
    const redirectUris = input.redirect_uris ?? [];
    checkClientShape(input.client_type, method, input.grant_types, redirectUris);
    const jwks = method === 'private_key_jwt' ? checkPublicJwks(input.jwks) : undefined;
    if (method !== 'private_key_jwt' && input.jwks) throw new InvalidRequestError('jwks is only used with private_key_jwt');
    if (input.backchannel_client_notification_endpoint !== undefined)
      checkNotificationEndpoint(input.backchannel_client_notification_endpoint);
    const secret = input.client_type === 'confidential' && method !== 'private_key_jwt' ? newSecret('mnd_cs_') : undefined;
    const at = isoAt(this.deps.clock);
    const org = await this.deps.organizations.require(orgRef);
    const scope = await this.checkScopeAndResources(org.id, input.scope, input.resources);
    if (input.agent_id) {
      const agent = await this.deps.agents?.requireInOrg(org.id, input.agent_id).catch(() => undefined);
      if (!agent) throw new InvalidRequestError('agent_id must name an agent of this organization');
      if (agent.status === 'decommissioned') throw new InvalidRequestError('the agent is decommissioned');
    }
    const row = await inTransaction(this.deps.store, async (trx) => {
      const client: ClientsTable = {
        id: newId('cli', this.deps.clock.now()),
        org_id: org.id,
        agent_id: input.agent_id ?? null,
        name: input.client_name,
        type: input.client_type,
        token_endpoint_auth_method: method,
        redirect_uris: JSON.stringify(redirectUris),
        grant_types: JSON.stringify(input.grant_types),
        scope,
        resources: JSON.stringify(input.resources),
        jwks: jwks ? JSON.stringify(jwks) : null,
        source: 'admin',
        status: 'active',
        registration_token_hash: null,
        application_type: null,
        require_par: input.require_pushed_authorization_requests ? 1 : 0,
        backchannel_client_notification_endpoint: input.backchannel_client_notification_endpoint ?? null,
        created_at: at,
        updated_at: at,
      };
      await this.clients.insert(trx, client);
      if (secret)
        await this.clients.insertSecret(trx, {
          id: newId('cs', this.deps.clock.now()),
          client_id: client.id,
          secret_hash: hashSecret(secret),
          created_at: at,
          expires_at: null,
        });
      await this.deps.audit.append(
        trx,
        { kind: 'client.created', orgId: org.id, detail: { client_id: client.id, type: client.type, grant_types: input.grant_types } },
        context,
      );
      return client;
    });
    return { ...toClient(row), ...(secret && { client_secret: secret }) };
  }

  async get(orgRef: string, clientId: string): Promise<Client> {
    const org = await this.deps.organizations.require(orgRef);
    return toClient(await this.require(org.id, clientId));
  }

  async list(orgRef: string, options: { cursor?: string | undefined; limit: number }): Promise<Page<Client>> {
    const org = await this.deps.organizations.require(orgRef);
    const page = toPage(await this.clients.list(org.id, decodeCursor(options.cursor), options.limit + 1), options.limit);
    return { ...page, data: page.data.map(toClient) };
  }

  async update(orgRef: string, clientId: string, input: UpdateClient, context: AuditContext): Promise<Client> {
    const org = await this.deps.organizations.require(orgRef);
    const current = await this.require(org.id, clientId);
    const resources = input.resources ?? (JSON.parse(current.resources) as string[]);
    const scope =
      input.scope !== undefined || input.resources !== undefined
        ? await this.checkScopeAndResources(org.id, input.scope ?? current.scope, resources)
        : current.scope;
    if (input.redirect_uris) {
      checkClientShape(current.type, current.token_endpoint_auth_method, JSON.parse(current.grant_types) as string[], input.redirect_uris);
    }
    const row = await inTransaction(this.deps.store, async (trx) => {
      const changes = {
        ...(input.client_name !== undefined && { name: input.client_name }),
        ...(input.redirect_uris !== undefined && { redirect_uris: JSON.stringify(input.redirect_uris) }),
        ...(input.resources !== undefined && { resources: JSON.stringify(input.resources) }),
        ...(input.status !== undefined && { status: input.status }),
        scope,
        updated_at: isoAt(this.deps.clock),
      };
      await this.clients.update(trx, current.id, changes);
      await this.deps.audit.append(
        trx,
        { kind: 'client.updated', orgId: org.id, detail: { client_id: current.id, changed: input } },
        context,
      );
      await this.deps.bus.record(trx, 'clients.changed', { id: current.id });
      return { ...current, ...changes };
    });
    return toClient(row);
  }

  async remove(orgRef: string, clientId: string, context: AuditContext): Promise<void> {
    await inTransaction(this.deps.store, async (trx) => {
      const org = await this.deps.organizations.require(orgRef, trx);
      const current = await this.require(org.id, clientId, trx);
      await this.clients.delete(trx, current.id);
      await this.deps.audit.append(trx, { kind: 'client.deleted', orgId: org.id, detail: { client_id: current.id } }, context);
      await this.deps.bus.record(trx, 'clients.changed', { id: current.id });
    });
  }

  /** Issues a new secret; the previous ones keep working for `overlap_seconds` (0: stop now). */
  async rotateSecret(
    orgRef: string,
    clientId: string,
    input: RotateSecret,
    context: AuditContext,
  ): Promise<{ client_secret: string; previous_expires_at: string }> {
    const secret = newSecret('mnd_cs_');
    const previousExpiresAt = new Date(this.deps.clock.now() + (input.overlap_seconds ?? 0) * 1000).toISOString();
    await inTransaction(this.deps.store, async (trx) => {
      const org = await this.deps.organizations.require(orgRef, trx);
      const current = await this.require(org.id, clientId, trx);
      if (current.type !== 'confidential' || current.token_endpoint_auth_method === 'private_key_jwt') {
        throw new InvalidRequestError('this client authenticates without a secret');
      }
      await this.clients.expireSecrets(trx, current.id, previousExpiresAt);
      await this.clients.insertSecret(trx, {
        id: newId('cs', this.deps.clock.now()),
        client_id: current.id,
        secret_hash: hashSecret(secret),
        created_at: isoAt(this.deps.clock),
        expires_at: null,
      });
      await this.deps.audit.append(
        trx,
        { kind: 'client.secret_rotated', orgId: org.id, detail: { client_id: current.id, previous_expires_at: previousExpiresAt } },
        context,
      );
      await this.deps.bus.record(trx, 'clients.changed', { id: current.id });
    });
    return { client_secret: secret, previous_expires_at: previousExpiresAt };
  }

  /** Every resource must be registered and open to the organization; every scope must be defined by one of them. */
  private async checkScopeAndResources(orgId: string, scopeParam: string, identifiers: readonly string[]): Promise<string> {
    const scopes = parseScope(scopeParam);
    if (!scopes) throw new InvalidRequestError('scope is not a valid space-delimited list of scope tokens');
    const defined = new Set<string>();
    for (const identifier of identifiers) {
      const resource = await this.deps.resources.findByIdentifier(identifier);
      if (!resource || (resource.org_ids && !resource.org_ids.includes(orgId))) {
        throw new InvalidRequestError(`resource ${identifier} is not registered for this organization`);
      }
      for (const s of resource.scopes) defined.add(s.name);
    }
    const unknown = scopes.filter((s) => !defined.has(s));
    if (unknown.length > 0) throw new InvalidRequestError(`scope ${unknown.join(' ')} is not defined by the client's resources`);
    return scopes.join(' ');
  }

  private async require(orgId: string, clientId: string, trx?: Executor): Promise<ClientsTable> {
    const row = await this.clients.findInOrg(orgId, clientId, trx);
    if (!row) throw new NotFoundError('client');
    return row;
  }
}

/** A JWK Set of public keys only: a private member would mean the client leaked its key to us. */
function checkPublicJwks(jwks: { keys: Record<string, unknown>[] } | undefined): { keys: Record<string, unknown>[] } {
  if (!jwks) throw new InvalidRequestError('private_key_jwt requires jwks');
  for (const key of jwks.keys) {
    if (['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((member) => member in key))
      throw new InvalidRequestError('jwks must contain public keys only');
    try {
      createPublicKey({ key: key as JsonWebKey, format: 'jwk' });
    } catch {
      throw new InvalidRequestError('jwks contains a key that cannot be used');
    }
  }
  return jwks;
}

/** OAuth 2.1 §2.1 client types and what each may do. */
function checkClientShape(
  type: 'confidential' | 'public',
  method: string,
  grantTypes: readonly string[],
  redirectUris: readonly string[],
): void {
  if (type === 'public' && method !== 'none') throw new InvalidRequestError('a public client authenticates with none');
  if (type === 'confidential' && method === 'none') throw new InvalidRequestError('a confidential client must authenticate');
  if (type === 'public' && grantTypes.includes('client_credentials'))
    throw new InvalidRequestError('client_credentials requires a confidential client');
  if (grantTypes.includes('authorization_code') && redirectUris.length === 0)
    throw new InvalidRequestError('authorization_code requires redirect_uris');
  for (const uri of redirectUris) {
    // OAuth 2.1 §2.3.1: redirect URIs are absolute and carry no fragment; compared exactly.
    if (uri.includes('#')) throw new InvalidRequestError('redirect_uris must not contain a fragment');
  }
}

export function toClient(row: ClientsTable): Client {
  return {
    client_id: row.id,
    org_id: row.org_id,
    agent_id: row.agent_id,
    client_name: row.name,
    client_type: row.type,
    token_endpoint_auth_method: row.token_endpoint_auth_method,
    redirect_uris: JSON.parse(row.redirect_uris) as string[],
    grant_types: JSON.parse(row.grant_types) as Client['grant_types'],
    scope: row.scope,
    resources: JSON.parse(row.resources) as string[],
    ...(row.jwks && { jwks: JSON.parse(row.jwks) as { keys: Record<string, unknown>[] } }),
    require_pushed_authorization_requests: row.require_par === 1,
    backchannel_client_notification_endpoint: row.backchannel_client_notification_endpoint ?? null,
    status: row.status,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

/** CIBA Core §4: the ping endpoint is https (plain http only to the machine itself, for development). */
function checkNotificationEndpoint(raw: string): void {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidRequestError('backchannel_client_notification_endpoint is not an absolute URL');
  }
  const loopback = isLoopbackHostname(url.hostname);
  if (url.hash || url.username || url.password || !(url.protocol === 'https:' || (url.protocol === 'http:' && loopback)))
    throw new InvalidRequestError('backchannel_client_notification_endpoint must be an https URL without fragment or credentials');
}
