import type { Kysely } from 'kysely';
import type { AuditEventsTable, Database } from '../store/schema.js';

export interface AuditQuery {
  orgId?: string;
  kind?: string;
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
    if (query.since) q = q.where('at', '>=', query.since);
    if (query.until) q = q.where('at', '<', query.until);
    // Event ids are time-ordered (crypto/ids.ts), so id order is time order and a stable cursor.
    if (query.after) q = q.where('id', '>', query.after);
    return q.orderBy('id').limit(query.limit).execute();
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
