import { type Clock, isoAt } from '../clock.js';
import { newId } from '../crypto/ids.js';
import type { AuditEventsTable } from '../store/schema.js';
import type { Dialect } from '../store/store.js';
import type { Executor } from '../store/transaction.js';
import { canonicalJson } from './canonical-json.js';
import { computeEventHash, GENESIS_HASH, type HashedFields } from './chain.js';
import { type AuditKind, PLATFORM_CHAIN } from './kinds.js';

/** What a caller records; the log adds chain position, time, id and hashes. */
export interface AuditInput {
  kind: AuditKind;
  orgId?: string | null;
  /** Who acted: an admin key id, a member id, an agent id. */
  actorId?: string | null;
  agentId?: string | null;
  /** The user on whose behalf the actor acted, when different from the actor. */
  subjectId?: string | null;
  tool?: string | null;
  action?: string | null;
  result?: 'success' | 'failure';
  classification?: string | null;
  jti?: string | null;
  scope?: string | null;
  grantId?: string | null;
  /** What changed. Never a secret: callers pass ids and public fields only. */
  detail?: Record<string, unknown>;
}

/** Who asked and under which request: carried into every event a change records. */
export interface AuditContext {
  requestId?: string | null;
  correlationId?: string | null;
  /** The authenticated caller (admin key, member, agent) unless the event names another actor. */
  actorId?: string | null;
}

/**
 * Appends events to per-organization hash chains. Callers pass their transaction, so the event
 * commits with the change it records (DESIGN.md §4). The chain head row serializes appends:
 * PostgreSQL locks it with FOR UPDATE; SQLite already has a single writer.
 */
export class AuditLog {
  constructor(
    private readonly dialect: Dialect,
    private readonly clock: Clock,
  ) {}

  async append(trx: Executor, input: AuditInput, context: AuditContext = {}): Promise<AuditEventsTable> {
    const chainId = input.orgId ?? PLATFORM_CHAIN;
    const head = await this.lockHead(trx, chainId);
    const fields: HashedFields = {
      chain_id: chainId,
      seq: head.seq + 1,
      id: newId('evt', this.clock.now()),
      org_id: input.orgId ?? null,
      at: isoAt(this.clock),
      kind: input.kind,
      correlation_id: context.correlationId ?? null,
      request_id: context.requestId ?? null,
      actor_id: input.actorId ?? context.actorId ?? null,
      agent_id: input.agentId ?? null,
      subject_id: input.subjectId ?? null,
      tool: input.tool ?? null,
      action: input.action ?? null,
      result: input.result ?? 'success',
      classification: input.classification ?? null,
      jti: input.jti ?? null,
      scope: input.scope ?? null,
      grant_id: input.grantId ?? null,
      detail: canonicalJson(input.detail ?? {}),
    };
    const event: AuditEventsTable = { ...fields, prev_hash: head.hash, hash: computeEventHash(head.hash, fields) };
    await trx.insertInto('audit_events').values(event).execute();
    await trx.updateTable('audit_chain_heads').set({ seq: event.seq, hash: event.hash }).where('chain_id', '=', chainId).execute();
    return event;
  }

  private async lockHead(trx: Executor, chainId: string): Promise<{ seq: number; hash: string }> {
    await trx
      .insertInto('audit_chain_heads')
      .values({ chain_id: chainId, seq: 0, hash: GENESIS_HASH })
      .onConflict((oc) => oc.column('chain_id').doNothing())
      .execute();
    let query = trx.selectFrom('audit_chain_heads').select(['seq', 'hash']).where('chain_id', '=', chainId);
    if (this.dialect === 'postgres') query = query.forUpdate();
    return query.executeTakeFirstOrThrow();
  }
}
