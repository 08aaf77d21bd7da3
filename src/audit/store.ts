import type { Kysely } from 'kysely';
import type { AuditEventsTable, Database } from '../store/schema.js';

/** A chain head row with its retained base. */
export interface StoredHead {
  seq: number;
  hash: string;
  base_seq: number;
  base_hash: string;
}

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
  /** The members with this email, each with its organization's slug (one person may be a member of several). */
  async membersByEmail(email: string, orgId?: string): Promise<{ id: string; orgSlug: string }[]> {
    let query = this.db
      .selectFrom('members')
      .innerJoin('organizations', 'organizations.id', 'members.org_id')
      .select(['members.id', 'organizations.slug as orgSlug'])
      .where('members.email', '=', email.trim().toLowerCase());
    if (orgId) query = query.where('members.org_id', '=', orgId);
    return query.orderBy('organizations.slug').execute();
  }

  /** One chain's events in `seq` order (after `after`, through `through`), streamed in pages so a long chain fits in memory. */
  async *chain(chainId: string, range: { after?: number; through?: number } = {}, pageSize = 1000): AsyncGenerator<AuditEventsTable> {
    let after = range.after ?? 0;
    for (;;) {
      let query = this.db.selectFrom('audit_events').selectAll().where('chain_id', '=', chainId).where('seq', '>', after);
      if (range.through !== undefined) query = query.where('seq', '<=', range.through);
      const page = await query.orderBy('seq').limit(pageSize).execute();
      yield* page;
      const last = page.at(-1);
      if (!last || page.length < pageSize) return;
      after = last.seq;
    }
  }

  /** A chain's head and its retained base (`base_seq` 0 and the genesis hash until it is pruned). */
  async head(chainId: string): Promise<StoredHead | undefined> {
    return this.db
      .selectFrom('audit_chain_heads')
      .select(['seq', 'hash', 'base_seq', 'base_hash'])
      .where('chain_id', '=', chainId)
      .executeTakeFirst();
  }

  /**
   * Every chain id: those with a head and those with a signed checkpoint, so a chain whose head
   * row and events were deleted still shows up (and fails verification) while its checkpoints remain.
   */
  async chainIds(): Promise<string[]> {
    const rows = await this.db
      .selectFrom('audit_chain_heads')
      .select('chain_id')
      .union(this.db.selectFrom('audit_checkpoints').select('chain_id'))
      .execute();
    return [...new Set(rows.map((r) => r.chain_id))].sort();
  }
}
