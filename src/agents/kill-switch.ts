import type { Kysely } from 'kysely';
import type { EventBus } from '../events/bus.js';
import type { Database } from '../store/schema.js';

/**
 * The set of agents that may not act (suspended or decommissioned), held in memory on every
 * node: loaded at start, kept current by `agent.status_changed`, reloaded periodically. Token
 * issuance and introspection consult it without touching the database (DESIGN.md §7).
 */
export class KillSwitch {
  private stopped = new Set<string>();

  constructor(
    private readonly db: Kysely<Database>,
    bus: EventBus,
  ) {
    bus.subscribe('agent.status_changed', ({ id, status }) => {
      if (status === 'active') this.stopped.delete(id);
      else this.stopped.add(id);
    });
  }

  isStopped(agentId: string | null | undefined): boolean {
    return agentId !== null && agentId !== undefined && this.stopped.has(agentId);
  }

  async load(): Promise<void> {
    const rows = await this.db.selectFrom('agents').select('id').where('status', '!=', 'active').execute();
    this.stopped = new Set(rows.map((r) => r.id));
  }
}
