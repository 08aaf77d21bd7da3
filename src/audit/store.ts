import type { Kysely } from 'kysely';
import type { AuditEventsTable, Database } from '../store/schema.js';

export interface AuditQuery {
  orgId?: string;
  kind?: string;
  /** Events a member took part in: as the actor or as the user acted for (any of these ids). */
  memberIds?: string[];
  agentId?: string;
  tool?: string;
  action?: string;
  result?: 'success' | 'failure';
  correlationId?: string;
  grantId?: string;
  runId?: string;
  since?: string;
  until?: string;
  /** Id of the last event of the previous page. */
  after?: string;
  limit: number;
}

/** Audit reads: filtered, newest-last pages, and whole chains in order for verification. */
export class AuditEvents {
  constructor(private readonly db: Kysely<Database>) {}

  async list(query: AuditQuery): Promise<AuditEventsTable[]> {
    let q = this.db.selectFrom('audit_events').selectAll();
    if (query.orgId) q = q.where('org_id', '=', query.orgId);
    if (query.kind) q = q.where('kind', '=', query.kind);
    const members = query.memberIds;
    if (members) q = q.where((eb) => eb.or([eb('subject_id', 'in', members), eb('actor_id', 'in', members)]));
    if (query.agentId) q = q.where('agent_id', '=', query.agentId);
    if (query.tool) q = q.where('tool', '=', query.tool);
    if (query.action) q = q.where('action', '=', query.action);
    if (query.result) q = q.where('result', '=', query.result);
    if (query.correlationId) q = q.where('correlation_id', '=', query.correlationId);
    if (query.grantId) q = q.where('grant_id', '=', query.grantId);
    if (query.runId) q = q.where('run_id', '=', query.runId);
    if (query.since) q = q.where('at', '>=', query.since);
    if (query.until) q = q.where('at', '<', query.until);
    // Event ids are time-ordered (crypto/ids.ts), so id order is time order and a stable cursor.
    if (query.after) q = q.where('id', '>', query.after);
    return q.orderBy('id').limit(query.limit).execute();
  }

  /** Members' emails and agents' names for the ids these events mention, for people reading them. */
  async names(events: readonly AuditEventsTable[]): Promise<Map<string, string>> {
    const memberIds = [
      ...new Set(events.flatMap((e) => [e.subject_id, e.actor_id]).filter((id): id is string => !!id?.startsWith('mbr_'))),
    ];
    const agentIds = [...new Set(events.map((e) => e.agent_id).filter((id): id is string => !!id))];
    const [members, agents] = await Promise.all([
      memberIds.length ? this.db.selectFrom('members').select(['id', 'email as name']).where('id', 'in', memberIds).execute() : [],
      agentIds.length ? this.db.selectFrom('agents').select(['id', 'name']).where('id', 'in', agentIds).execute() : [],
    ]);
    return new Map([...members, ...agents].map((row) => [row.id, row.name]));
  }

  /** Ids of the members with this email, in one organization or in any. */
  async memberIdsByEmail(email: string, orgId?: string): Promise<string[]> {
    let query = this.db.selectFrom('members').select('id').where('email', '=', email.trim().toLowerCase());
    if (orgId) query = query.where('org_id', '=', orgId);
    return (await query.execute()).map((m) => m.id);
  }

  /** Every event of one chain in `seq` order, streamed in pages so a long chain fits in memory. */
  async *chain(chainId: string, pageSize = 1000): AsyncGenerator<AuditEventsTable> {
    let after = 0;
    for (;;) {
      const page = await this.db
        .selectFrom('audit_events')
        .selectAll()
        .where('chain_id', '=', chainId)
        .where('seq', '>', after)
        .orderBy('seq')
        .limit(pageSize)
        .execute();
      yield* page;
      const last = page.at(-1);
      if (!last || page.length < pageSize) return;
      after = last.seq;
    }
  }

  async head(chainId: string): Promise<{ seq: number; hash: string } | undefined> {
    return this.db.selectFrom('audit_chain_heads').select(['seq', 'hash']).where('chain_id', '=', chainId).executeTakeFirst();
  }

  async chainIds(): Promise<string[]> {
    const rows = await this.db.selectFrom('audit_chain_heads').select('chain_id').orderBy('chain_id').execute();
    return rows.map((r) => r.chain_id);
  }
}
