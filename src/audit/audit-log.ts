import { CompiledQuery } from 'kysely';
import { type Clock, isoAt } from '../clock.js';
import type { AuditContext } from '../context.js';
import { newId } from '../crypto/ids.js';
import type { AuditEventsTable } from '../store/schema.js';
import type { Dialect } from '../store/store.js';
import type { Executor } from '../store/transaction.js';
import { canonicalJson } from './canonical-json.js';
import { CORE_COLUMNS, computeEventHash, EXTENSION_COLUMNS, GENESIS_HASH, type HashedFields } from './chain.js';
import { type AuditKind, PLATFORM_CHAIN } from './kinds.js';

/** What a caller records; the log adds chain position, time, id and hashes. */
export interface AuditInput {
  /** Set when the caller must know the id before the event is written (an intent); generated otherwise. */
  id?: string;
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
  clientId?: string | null;
  agentVersion?: string | null;
  agentEnvironment?: string | null;
  /** The RFC 8693 `act` chain of the token exercised. */
  act?: unknown;
  /** On a failure: a stable code (an OAuth error, an ERR_ code, the tool's own). */
  errorCode?: string | null;
  /** Whether the grant behind the token still stood when the event happened. */
  grantValid?: boolean | null;
  startedAt?: string | null;
  endedAt?: string | null;
  latencyMs?: number | null;
  intentId?: string | null;
  runId?: string | null;
}

export type { AuditContext } from '../context.js';

/**
 * Appends events to per-organization hash chains. Callers pass their transaction, so the event
 * commits with the change it records (docs/architecture.md §4). The chain head row serializes appends:
 * PostgreSQL locks it with FOR UPDATE; on SQLite the transaction's BEGIN IMMEDIATE holds the one
 * write lock, across the processes of `serve --workers` too. The head is read inside the
 * transaction and never cached, so no two writers ever chain from the same head (§8).
 */
/** Column order of the compiled single-row insert: the order the event object's keys are written in. */
const EVENT_COLUMNS = [...CORE_COLUMNS, ...EXTENSION_COLUMNS] as const;

const CHUNK_SIZES = [32, 16, 8, 4, 2, 1];

/** Told of every batch of events appended; see AuditLog.onAppended. */
export type AppendedListener = (events: readonly AuditEventsTable[]) => void;

export interface AuditLogDeps {
  dialect: Dialect;
  clock: Clock;
}

export class AuditLog {
  private readonly insertSqlBySize = new Map<number, string>();
  private readonly appendedListeners = new Set<AppendedListener>();

  constructor(private readonly deps: AuditLogDeps) {}

  async append(trx: Executor, input: AuditInput, context: AuditContext = {}): Promise<AuditEventsTable> {
    const [event] = await this.appendMany(trx, [{ input, context }]);
    return event as AuditEventsTable;
  }

  /**
   * Appends several events in order: each chain's head is locked and read once, the events are
   * chained in memory and inserted in one statement, and the head is written once. This is what
   * makes group commit cheap (audit/batcher.ts).
   */
  async appendMany(trx: Executor, items: readonly { input: AuditInput; context?: AuditContext }[]): Promise<AuditEventsTable[]> {
    const byChain = new Map<string, { input: AuditInput; context: AuditContext; index: number }[]>();
    items.forEach(({ input, context }, index) => {
      const chainId = input.orgId ?? PLATFORM_CHAIN;
      const list = byChain.get(chainId) ?? [];
      list.push({ input, context: context ?? {}, index });
      byChain.set(chainId, list);
    });
    const out: AuditEventsTable[] = new Array(items.length);
    const at = isoAt(this.deps.clock);
    for (const [chainId, list] of byChain) {
      const head = await this.lockHead(trx, chainId);
      let prev = head;
      const rows = list.map(({ input, context, index }) => {
        const fields = this.fields(chainId, prev.seq + 1, at, input, context);
        const event: AuditEventsTable = { ...fields, prev_hash: prev.hash, hash: computeEventHash(prev.hash, fields) };
        prev = { seq: event.seq, hash: event.hash };
        out[index] = event;
        return event;
      });
      await this.insertEvents(trx, rows);
      await trx.updateTable('audit_chain_heads').set({ seq: prev.seq, hash: prev.hash }).where('chain_id', '=', chainId).execute();
    }
    for (const listener of this.appendedListeners) {
      try {
        listener(out);
      } catch {
        // A listener (anomaly detection) must never fail or delay the write it observes.
      }
    }
    return out;
  }

