import type { Clock } from '../clock.js';
import type { Store } from '../store/store.js';

export interface AgentUsageDeps {
  store: Store;
  clock: Clock;
}

/**
 * Agents' last access and token counts, accumulated in memory and written every few seconds, so
 * token issuance stays free of database writes beyond its audit event (docs/architecture.md §7).
 */
export class AgentUsage {
  private pending = new Map<string, { count: number; at: number }>();

  constructor(private readonly deps: AgentUsageDeps) {}

  record(agentId: string | null | undefined): void {
    if (!agentId) return;
    const entry = this.pending.get(agentId) ?? { count: 0, at: 0 };
    entry.count += 1;
    entry.at = this.deps.clock.now();
    this.pending.set(agentId, entry);
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    for (const [id, { count, at }] of batch) {
      await this.deps.store.db
        .updateTable('agents')
        .set((eb) => ({ tokens_issued: eb('tokens_issued', '+', count), last_access_at: new Date(at).toISOString() }))
        .where('id', '=', id)
        .execute();
    }
  }
}
