import { createHash } from 'node:crypto';
import type { AuditEventsTable } from '../store/schema.js';
import { canonicalJson } from './canonical-json.js';

/** The hash of the first event's predecessor. */
export const GENESIS_HASH = '0'.repeat(64);

/** An event as hashed: every column but its own hash and the previous one. */
export type HashedFields = Omit<AuditEventsTable, 'hash' | 'prev_hash'>;

/** Columns added after the first release: part of the hash only when set, so older events still verify. */
export const EXTENSION_COLUMNS = [
  'client_id',
  'agent_version',
  'agent_environment',
  'act',
  'error_code',
  'grant_valid',
  'started_at',
  'ended_at',
  'latency_ms',
  'intent_id',
  'run_id',
] as const satisfies readonly (keyof AuditEventsTable)[];

/** `SHA-256(prev_hash || canonical JSON of the event)`, hex; canonical JSON per RFC 8785. */
export function computeEventHash(prevHash: string, event: HashedFields): string {
  const fields: HashedFields = {
    chain_id: event.chain_id,
    seq: event.seq,
    id: event.id,
    org_id: event.org_id,
    at: event.at,
    kind: event.kind,
    correlation_id: event.correlation_id,
    request_id: event.request_id,
    actor_id: event.actor_id,
    agent_id: event.agent_id,
    subject_id: event.subject_id,
    tool: event.tool,
    action: event.action,
    result: event.result,
    classification: event.classification,
    jti: event.jti,
    scope: event.scope,
    grant_id: event.grant_id,
    detail: event.detail,
  };
  for (const column of EXTENSION_COLUMNS) {
    const value = event[column];
    if (value !== null && value !== undefined) (fields as unknown as Record<string, unknown>)[column] = value;
  }
  return createHash('sha256').update(prevHash, 'utf8').update(canonicalJson(fields), 'utf8').digest('hex');
}

export type ChainProblem = 'altered' | 'missing' | 'reordered' | 'truncated';

export type ChainReport =
  | { ok: true; chainId: string; events: number }
  | { ok: false; chainId: string; seq: number; problem: ChainProblem; message: string };

/**
 * Walks one chain's events in `seq` order and reports the first break: an edited event
 * (`altered`), a gap (`missing`), an event whose predecessor is not the one it was chained to
 * (`reordered`), or fewer events than the chain head says (`truncated`). Incremental, so a
 * chain of any length streams through it.
 */
export class ChainWalker {
  private expectedSeq = 1;
  private prevHash = GENESIS_HASH;
  private problem: ChainReport | undefined;

  constructor(readonly chainId: string) {}

  /** Feeds the next event; returns false once a problem is found (further events are ignored). */
  push(event: AuditEventsTable): boolean {
    if (this.problem) return false;
    const seq = this.expectedSeq;
    if (event.seq !== seq) {
      this.problem = this.fail(seq, 'missing', `event ${seq} is missing (next present is ${event.seq})`);
    } else if (event.prev_hash !== this.prevHash) {
      this.problem = this.fail(seq, 'reordered', `event ${seq} does not follow event ${seq - 1}`);
    } else if (computeEventHash(this.prevHash, event) !== event.hash) {
      this.problem = this.fail(seq, 'altered', `event ${seq} was altered after it was written`);
    } else {
      this.prevHash = event.hash;
      this.expectedSeq += 1;
    }
    return this.problem === undefined;
  }

  /** The verdict, checked against the chain head when one is known. */
  finish(head?: { seq: number; hash: string }): ChainReport {
    if (this.problem) return this.problem;
    const count = this.expectedSeq - 1;
    if (head && (head.seq !== count || (count > 0 && head.hash !== this.prevHash))) {
      return this.fail(Math.min(head.seq, count + 1), 'truncated', `chain ends at event ${count} but its head is event ${head.seq}`);
    }
    return { ok: true, chainId: this.chainId, events: count };
  }

  private fail(seq: number, problem: ChainProblem, message: string): ChainReport {
    return { ok: false, chainId: this.chainId, seq, problem, message };
  }
}

/** {@link ChainWalker} over a list already in memory. */
export function verifyChain(chainId: string, events: Iterable<AuditEventsTable>, head?: { seq: number; hash: string }): ChainReport {
  const walker = new ChainWalker(chainId);
  for (const event of events) if (!walker.push(event)) break;
  return walker.finish(head);
}
