import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import { newId } from '../crypto/ids.js';
import { ConflictError, NotFoundError } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import { InvalidatingCache } from '../events/cache.js';
import { decodeCursor, type Page, toPage } from '../http/pagination.js';
import { mapUniqueViolation } from '../store/errors.js';
import type { OrganizationsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import { OrganizationStore } from './organization-store.js';
import type { CreateOrganization, Organization, OrganizationSettings, UpdateOrganization } from './schemas.js';
import { patchSettings } from './settings-patch.js';

/** What tenancy needs from identity to judge an authentication policy (an interface: tenancy does not import identity). */
export interface LoginPolicyGuard {
  /** Reads the organization's settings itself, under a lock, inside `trx`. */
  assertReachable(orgId: string, trx: Executor): Promise<void>;
}

export interface OrganizationsDeps {
  store: Store;
  audit: AuditLog;
  clock: Clock;
  bus: EventBus;
  /** How long {@link Organizations.resolve} keeps a row if no `organizations.changed` event arrives (a safety net). */
  cacheTtlMs: number;
  /** Refuses settings that would lock every member out (tenancy/login-policy.ts). */
  guard?: LoginPolicyGuard;
}

/** B2B organizations (tenants): every change is recorded in that organization's audit chain. */
export class Organizations {
  private readonly orgs: OrganizationStore;
  /** Rows by id or slug for {@link Organizations.resolve}; emptied on every node by `organizations.changed`. */
  private readonly cache: InvalidatingCache<OrganizationsTable>;

  constructor(private readonly deps: OrganizationsDeps) {
    this.orgs = new OrganizationStore(deps.store.db);
    this.cache = new InvalidatingCache(deps.clock, deps.cacheTtlMs);
    deps.bus.subscribe('organizations.changed', () => this.cache.clear());
    deps.bus.subscribe('bus.resynced', () => this.cache.clear());
  }

  /**
   * The organization an id or slug names, read through a cache: for the decision point, which
   * names its organization on every call (docs/architecture.md §7). Changes go through
   * {@link Organizations.require}, never this.
   */
  async resolve(ref: string): Promise<OrganizationsTable> {
    const row = await this.cache.get(ref, () => this.orgs.find(ref));
    if (!row) throw new NotFoundError('organization');
    return row;
  }

  async create(input: CreateOrganization, context: AuditContext): Promise<Organization> {
    const at = isoAt(this.deps.clock);
    const row: OrganizationsTable = {
      id: newId('org', this.deps.clock.now()),
      slug: input.slug,
      name: input.name,
      settings: JSON.stringify(input.settings ?? {}),
      created_at: at,
      updated_at: at,
    };
    await this.write(async (trx) => {
      await this.assertSlugFree(trx, input.slug);
      await this.orgs.insert(trx, row);
      if (input.settings) await this.deps.guard?.assertReachable(row.id, trx);
      await this.deps.audit.append(
        trx,
        { kind: 'organization.created', orgId: row.id, detail: { slug: row.slug, name: row.name } },
        context,
      );
      await this.deps.bus.record(trx, 'organizations.changed', { id: row.id });
    });
    return toOrganization(row);
  }

  /** An organization by id or slug, or a 404. */
  async get(ref: string): Promise<Organization> {
    return toOrganization(await this.require(ref));
  }

  async list(options: { cursor?: string | undefined; limit: number }): Promise<Page<Organization>> {
    const rows = await this.orgs.list(decodeCursor(options.cursor), options.limit + 1);
    return toPage(rows.map(toOrganization), options.limit);
  }

  /**
   * Slug, name, and settings as an RFC 7396 merge patch: a setting left out is kept, `null`
   * removes one. The merged settings are validated whole and judged by the lock-out guard.
   */
  async update(ref: string, input: UpdateOrganization, context: AuditContext): Promise<Organization> {
    const id = await this.write(async (trx) => {
      // Locked (PostgreSQL): two merges at once must not each start from the same old settings.
      const current = await this.require(ref, trx, { forUpdate: this.deps.store.dialect === 'postgres' });
      if (input.slug !== undefined && input.slug !== current.slug) await this.assertSlugFree(trx, input.slug, current.id);
      const before = settingsOf(current);
      // RFC 7396 on the whole body: `settings: null` removes every setting.
      const after = input.settings === undefined ? undefined : input.settings === null ? {} : patchSettings(before, input.settings);
      const changes = {
        ...(input.slug !== undefined && { slug: input.slug }),
        ...(input.name !== undefined && { name: input.name }),
        ...(after !== undefined && { settings: JSON.stringify(after) }),
      };
      await this.orgs.update(trx, current.id, { ...changes, updated_at: isoAt(this.deps.clock) });
      if (after !== undefined) await this.deps.guard?.assertReachable(current.id, trx);
      await this.deps.audit.append(
        trx,
        {
          kind: 'organization.updated',
          orgId: current.id,
          detail: { changed: input, ...(after !== undefined && { settings: { before, after } }) },
        },
        context,
      );
      await this.deps.bus.record(trx, 'organizations.changed', { id: current.id });
      return current.id;
    });
    return this.get(id);
  }

  /** Deletes the organization and its members; its audit chain is kept. */
  async remove(ref: string, context: AuditContext): Promise<void> {
    await this.write(async (trx) => {
      const current = await this.require(ref, trx);
      await this.orgs.delete(trx, current.id);
      await this.deps.audit.append(trx, { kind: 'organization.deleted', orgId: current.id, detail: { slug: current.slug } }, context);
      await this.deps.bus.record(trx, 'organizations.changed', { id: current.id });
    });
  }

  /** The organization row for an id or slug, or a 404; other capabilities scope by its id. */
  async require(ref: string, trx?: Executor, options: { forUpdate?: boolean } = {}): Promise<OrganizationsTable> {
    const row = await this.orgs.find(ref, trx, options);
    if (!row) throw new NotFoundError('organization');
    return row;
  }

  private async assertSlugFree(trx: Executor, slug: string, exceptId?: string): Promise<void> {
    if (await this.orgs.slugTaken(slug, trx, exceptId)) throw new ConflictError(`organization slug "${slug}" is already taken`);
  }

  /** A transaction whose unique-constraint race (two creates of one slug at once) answers 409. */
  private write<T>(work: (trx: Executor) => Promise<T>): Promise<T> {
    return mapUniqueViolation(
      () => inTransaction(this.deps.store, work),
      () => new ConflictError('organization slug is already taken'),
    );
  }
}

/** An organization's settings, parsed from its row. */
export function settingsOf(row: Pick<OrganizationsTable, 'settings'>): OrganizationSettings {
  return JSON.parse(row.settings) as OrganizationSettings;
}

export function toOrganization(row: OrganizationsTable): Organization {
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    settings: settingsOf(row),
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}
