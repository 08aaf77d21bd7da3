import { sql } from 'kysely';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import type { Envelope } from '../crypto/envelope.js';
import { newId } from '../crypto/ids.js';
import { ConflictError, InvalidRequestError, NotFoundError } from '../errors.js';
import type { SsoConnectionsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import type { LoginPolicy } from '../tenancy/login-policy.js';
import type { Organizations } from '../tenancy/organizations.js';
import { type SsoConnection as ResolvedConnection, type SsoProtocol, ssoCallbackUrl } from './protocol.js';
import type { SsoProtocols } from './protocols.js';
import type { CreateSsoConnection, SsoConnection, UpdateSsoConnection } from './schemas.js';

/** Serializes domain claims on PostgreSQL (SQLite has one writer): two connections cannot take one domain at once. */
const DOMAIN_LOCK = 7_300_517;

export interface SsoConnectionsDeps {
  store: Store;
  organizations: Organizations;
  audit: AuditLog;
  envelope: Envelope;
  clock: Clock;
  protocols: SsoProtocols;
  loginPolicy: LoginPolicy;
  issuer: string;
}

/** A connection ready for a login: its row, parsed settings, unsealed secret and protocol. */
export interface UsableConnection extends ResolvedConnection {
  protocol: SsoProtocol;
}

function secretContext(connectionId: string): string {
  return `sso_connections:${connectionId}`;
}

export function domainsOf(row: SsoConnectionsTable): string[] {
  return JSON.parse(row.domains) as string[];
}

/**
 * An organization's SSO connections to its identity providers (OIDC, SAML): which protocol and
 * settings, which email domains route to it, whether members are created at first login. The
 * OIDC client secret is sealed with the master key and never shown.
 */
export class SsoConnections {
  constructor(private readonly deps: SsoConnectionsDeps) {}

  async create(orgRef: string, input: CreateSsoConnection, context: AuditContext): Promise<SsoConnection> {
    const org = await this.deps.organizations.require(orgRef);
    const protocol = this.protocol(input.protocol);
    const { settings, secret } = await this.prepare(protocol, input);
    if (!settings) throw new InvalidRequestError(`give the connection's ${input.protocol} settings`);
    const id = newId('sso', this.deps.clock.now());
    const at = isoAt(this.deps.clock);
    const row: SsoConnectionsTable = {
      id,
      org_id: org.id,
      protocol: input.protocol,
      name: input.name,
      status: input.status ?? 'active',
      domains: JSON.stringify(normalizeDomains(input.domains ?? [])),
      settings: JSON.stringify(settings),
      secret_ciphertext: secret ? this.deps.envelope.seal(secret, secretContext(id)) : null,
      jit_provisioning: input.jit_provisioning ? 1 : 0,
      created_at: at,
      updated_at: at,
    };
    await inTransaction(this.deps.store, async (trx) => {
      await this.assertDomainsFree(trx, domainsOf(row), id);
      await trx.insertInto('sso_connections').values(row).execute();
      await this.deps.audit.append(
        trx,
        {
          kind: 'sso_connection.created',
          orgId: org.id,
          detail: {
            id,
            protocol: row.protocol,
            name: row.name,
            status: row.status,
            domains: domainsOf(row),
            jit_provisioning: !!row.jit_provisioning,
          },
        },
        context,
      );
    });
    return this.view(row);
  }

  async list(orgRef: string): Promise<SsoConnection[]> {
    const org = await this.deps.organizations.require(orgRef);
    const rows = await this.deps.store.db.selectFrom('sso_connections').selectAll().where('org_id', '=', org.id).orderBy('id').execute();
    return rows.map((row) => this.view(row));
  }

  async get(orgRef: string, id: string): Promise<SsoConnection> {
    const org = await this.deps.organizations.require(orgRef);
    return this.view(await this.require(org.id, id));
  }

  async update(orgRef: string, id: string, input: UpdateSsoConnection, context: AuditContext): Promise<SsoConnection> {
    const org = await this.deps.organizations.require(orgRef);
    const current = await this.require(org.id, id);
    const { settings, secret } = await this.prepare(this.protocol(current.protocol), { ...input, protocol: current.protocol });
    const changes: Partial<SsoConnectionsTable> = {
      ...(input.name !== undefined && { name: input.name }),
      ...(input.status !== undefined && { status: input.status }),
      ...(input.domains !== undefined && { domains: JSON.stringify(normalizeDomains(input.domains)) }),
      ...(input.jit_provisioning !== undefined && { jit_provisioning: input.jit_provisioning ? 1 : 0 }),
      ...(settings && { settings: JSON.stringify(settings) }),
      ...(secret && { secret_ciphertext: this.deps.envelope.seal(secret, secretContext(id)) }),
      updated_at: isoAt(this.deps.clock),
    };
    const updated = await inTransaction(this.deps.store, async (trx) => {
      const before = await this.lockFor(trx, org.id, id);
      if (changes.domains) await this.assertDomainsFree(trx, JSON.parse(changes.domains) as string[], id);
      await trx.updateTable('sso_connections').set(changes).where('org_id', '=', org.id).where('id', '=', id).execute();
      if (before.status === 'active' && changes.status === 'disabled') await this.deps.loginPolicy.assertReachable(org.id, trx);
      if (changes.status === 'disabled') await this.endSessionsThrough(trx, org.id, id, context);
      const row = await trx.selectFrom('sso_connections').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      const changed = Object.keys(input).filter((key) => key !== 'oidc' && key !== 'saml');
      await this.deps.audit.append(
        trx,
        {
          kind: 'sso_connection.updated',
          orgId: org.id,
          detail: {
            id,
            changed: [...changed, ...(settings ? ['settings'] : []), ...(secret ? ['client_secret'] : [])],
            status: row.status,
            domains: domainsOf(row),
          },
        },
        context,
      );
      return row;
    });
    return this.view(updated);
  }

  async remove(orgRef: string, id: string, context: AuditContext): Promise<void> {
    const org = await this.deps.organizations.require(orgRef);
    await inTransaction(this.deps.store, async (trx) => {
      const row = await this.lockFor(trx, org.id, id);
      await trx.deleteFrom('sso_connections').where('id', '=', id).execute();
      if (row.status === 'active') await this.deps.loginPolicy.assertReachable(org.id, trx);
      await this.endSessionsThrough(trx, org.id, id, context);
      await this.deps.audit.append(
        trx,
        { kind: 'sso_connection.deleted', orgId: org.id, detail: { id, protocol: row.protocol, name: row.name } },
        context,
      );
    });
  }

  /** A connection for a login, with its secret unsealed; undefined when unknown. */
  async resolve(connectionId: string): Promise<UsableConnection | undefined> {
    let row = await this.deps.store.db.selectFrom('sso_connections').selectAll().where('id', '=', connectionId).executeTakeFirst();
    const protocol = row && this.deps.protocols[row.protocol];
    if (!row || !protocol) return undefined;
    row = await this.resealIfOld(row);
    return {
      row,
      protocol,
      settings: JSON.parse(row.settings) as Record<string, unknown>,
      ...(row.secret_ciphertext && { secret: this.deps.envelope.open(row.secret_ciphertext, secretContext(row.id)) }),
    };
  }

  /** The organization's active connections this node can use, oldest first. */
  async activeFor(orgId: string): Promise<SsoConnectionsTable[]> {
    const rows = await this.deps.store.db
      .selectFrom('sso_connections')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('status', '=', 'active')
      .orderBy('id')
      .execute();
    return rows.filter((row) => this.deps.protocols[row.protocol] !== undefined);
  }

  /** Whether the organization can sign in through SSO on this node (the authorization flow asks). */
  async hasActiveConnection(orgId: string): Promise<boolean> {
    return (await this.activeFor(orgId)).length > 0;
  }

  /** The active connection an email domain routes to. */
  async forDomain(domain: string): Promise<SsoConnectionsTable | undefined> {
    const rows = await this.withDomains(this.deps.store.db, [domain.toLowerCase()]);
    return rows.find((row) => row.status === 'active' && this.deps.protocols[row.protocol] !== undefined);
  }

  private async require(orgId: string, id: string, trx: Executor = this.deps.store.db): Promise<SsoConnectionsTable> {
    const row = await trx.selectFrom('sso_connections').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    if (!row) throw new NotFoundError('SSO connection');
    return row;
  }

  private protocol(name: SsoConnectionsTable['protocol']): SsoProtocol {
    const protocol = this.deps.protocols[name];
    if (!protocol) throw new InvalidRequestError(`SSO protocol ${name} is not available`);
    return protocol;
  }

  /** The protocol checks its own settings (network, e.g. OIDC discovery) before any transaction opens. */
  private async prepare(
    protocol: SsoProtocol,
    input: Pick<CreateSsoConnection, 'protocol' | 'oidc' | 'saml'>,
  ): Promise<{ settings?: Record<string, unknown>; secret?: string }> {
    const other = input.protocol === 'oidc' ? input.saml : input.oidc;
    if (other !== undefined) throw new InvalidRequestError(`this is a ${input.protocol} connection: give ${input.protocol} settings only`);
    const given = input.protocol === 'oidc' ? input.oidc : input.saml;
    if (given === undefined) return {};
    const { client_secret: secret, ...rest } = given as Record<string, unknown>;
    if (secret !== undefined && (input.protocol !== 'oidc' || typeof secret !== 'string')) {
      throw new InvalidRequestError('client_secret applies to OIDC connections only');
    }
    return { settings: await protocol.prepareSettings(rest), ...(typeof secret === 'string' && { secret }) };
  }

  private async assertDomainsFree(trx: Executor, domains: string[], exceptId: string): Promise<void> {
    if (domains.length === 0) return;
    if (this.deps.store.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${DOMAIN_LOCK})`.execute(trx);
    const taken = (await this.withDomains(trx, domains)).filter((row) => row.id !== exceptId);
    const domain = domains.find((d) => taken.some((row) => domainsOf(row).includes(d)));
    if (domain) throw new ConflictError(`the domain ${domain} is already routed to another SSO connection`);
  }

  /** Connections listing any of the domains (the LIKE narrows; the parsed list decides). */
  private async withDomains(trx: Executor, domains: string[]): Promise<SsoConnectionsTable[]> {
    const rows = await trx
      .selectFrom('sso_connections')
      .selectAll()
      .where((eb) => eb.or(domains.map((domain) => eb('domains', 'like', `%"${domain}"%`))))
      .orderBy('id')
      .execute();
    return rows.filter((row) => domainsOf(row).some((d) => domains.includes(d)));
  }

  /**
   * Locks the organization's connections for a change (PostgreSQL; SQLite has one writer), so two
   * administrators cannot each disable one of the last two ways in, and returns the connection.
   */
  private async lockFor(trx: Executor, orgId: string, id: string): Promise<SsoConnectionsTable> {
    if (this.deps.store.dialect === 'postgres') {
      await trx.selectFrom('sso_connections').select('id').where('org_id', '=', orgId).forUpdate().execute();
    }
    return this.require(orgId, id, trx);
  }

  /**
   * A disabled or deleted connection no longer vouches for anyone: the sessions it started end in
   * the same transaction, so a person the IdP can no longer sign in keeps no way in through it.
   */
  private async endSessionsThrough(trx: Executor, orgId: string, connectionId: string, context: AuditContext): Promise<void> {
    const live = await trx
      .selectFrom('sessions')
      .select(['id', 'member_id'])
      .where('org_id', '=', orgId)
      .where('connection_id', '=', connectionId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', isoAt(this.deps.clock))
      .execute();
    if (live.length === 0) return;
    await trx
      .updateTable('sessions')
      .set({ revoked_at: isoAt(this.deps.clock) })
      .where('org_id', '=', orgId)
      .where('connection_id', '=', connectionId)
      .where('revoked_at', 'is', null)
      .execute();
    for (const session of live) {
      await this.deps.audit.append(
        trx,
        {
          kind: 'session.revoked',
          orgId,
          subjectId: session.member_id,
          detail: { session_id: session.id, revoked_by: 'sso_connection', connection: connectionId },
        },
        context,
      );
    }
  }

  /** After a master-key rotation the secret is sealed again with the new key at its next use. */
  private async resealIfOld(row: SsoConnectionsTable): Promise<SsoConnectionsTable> {
    const { envelope } = this.deps;
    if (!row.secret_ciphertext || !envelope.needsReseal(row.secret_ciphertext)) return row;
    const resealed = envelope.seal(envelope.open(row.secret_ciphertext, secretContext(row.id)), secretContext(row.id));
    await this.deps.store.db
      .updateTable('sso_connections')
      .set({ secret_ciphertext: resealed })
      .where('id', '=', row.id)
      .where('secret_ciphertext', '=', row.secret_ciphertext)
      .execute();
    return { ...row, secret_ciphertext: resealed };
  }

  private view(row: SsoConnectionsTable): SsoConnection {
    const protocol = this.deps.protocols[row.protocol];
    return {
      id: row.id,
      org_id: row.org_id,
      protocol: row.protocol,
      name: row.name,
      status: row.status,
      domains: domainsOf(row),
      jit_provisioning: row.jit_provisioning === 1,
      callback_url: ssoCallbackUrl(this.deps.issuer, row.id),
      client_secret_set: row.secret_ciphertext !== null,
      ...(protocol && { [row.protocol]: protocol.publicSettings(JSON.parse(row.settings) as Record<string, unknown>, row.id) }),
      created_at: row.created_at,
      updated_at: row.updated_at,
    };
  }
}

function normalizeDomains(domains: readonly string[]): string[] {
  return [...new Set(domains.map((domain) => domain.toLowerCase()))];
}
