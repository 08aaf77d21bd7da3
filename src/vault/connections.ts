import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import type { Envelope } from '../crypto/envelope.js';
import { newId } from '../crypto/ids.js';
import { ConflictError, InvalidRequestError, NotFoundError } from '../errors.js';
import type { VaultConnectionsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import type { Organizations } from '../tenancy/organizations.js';
import { genericProvider, PROVIDERS, providerFor } from './providers/catalog.js';
import type { ProviderEntry } from './providers/types.js';

/** Endpoints a connection sets: a generic provider's, or overrides of a catalog entry's (a self-hosted GitHub). */
export interface ConnectionEndpoints {
  authorization_url?: string | undefined;
  token_url?: string | undefined;
  revocation_url?: string | undefined;
  api_base_url?: string | undefined;
  pkce?: boolean | undefined;
  client_auth?: 'client_secret_basic' | 'client_secret_post' | undefined;
}

export interface CreateConnection {
  name: string;
  provider: string;
  client_id: string;
  client_secret: string;
  /** The scopes users may be asked for; default: the provider's default scopes. */
  scopes?: string[] | undefined;
  endpoints?: ConnectionEndpoints | undefined;
}

/** A connection as the API shows it: never its client secret. */
export interface ConnectionView {
  id: string;
  org_id: string;
  name: string;
  provider: string;
  client_id: string;
  scopes: string[];
  endpoints: ConnectionEndpoints | null;
  created_at: string;
}

/** A connection with what the vault needs to talk to its provider. */
export interface ResolvedConnection {
  row: VaultConnectionsTable;
  provider: ProviderEntry;
  clientSecret: () => string;
}

export function clientSecretContext(connectionId: string): string {
  return `vault_connections:${connectionId}`;
}

/**
 * An organization's OAuth apps at third-party providers: which catalog entry, its own client
 * credentials (the secret sealed with the master key), and which scopes its users may grant.
 */
export class Connections {
  constructor(
    private readonly deps: {
      store: Store;
      organizations: Organizations;
      audit: AuditLog;
      envelope: Envelope;
      clock: Clock;
      /** Development only: endpoints over http:// and on loopback. */
      allowLoopback: boolean;
    },
  ) {}

  async create(orgRef: string, input: CreateConnection, context: AuditContext): Promise<ConnectionView> {
    const org = await this.deps.organizations.require(orgRef);
    const provider = this.providerOf(input.provider, input.endpoints ?? null);
    const id = newId('con', this.deps.clock.now());
    const at = isoAt(this.deps.clock);
    const row: VaultConnectionsTable = {
      id,
      org_id: org.id,
      name: input.name,
      provider: input.provider,
      client_id: input.client_id,
      client_secret_ciphertext: this.deps.envelope.seal(input.client_secret, clientSecretContext(id)),
      scopes: (input.scopes ?? provider.defaultScopes).join(' '),
      overrides: input.endpoints ? JSON.stringify(input.endpoints) : null,
      created_at: at,
      updated_at: at,
    };
    await inTransaction(this.deps.store, async (trx) => {
      const taken = await trx
        .selectFrom('vault_connections')
        .select('id')
        .where('org_id', '=', org.id)
        .where('name', '=', input.name)
        .executeTakeFirst();
      if (taken) throw new ConflictError(`a connection named "${input.name}" already exists`);
      await trx.insertInto('vault_connections').values(row).execute();
      await this.deps.audit.append(
        trx,
        { kind: 'vault_connection.created', orgId: org.id, detail: { id, name: input.name, provider: input.provider, scopes: row.scopes } },
        context,
      );
    });
    return toView(row);
  }

  async list(orgRef: string): Promise<ConnectionView[]> {
    const org = await this.deps.organizations.require(orgRef);
    const rows = await this.deps.store.db
      .selectFrom('vault_connections')
      .selectAll()
      .where('org_id', '=', org.id)
      .orderBy('name')
      .execute();
    return rows.map(toView);
  }

  async remove(orgRef: string, name: string, context: AuditContext): Promise<void> {
    const org = await this.deps.organizations.require(orgRef);
    await inTransaction(this.deps.store, async (trx) => {
      const row = await this.find(org.id, name, trx);
      if (!row) throw new NotFoundError('connection');
      await trx.deleteFrom('vault_connections').where('id', '=', row.id).execute();
      await this.deps.audit.append(trx, { kind: 'vault_connection.deleted', orgId: org.id, detail: { id: row.id, name } }, context);
    });
  }

  /** The connection named `name` in the organization, ready to talk to its provider. */
  async resolve(orgId: string, name: string, trx?: Executor): Promise<ResolvedConnection> {
    const row = await this.find(orgId, name, trx);
    if (!row) throw new NotFoundError('connection');
    return this.resolved(trx ? row : await this.resealIfOld(row));
  }

  async resolveById(connectionId: string, trx?: Executor): Promise<ResolvedConnection> {
    const row = await (trx ?? this.deps.store.db)
      .selectFrom('vault_connections')
      .selectAll()
      .where('id', '=', connectionId)
      .executeTakeFirst();
    if (!row) throw new NotFoundError('connection');
    return this.resolved(trx ? row : await this.resealIfOld(row));
  }

  /**
   * After a master-key rotation, the app secret is sealed again with the new key when the
   * connection is next used, so the old key can be retired. (Never inside a caller's transaction:
   * on SQLite a write through the outer handle would wait on that transaction.)
   */
  private async resealIfOld(row: VaultConnectionsTable): Promise<VaultConnectionsTable> {
    const { envelope } = this.deps;
    if (!envelope.needsReseal(row.client_secret_ciphertext)) return row;
    const resealed = envelope.seal(envelope.open(row.client_secret_ciphertext, clientSecretContext(row.id)), clientSecretContext(row.id));
    await this.deps.store.db
      .updateTable('vault_connections')
      .set({ client_secret_ciphertext: resealed })
      .where('id', '=', row.id)
      .where('client_secret_ciphertext', '=', row.client_secret_ciphertext)
      .execute();
    return { ...row, client_secret_ciphertext: resealed };
  }

  private resolved(row: VaultConnectionsTable): ResolvedConnection {
    return {
      row,
      provider: this.providerOf(row.provider, row.overrides ? (JSON.parse(row.overrides) as ConnectionEndpoints) : null),
      clientSecret: () => this.deps.envelope.open(row.client_secret_ciphertext, clientSecretContext(row.id)),
    };
  }

  private async find(orgId: string, name: string, trx: Executor = this.deps.store.db): Promise<VaultConnectionsTable | undefined> {
    return trx.selectFrom('vault_connections').selectAll().where('org_id', '=', orgId).where('name', '=', name).executeTakeFirst();
  }

  private providerOf(name: string, endpoints: ConnectionEndpoints | null): ProviderEntry {
    const allowHttp = this.deps.allowLoopback;
    try {
      if (name === 'generic') {
        if (!endpoints?.authorization_url || !endpoints.token_url || !endpoints.api_base_url)
          throw new InvalidRequestError('a generic provider needs endpoints.authorization_url, token_url and api_base_url');
        return genericProvider(
          {
            authorizationUrl: endpoints.authorization_url,
            tokenUrl: endpoints.token_url,
            ...(endpoints.revocation_url && { revocationUrl: endpoints.revocation_url }),
            apiBaseUrl: endpoints.api_base_url,
            ...(endpoints.pkce !== undefined && { pkce: endpoints.pkce }),
            ...(endpoints.client_auth && { clientAuth: endpoints.client_auth }),
          },
          { allowHttp },
        );
      }
      if (!PROVIDERS[name])
        throw new InvalidRequestError(`unknown provider "${name}"; known: ${Object.keys(PROVIDERS).join(', ')}, generic`);
      return providerFor(
        name,
        endpoints
          ? {
              ...(endpoints.authorization_url && { authorizationUrl: endpoints.authorization_url }),
              ...(endpoints.token_url && { tokenUrl: endpoints.token_url }),
              ...(endpoints.revocation_url && { revocationUrl: endpoints.revocation_url }),
              ...(endpoints.api_base_url && { apiBaseUrl: endpoints.api_base_url }),
            }
          : undefined,
        { allowHttp },
      );
    } catch (error) {
      if (error instanceof InvalidRequestError) throw error;
      throw new InvalidRequestError(error instanceof Error ? error.message : 'invalid provider endpoints');
    }
  }
}

function toView(row: VaultConnectionsTable): ConnectionView {
  return {
    id: row.id,
    org_id: row.org_id,
    name: row.name,
    provider: row.provider,
    client_id: row.client_id,
    scopes: row.scopes.split(' ').filter(Boolean),
    endpoints: row.overrides ? (JSON.parse(row.overrides) as ConnectionEndpoints) : null,
    created_at: row.created_at,
  };
}
