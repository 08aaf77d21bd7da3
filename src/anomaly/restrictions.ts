import type { Kysely } from 'kysely';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { scopePermission } from '../authz/delegation.js';
import { type Clock, isoAt } from '../clock.js';
import type { Counter } from '../counters/counter.js';
import { NotFoundError } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import type { Database } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import type { OrganizationSettings } from '../tenancy/schemas.js';

/** What an anomaly response left on an agent until an administrator lifts it. */
export type AgentRestriction = 'read_only' | 'approval_required';

export interface Admission {
  allowed: boolean;
  retryAfterSeconds: number;
}

/**
 * What token minting and decisions consult, in memory: the agent's restriction and its
 * per-agent rate limit. The grants and Decisions take this interface, optionally.
 */
export interface AgentRestrictionsView {
  restrictionOf(agentId: string | null | undefined): AgentRestriction | null;
  /** Counts one request of the agent against its organization's `agent_rate_limit_per_minute`. */
  admit(orgId: string, agentId: string): Promise<Admission>;
}

/** Only the scopes naming a `read` action (`calendar.read`, `calendar:read`) survive read-only. */
export function readOnlyScopes(scopes: readonly string[]): string[] {
  return scopes.filter((scope) => scopePermission(scope)?.action === 'read');
}

export interface OrganizationSettingsCacheDeps {
  db: Kysely<Database>;
  clock: Clock;
  /** 5 s unless given. */
  ttlMs?: number;
}

/** Organization settings, re-read at most every few seconds: anomaly responses and limits change rarely. */
export class OrganizationSettingsCache {
  private readonly entries = new Map<string, { at: number; settings: OrganizationSettings }>();

  private readonly ttlMs: number;

  constructor(private readonly deps: OrganizationSettingsCacheDeps) {
    this.ttlMs = deps.ttlMs ?? 5000;
  }

  /** The cached settings when fresh, without waiting; undefined otherwise. */
  peek(orgId: string): OrganizationSettings | undefined {
    const entry = this.entries.get(orgId);
    return entry && this.deps.clock.now() - entry.at < this.ttlMs ? entry.settings : undefined;
  }

  async get(orgId: string): Promise<OrganizationSettings> {
    const cached = this.peek(orgId);
    if (cached) return cached;
    const row = await this.deps.db.selectFrom('organizations').select('settings').where('id', '=', orgId).executeTakeFirst();
    const settings = row ? (JSON.parse(row.settings) as OrganizationSettings) : {};
    this.entries.set(orgId, { at: this.deps.clock.now(), settings });
    return settings;
  }
}

/**
 * Agents' restrictions held in memory on every node, like the kill switch: loaded at start,
 * reloaded for an organization when the bus says its permissions changed (`roles.changed`,
 * which a restriction publishes), fully after a bus resync and periodically.
 */
export class AgentRestrictions implements AgentRestrictionsView {
  private restricted = new Map<string, AgentRestriction>();
  private readonly unsubscribe: (() => void)[];

  constructor(
    private readonly deps: {
      store: Store;
      bus: EventBus;
      audit: AuditLog;
      clock: Clock;
      settings: OrganizationSettingsCache;
      /** Where the per-agent limit counts: across nodes when there are several (docs/architecture.md §12). */
      counter: Counter;
      onError?: (error: unknown) => void;
    },
  ) {
    const onError = (error: unknown) => deps.onError?.(error);
    this.unsubscribe = [
      deps.bus.subscribe('roles.changed', ({ orgId }) => this.loadOrganization(orgId).catch(onError)),
      deps.bus.subscribe('bus.resynced', () => this.load().catch(onError)),
    ];
  }

  restrictionOf(agentId: string | null | undefined): AgentRestriction | null {
    return agentId ? (this.restricted.get(agentId) ?? null) : null;
  }

