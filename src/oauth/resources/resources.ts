import type { AuditContext, AuditLog } from '../../audit/audit-log.js';
import { type Clock, isoAt } from '../../clock.js';
import { newId } from '../../crypto/ids.js';
import { ConflictError, InvalidRequestError, NotFoundError } from '../../errors.js';
import type { EventBus } from '../../events/bus.js';
import { InvalidatingCache } from '../../events/cache.js';
import { decodeCursor, type Page, toPage } from '../../http/pagination.js';
import { isLoopbackHostname } from '../../outbound/address-guard.js';
import { mapUniqueViolation } from '../../store/errors.js';
import type { ResourcesTable } from '../../store/schema.js';
import type { Store } from '../../store/store.js';
import { type Executor, inTransaction } from '../../store/transaction.js';
import type { CreateResource, Resource, ScopeDefinition, UpdateResource } from './schemas.js';
import { ResourceStore } from './store.js';

/** RFC 8707 §2: an absolute URI without a fragment; https, or http on loopback for development. */
export function checkResourceIdentifier(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URI';
  }
  if (value.includes('#')) return 'must not contain a fragment (RFC 8707 §2)';
  if (url.username || url.password) return 'must not contain credentials';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHostname(url.hostname)))
    return 'must use https (http only on localhost)';
  return undefined;
}

export interface ResourcesDeps {
  store: Store;
  audit: AuditLog;
  clock: Clock;
  bus: EventBus;
  cacheTtlMs: number;
}

/**
 * APIs and MCP servers that accept Mandate tokens. The token endpoint reads them through a
 * cache that every node drops on `resources.changed`.
 */
export class Resources {
  private readonly resources: ResourceStore;
  private readonly cache: InvalidatingCache<Resource>;

  constructor(private readonly deps: ResourcesDeps) {
    this.resources = new ResourceStore(deps.store.db);
    this.cache = new InvalidatingCache(deps.clock, deps.cacheTtlMs);
    deps.bus.subscribe('resources.changed', ({ identifier }) => this.cache.invalidate(identifier));
    deps.bus.subscribe('bus.resynced', () => this.cache.clear());
  }

  async create(input: CreateResource, context: AuditContext): Promise<Resource> {
    const problem = checkResourceIdentifier(input.identifier);
    if (problem) throw new InvalidRequestError(`identifier ${problem}`);
    assertUniqueScopes(input.scopes);
    const at = isoAt(this.deps.clock);
    const row: ResourcesTable = {
      id: newId('res', this.deps.clock.now()),
      identifier: input.identifier,
      name: input.name,
      scopes: JSON.stringify(input.scopes),
      access_token_ttl_seconds: input.access_token_ttl_seconds ?? null,
      org_ids: input.org_ids ? JSON.stringify(input.org_ids) : null,
      agent_id: input.agent_id ?? null,
      created_at: at,
      updated_at: at,
    };
    await this.write(async (trx) => {
      if (await this.resources.find(input.identifier, trx)) throw this.conflict();
      await assertAgentExists(trx, row.agent_id);
      await this.resources.insert(trx, row);
      await this.deps.audit.append(trx, { kind: 'resource.created', detail: { id: row.id, identifier: row.identifier } }, context);
    });
    await this.deps.bus.publish('resources.changed', { identifier: row.identifier });
    return toResource(row);
  }

  async get(ref: string): Promise<Resource> {
    return toResource(await this.require(ref));
  }

  /**
   * The registered resource an RFC 8707 `resource` parameter names, through the cache. Inside a
   * transaction pass `trx`, so a cache miss reads through it (store/transaction.ts).
   */
  async findByIdentifier(identifier: string, trx?: Executor): Promise<Resource | undefined> {
    return this.cache.get(identifier, async () => {
      const row = await this.resources.find(identifier, trx);
      return row && row.identifier === identifier ? toResource(row) : undefined;
    });
  }

  async list(options: { cursor?: string | undefined; limit: number }): Promise<Page<Resource>> {
    const rows = await this.resources.list(decodeCursor(options.cursor), options.limit + 1);
    return toPage(rows.map(toResource), options.limit);
  }

  async update(ref: string, input: UpdateResource, context: AuditContext): Promise<Resource> {
    if (input.scopes) assertUniqueScopes(input.scopes);
    const current = await this.write(async (trx) => {
      const row = await this.require(ref, trx);
      if (input.agent_id !== undefined) await assertAgentExists(trx, input.agent_id);
      await this.resources.update(trx, row.id, {
        ...(input.name !== undefined && { name: input.name }),
        ...(input.scopes !== undefined && { scopes: JSON.stringify(input.scopes) }),
        ...(input.access_token_ttl_seconds !== undefined && { access_token_ttl_seconds: input.access_token_ttl_seconds }),
        ...(input.org_ids !== undefined && { org_ids: input.org_ids ? JSON.stringify(input.org_ids) : null }),
        ...(input.agent_id !== undefined && { agent_id: input.agent_id }),
        updated_at: isoAt(this.deps.clock),
      });
      await this.deps.audit.append(trx, { kind: 'resource.updated', detail: { id: row.id, changed: input } }, context);
      return row;
    });
    await this.deps.bus.publish('resources.changed', { identifier: current.identifier });
    return this.get(current.id);
  }

  async remove(ref: string, context: AuditContext): Promise<void> {
    const row = await this.write(async (trx) => {
      const current = await this.require(ref, trx);
      await this.resources.delete(trx, current.id);
      await this.deps.audit.append(trx, { kind: 'resource.deleted', detail: { id: current.id, identifier: current.identifier } }, context);
      return current;
    });
    await this.deps.bus.publish('resources.changed', { identifier: row.identifier });
  }

  private async require(ref: string, trx?: Executor): Promise<ResourcesTable> {
    const row = await this.resources.find(ref, trx);
    if (!row) throw new NotFoundError('resource');
    return row;
  }

  private conflict(): ConflictError {
    return new ConflictError('a resource with this identifier is already registered');
  }

  private write<T>(work: (trx: Executor) => Promise<T>): Promise<T> {
    return mapUniqueViolation(
      () => inTransaction(this.deps.store, work),
      () => this.conflict(),
    );
  }
}

async function assertAgentExists(trx: Executor, agentId: string | null): Promise<void> {
  if (agentId === null) return;
  const agent = await trx.selectFrom('agents').select('id').where('id', '=', agentId).executeTakeFirst();
  if (!agent) throw new InvalidRequestError('agent_id must name a registered agent');
}

function assertUniqueScopes(scopes: readonly ScopeDefinition[]): void {
  const names = scopes.map((s) => s.name);
  if (new Set(names).size !== names.length) throw new InvalidRequestError('scope names must be unique');
}

export function toResource(row: ResourcesTable): Resource {
  return {
    id: row.id,
    identifier: row.identifier,
    name: row.name,
    scopes: JSON.parse(row.scopes) as ScopeDefinition[],
    access_token_ttl_seconds: row.access_token_ttl_seconds,
    org_ids: row.org_ids ? (JSON.parse(row.org_ids) as string[]) : null,
    agent_id: row.agent_id,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}