  /**
   * Calls `listener` synchronously with each batch of events right after it is inserted, inside
   * the writer's transaction (which may still roll back): a listener queues and works later, it
   * never queries the database from the call. Returns the function that unsubscribes.
   */
  onAppended(listener: AppendedListener): () => void {
    this.appendedListeners.add(listener);
    return () => this.appendedListeners.delete(listener);
  }

  /**
   * Inserts a batch with few statements: multi-row INSERTs in power-of-two chunks (32, 16, … 1
   * rows), each compiled once and reused with new parameters, so neither Kysely's query building
   * nor the driver's prepare runs per event, and the SQLite statement cache stays small.
   */
  private async insertEvents(trx: Executor, rows: AuditEventsTable[]): Promise<void> {
    let offset = 0;
    while (offset < rows.length) {
      const size = CHUNK_SIZES.find((n) => n <= rows.length - offset) as number;
      const chunk = rows.slice(offset, offset + size);
      const params = chunk.flatMap((row) => EVENT_COLUMNS.map((column) => row[column]));
      await trx.executeQuery(CompiledQuery.raw(this.insertSql(trx, size), params));
      offset += size;
    }
  }

  /** The INSERT for `size` rows, compiled from rows in EVENT_COLUMNS order so parameters line up. */
  private insertSql(trx: Executor, size: number): string {
    let sql = this.insertSqlBySize.get(size);
    if (!sql) {
      const placeholder = Object.fromEntries(EVENT_COLUMNS.map((column) => [column, ''])) as unknown as AuditEventsTable;
      sql = trx
        .insertInto('audit_events')
        .values(Array.from({ length: size }, () => placeholder))
        .compile().sql;
      this.insertSqlBySize.set(size, sql);
    }
    return sql;
  }

  private fields(chainId: string, seq: number, at: string, input: AuditInput, context: AuditContext): HashedFields {
    return {
      chain_id: chainId,
      seq,
      id: input.id ?? newId('evt', this.deps.clock.now()),
      org_id: input.orgId ?? null,
      at,
      kind: input.kind,
      correlation_id: context.correlationId ?? null,
      request_id: context.requestId ?? null,
      actor_id: context.impersonatorId ?? input.actorId ?? context.actorId ?? null,
      agent_id: input.agentId ?? null,
      subject_id: input.subjectId ?? null,
      tool: input.tool ?? null,
      action: input.action ?? null,
      result: input.result ?? 'success',
      classification: input.classification ?? null,
      jti: input.jti ?? null,
      scope: input.scope ?? null,
      grant_id: input.grantId ?? null,
      detail: canonicalJson(
        context.impersonatorId ? { ...(input.detail ?? {}), impersonated_by: context.impersonatorId } : (input.detail ?? {}),
      ),
      client_id: input.clientId ?? null,
      agent_version: input.agentVersion ?? null,
      agent_environment: input.agentEnvironment ?? null,
      act: input.act === undefined || input.act === null ? null : canonicalJson(input.act),
      error_code: input.errorCode ?? null,
      grant_valid: input.grantValid === undefined || input.grantValid === null ? null : input.grantValid ? 1 : 0,
      started_at: input.startedAt ?? null,
      ended_at: input.endedAt ?? null,
      latency_ms: input.latencyMs ?? null,
      intent_id: input.intentId ?? null,
      run_id: input.runId ?? null,
      client_ip: context.clientIp ?? null,
    };
  }

  /** Holds the chain's head until the transaction ends, so a check-then-append cannot race another writer. */
  async lockChain(trx: Executor, chainId: string): Promise<void> {
    await this.lockHead(trx, chainId);
  }

  private async lockHead(trx: Executor, chainId: string): Promise<{ seq: number; hash: string }> {
    await trx
      .insertInto('audit_chain_heads')
      .values({ chain_id: chainId, seq: 0, hash: GENESIS_HASH })
      .onConflict((oc) => oc.column('chain_id').doNothing())
      .execute();
    let query = trx.selectFrom('audit_chain_heads').select(['seq', 'hash']).where('chain_id', '=', chainId);
    if (this.deps.dialect === 'postgres') query = query.forUpdate();
    return query.executeTakeFirstOrThrow();
  }
}
