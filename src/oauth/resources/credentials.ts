import type { AuditContext, AuditLog } from '../../audit/audit-log.js';
import { type Clock, isoAt } from '../../clock.js';
import { isId, newId } from '../../crypto/ids.js';
import { hashSecret, newSecret, type SecretPrefix, secretMatches } from '../../crypto/secret-token.js';
import { NotFoundError } from '../../errors.js';
import type { ResourceCredentialsTable } from '../../store/schema.js';
import type { Store } from '../../store/store.js';
import { inTransaction } from '../../store/transaction.js';
import { ResourceStore } from './store.js';

export const RESOURCE_SECRET_PREFIX = 'mnd_rs_' satisfies SecretPrefix;

/** A resource credential as the API lists it: never the secret. */
export interface ResourceCredentialView {
  id: string;
  resource_id: string;
  name: string;
  created_at: string;
  revoked_at: string | null;
}

/** The resource server a credential authenticates: the token audience it may introspect. */
export interface ResourceCaller {
  credentialId: string;
  resourceId: string;
  identifier: string;
}

export interface ResourceCredentialsDeps {
  store: Store;
  audit: AuditLog;
  clock: Clock;
}

/**
 * Credentials of registered resources: 256 random bits under `mnd_rs_`, shown once and stored as
 * SHA-256. With one, a resource server serving many organizations introspects exactly the tokens
 * whose `aud` is its identifier (RFC 7662 §2.1). Rotation is create-then-revoke; several may be
 * live at once for the overlap.
 */
export class ResourceCredentials {
  private readonly resources: ResourceStore;

  constructor(private readonly deps: ResourceCredentialsDeps) {
    this.resources = new ResourceStore(deps.store.db);
  }

  async create(resourceRef: string, name: string, context: AuditContext): Promise<ResourceCredentialView & { secret: string }> {
    const secret = newSecret(RESOURCE_SECRET_PREFIX);
    const row = await inTransaction(this.deps.store, async (trx) => {
      const resource = await this.resources.find(resourceRef, trx);
      if (!resource) throw new NotFoundError('resource');
      const created: ResourceCredentialsTable = {
        id: newId('rsc', this.deps.clock.now()),
        resource_id: resource.id,
        secret_hash: hashSecret(secret),
        name,
        created_at: isoAt(this.deps.clock),
        revoked_at: null,
      };
      await trx.insertInto('resource_credentials').values(created).execute();
      await this.deps.audit.append(
        trx,
        { kind: 'resource.credential_created', detail: { id: created.id, resource_id: resource.id, name } },
        context,
      );
      return created;
    });
    return { ...toView(row), secret };
  }

  async list(resourceRef: string): Promise<ResourceCredentialView[]> {
    const resource = await this.resources.find(resourceRef);
    if (!resource) throw new NotFoundError('resource');
    const rows = await this.deps.store.db
      .selectFrom('resource_credentials')
      .selectAll()
      .where('resource_id', '=', resource.id)
      .orderBy('id')
      .execute();
    return rows.map(toView);
  }

  /** Revokes at once: every node reads credentials from the database on each introspection. */
  async revoke(resourceRef: string, id: string, context: AuditContext): Promise<void> {
    await inTransaction(this.deps.store, async (trx) => {
      const resource = await this.resources.find(resourceRef, trx);
      const row =
        resource && isId('rsc', id)
          ? await trx
              .selectFrom('resource_credentials')
              .selectAll()
              .where('resource_id', '=', resource.id)
              .where('id', '=', id)
              .executeTakeFirst()
          : undefined;
      if (!row) throw new NotFoundError('resource credential');
      if (row.revoked_at !== null) return;
      await trx
        .updateTable('resource_credentials')
        .set({ revoked_at: isoAt(this.deps.clock) })
        .where('id', '=', row.id)
        .execute();
      await this.deps.audit.append(
        trx,
        { kind: 'resource.credential_revoked', detail: { id: row.id, resource_id: row.resource_id } },
        context,
      );
    });
  }

  /** The resource a credential id and secret stand for, or undefined when unknown, revoked or wrong. */
  async authenticate(id: string, secret: string): Promise<ResourceCaller | undefined> {
    if (!isId('rsc', id) || !secret.startsWith(RESOURCE_SECRET_PREFIX)) return undefined;
    const row = await this.deps.store.db
      .selectFrom('resource_credentials')
      .innerJoin('resources', 'resources.id', 'resource_credentials.resource_id')
      .select([
        'resource_credentials.id',
        'resource_credentials.secret_hash',
        'resource_credentials.revoked_at',
        'resources.id as resource_id',
        'resources.identifier',
      ])
      .where('resource_credentials.id', '=', id)
      .executeTakeFirst();
    if (!row || row.revoked_at !== null || !secretMatches(secret, row.secret_hash)) return undefined;
    return { credentialId: row.id, resourceId: row.resource_id, identifier: row.identifier };
  }
}

function toView(row: ResourceCredentialsTable): ResourceCredentialView {
  return { id: row.id, resource_id: row.resource_id, name: row.name, created_at: row.created_at, revoked_at: row.revoked_at };
}
