import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import type { EventBus } from '../events/bus.js';
import { InvalidatingCache } from '../events/cache.js';
import type { AgentsTable, Database } from '../store/schema.js';

/** What an agent's registry entry allows at most, whatever its roles say. */
export interface RegistryLimits {
  /** The tools it may use; empty: the registry does not narrow its tools (its roles alone decide). */
  allowedTools: readonly string[];
  /** The most sensitive data it may touch. */
  maxClassification: AgentsTable['max_data_classification'];
  /** The one environment it runs in. */
  environment: AgentsTable['environment'];
}

export interface AgentRegistryLimitsDeps {
  db: Kysely<Database>;
  clock: Clock;
  bus: EventBus;
  cacheTtlMs: number;
}

/**
 * Agents' registry limits, read through a cache that `agents.changed` (and a resync) clears, so
 * every decision can apply them without a database read.
 */
export class AgentRegistryLimits {
  private readonly cache: InvalidatingCache<RegistryLimits>;

  constructor(private readonly deps: AgentRegistryLimitsDeps) {
    this.cache = new InvalidatingCache(deps.clock, deps.cacheTtlMs);
    deps.bus.subscribe('agents.changed', () => this.cache.clear());
    deps.bus.subscribe('bus.resynced', () => this.cache.clear());
  }

  /** The agent's limits, or undefined when the organization has no such agent. */
  async of(orgId: string, agentId: string): Promise<RegistryLimits | undefined> {
    return this.cache.get(`${orgId}|${agentId}`, async () => {
      const row = await this.deps.db
        .selectFrom('agents')
        .select(['allowed_tools', 'max_data_classification', 'environment'])
        .where('org_id', '=', orgId)
        .where('id', '=', agentId)
        .executeTakeFirst();
      return (
        row && {
          allowedTools: JSON.parse(row.allowed_tools) as string[],
          maxClassification: row.max_data_classification,
          environment: row.environment,
        }
      );
    });
  }
}