  async admit(orgId: string, agentId: string): Promise<Admission> {
    const settings = this.deps.settings.peek(orgId) ?? (await this.deps.settings.get(orgId));
    const max = settings.agent_rate_limit_per_minute;
    if (!max) return { allowed: true, retryAfterSeconds: 0 };
    // A fixed minute, aligned to the clock so that every node counts in the same one: one round trip.
    const now = this.deps.clock.now();
    const { count, resetAt } = await this.deps.counter.add(`agent-rate|${agentId}`, 1, now, { ms: 60_000 });
    return { allowed: count <= max, retryAfterSeconds: Math.max(1, Math.ceil((resetAt - now) / 1000)) };
  }

  async load(): Promise<void> {
    const rows = await this.deps.store.db.selectFrom('agents').select(['id', 'restriction']).where('restriction', 'is not', null).execute();
    this.restricted = new Map(rows.map((r) => [r.id, r.restriction as AgentRestriction]));
  }

  async loadOrganization(orgId: string): Promise<void> {
    const rows = await this.deps.store.db.selectFrom('agents').select(['id', 'restriction']).where('org_id', '=', orgId).execute();
    for (const row of rows) {
      if (row.restriction) this.restricted.set(row.id, row.restriction);
      else this.restricted.delete(row.id);
    }
  }

  /**
   * Sets (or, with null, lifts) an agent's restriction inside the caller's transaction, with its
   * audit event; false when it already stood. Call `announce` after the commit.
   */
  async restrict(
    trx: Executor,
    input: { orgId: string; agentId: string; restriction: AgentRestriction | null; reason: string },
    context: AuditContext,
  ): Promise<boolean> {
    const current = await trx
      .selectFrom('agents')
      .select('restriction')
      .where('org_id', '=', input.orgId)
      .where('id', '=', input.agentId)
      .executeTakeFirst();
    if (!current || (current.restriction ?? null) === input.restriction) return false;
    await trx
      .updateTable('agents')
      .set({ restriction: input.restriction, updated_at: isoAt(this.deps.clock) })
      .where('id', '=', input.agentId)
      .execute();
    await this.deps.audit.append(
      trx,
      {
        kind: 'agent.restricted',
        orgId: input.orgId,
        agentId: input.agentId,
        detail: { restriction: input.restriction, previous: current.restriction ?? null, reason: input.reason },
      },
      context,
    );
    return true;
  }

  /** The agent's restriction as stored; not found unless the agent belongs to the organization. */
  async get(orgId: string, agentId: string): Promise<{ restriction: AgentRestriction | null }> {
    const agent = await this.deps.store.db
      .selectFrom('agents')
      .select('restriction')
      .where('org_id', '=', orgId)
      .where('id', '=', agentId)
      .executeTakeFirst();
    if (!agent) throw new NotFoundError('agent');
    return { restriction: agent.restriction ?? null };
  }

  /** An administrator sets or lifts a restriction (`null`): audited, and applied on every node. */
  async set(
    orgId: string,
    agentId: string,
    input: { restriction: AgentRestriction | null; reason: string },
    context: AuditContext,
  ): Promise<{ restriction: AgentRestriction | null }> {
    await inTransaction(this.deps.store, async (trx) => {
      const agent = await trx.selectFrom('agents').select('id').where('org_id', '=', orgId).where('id', '=', agentId).executeTakeFirst();
      if (!agent) throw new NotFoundError('agent');
      await this.restrict(trx, { orgId, agentId, ...input }, context);
    });
    await this.announce(orgId, agentId, input.restriction);
    return { restriction: input.restriction };
  }

  /** Applies a committed restriction here at once, and on every other node through the bus. */
  async announce(orgId: string, agentId: string, restriction: AgentRestriction | null): Promise<void> {
    if (restriction) this.restricted.set(agentId, restriction);
    else this.restricted.delete(agentId);
    // No dedicated topic yet: an agent's effective permissions changed, which is what roles.changed says.
    await this.deps.bus.publish('roles.changed', { orgId });
  }

  close(): void {
    for (const unsubscribe of this.unsubscribe) unsubscribe();
  }
}
