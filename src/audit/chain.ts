import { createHash } from 'node:crypto';
import type { AuditEventsTable } from '../store/schema.js';

/** The hash of the first event's predecessor. */
export const GENESIS_HASH = '0'.repeat(64);

/** An event as hashed: every column but its own hash and the previous one. */
export type HashedFields = Omit<AuditEventsTable, 'hash' | 'prev_hash'>;

/** The columns of the first release, in the order rows are written and exported. */
export const CORE_COLUMNS = [
  'chain_id',
  'seq',
  'id',
  'org_id',
  'at',
  'kind',
  'correlation_id',
  'request_id',
  'actor_id',
  'agent_id',
  'subject_id',
  'tool',
  'action',
  'result',
  'classification',
  'jti',
  'scope',
  'grant_id',
  'detail',
  'prev_hash',
  'hash',
] as const satisfies readonly (keyof AuditEventsTable)[];

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
  'client_ip',
] as const satisfies readonly (keyof AuditEventsTable)[];

/** Every hashed column, sorted as RFC 8785 §3.2.3 sorts keys (UTF-16 code units), with its `"name":` prefix. */
const HASHED_COLUMNS = [...CORE_COLUMNS.filter((c) => c !== 'prev_hash' && c !== 'hash'), ...EXTENSION_COLUMNS].sort().map((column) => ({
  column,
  prefix: `${JSON.stringify(column)}:`,
  extension: (EXTENSION_COLUMNS as readonly string[]).includes(column),
}));

/**
 * `SHA-256(prev_hash || canonical JSON of the event)`, hex; canonical JSON per RFC 8785 of the
 * core columns and the extension columns that are set. Every column holds a string, a number or
 * null (`detail` and `act` are canonical JSON text already), so the object is written directly in
 * the sorted column order, which is what canonicalJson would produce: this runs for every
 * event appended and verified.
 */
export function computeEventHash(prevHash: string, event: HashedFields): string {
  let json = '{';
  for (const { column, prefix, extension } of HASHED_COLUMNS) {
    const value = event[column];
    if (value === undefined || (extension && value === null)) continue;
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonical JSON cannot hold NaN or Infinity');
    json += `${json.length > 1 ? ',' : ''}${prefix}${JSON.stringify(value)}`;
  }
  return createHash('sha256').update(prevHash, 'utf8').update(`${json}}`, 'utf8').digest('hex');
}

/**
 * `altered`: an event differs from what was hashed or signed, or names another chain; `missing`: a
 * gap; `reordered`: an event does not follow its predecessor; `truncated`: the chain ends before
 * its head or a signed checkpoint; `forged_checkpoint`: a checkpoint whose signature or payload
 * does not verify; `unanchored_base`: a pruned chain's retained base that no valid checkpoint, or
 * no `audit.pruned` event of the retained chain, vouches for; `unsigned_tail`: an export whose
 * last events no signed checkpoint covers (offline verification only: in the database the tail
 * after the newest checkpoint is normal and only counted, as `unsigned`).
 */
export type ChainProblem = 'altered' | 'missing' | 'reordered' | 'truncated' | 'forged_checkpoint' | 'unanchored_base' | 'unsigned_tail';

export type ChainReport =
  | {
      ok: true;
      chainId: string;
      /** Events walked: those after the base. */
      events: number;
      /** Set when the chain was pruned: the seq its retained part starts after. */
      baseSeq?: number;
      /** Checkpoints checked, and the highest seq one of them vouches for (set when there are any). */
      checkpoints?: number;
      signedThrough?: number;
      /** Events after the newest valid checkpoint (database verification; set when there are any). */
      unsigned?: number;
      /** Set for a retention archive: a piece of the chain, whose base the next piece's `audit.pruned` records. */
      segment?: true;
    }
  | { ok: false; chainId: string; seq: number; problem: ChainProblem; message: string };

/** Where a chain starts: genesis, or the last pruned event of a pruned chain. */
export interface ChainBase {
  seq: number;
  hash: string;
}

/**
 * A signed checkpoint whose signature was already checked (audit/verify.ts): the walker stays
 * synchronous and free of keys. `valid` is false when the JWS does not verify or its payload
 * does not name this chain, seq and hash; `reason` says why.
 */
export interface CheckedCheckpoint {
  seq: number;
  hash: string;
  valid: boolean;
  reason?: string;
}

/** How a {@link ChainWalker} judges a pruned chain's base. */
export interface WalkerOptions {
  /**
   * Require, when the base is above 0, that the newest `audit.pruned` event walked records
   * pruning through exactly the base (`detail.to`): a base moved up by deleting events is then
   * `unanchored_base` even when a checkpoint of the new base exists. True for a retained chain
   * (the database, an export); false for a retention archive, a piece whose base the
   * `audit.pruned` event of a later piece records.
   */
  requirePrunedEvent?: boolean;
}

/**
 * Walks one chain's events and checkpoints in `seq` order (a checkpoint right after the event it
 * vouches for) and reports the first break: an edited event or one naming another chain
 * (`altered`), a gap (`missing`), an event whose predecessor is not the one it was chained to
 * (`reordered`), fewer events than the head or a signed checkpoint says (`truncated`), a
 * checkpoint that does not verify (`forged_checkpoint`), or a pruned chain's base that no
 * checkpoint, or no `audit.pruned` event, vouches for (`unanchored_base`).
 * Pure and incremental, so a chain of any length streams through it.
 */
export class ChainWalker {
  private expectedSeq: number;
  private prevHash: string;
  private anchored: boolean;
  /** Checkpoints ahead of the last event walked, by ascending seq. */
  private readonly pending: CheckedCheckpoint[] = [];
  private checkpoints = 0;
  private signedThrough = 0;
  private problem: ChainReport | undefined;
  /** `detail.to` of the newest `audit.pruned` event walked. */
  private prunedTo: number | undefined;

  constructor(
    readonly chainId: string,
    private readonly base: ChainBase = { seq: 0, hash: GENESIS_HASH },
    private readonly options: WalkerOptions = {},
  ) {
    this.expectedSeq = base.seq + 1;
    this.prevHash = base.hash;
    this.anchored = base.seq === 0;
    this.signedThrough = base.seq;
  }

  /** The seq the next event must have. */
  get nextSeq(): number {
    return this.expectedSeq;
  }

  /** The highest seq a valid checkpoint vouches for so far (the base when none does). */
  get signedSeq(): number {
    return this.signedThrough;
  }

  /** Feeds the next event; returns false once a problem is found (further input is ignored). */
  push(event: AuditEventsTable): boolean {
    if (this.problem) return false;
    const seq = this.expectedSeq;
    if (!this.anchored) {
      this.problem = this.unanchored();
    } else if (event.seq !== seq) {
      this.problem = this.fail(seq, 'missing', `event ${seq} is missing (next present is ${event.seq})`);
    } else if (event.prev_hash !== this.prevHash) {
      this.problem = this.fail(seq, 'reordered', `event ${seq} does not follow event ${seq - 1}`);
    } else if (event.chain_id !== this.chainId) {
      this.problem = this.fail(seq, 'altered', `event ${seq} names chain ${event.chain_id}, not ${this.chainId}`);
    } else if (computeEventHash(this.prevHash, event) !== event.hash) {
      this.problem = this.fail(seq, 'altered', `event ${seq} was altered after it was written`);
    } else {
      if (event.kind === 'audit.pruned') this.prunedTo = prunedThrough(event.detail);
      this.prevHash = event.hash;
      this.expectedSeq += 1;
      while (!this.problem && this.pending[0]?.seq === seq) this.check(this.pending.shift() as CheckedCheckpoint);
    }
    return this.problem === undefined;
  }

  /**
   * Feeds a checkpoint. One at or before the last event walked is checked now; one ahead of it
   * waits for its event, and if the chain ends first, the chain was truncated.
   */
  pushCheckpoint(checkpoint: CheckedCheckpoint): boolean {
    if (this.problem) return false;
    const last = this.expectedSeq - 1;
    if (checkpoint.seq > last) {
      const at = this.pending.findIndex((p) => p.seq > checkpoint.seq);
      this.pending.splice(at === -1 ? this.pending.length : at, 0, checkpoint);
    } else if (checkpoint.seq < last && checkpoint.seq > this.base.seq) {
      // Its event is behind us and its hash no longer known: only a reordered input does this.
      this.problem = this.fail(checkpoint.seq, 'reordered', `checkpoint ${checkpoint.seq} comes after event ${last}`);
    } else {
      this.check(checkpoint);
    }
    return this.problem === undefined;
  }

  /** The verdict, checked against the chain head when one is known. */
  finish(head?: { seq: number; hash: string }): ChainReport {
    if (this.problem) return this.problem;
    if (!this.anchored) return this.unanchored();
    if (this.options.requirePrunedEvent && this.base.seq > 0 && this.prunedTo !== this.base.seq) {
      const seq = this.base.seq;
      return this.fail(seq, 'unanchored_base', `events up to ${seq} are gone but no audit.pruned event of the chain records pruning them`);
    }
    const last = this.expectedSeq - 1;
    const beyond = this.pending[0];
    if (beyond && !beyond.valid) return this.forged(beyond);
    if (beyond) {
      // A signed checkpoint of an event that is gone: truncation, even when the head was rewritten too.
      return this.fail(last + 1, 'truncated', `chain ends at event ${last} but a signed checkpoint vouches for event ${beyond.seq}`);
    }
    if (head && (head.seq !== last || (last > 0 && head.hash !== this.prevHash))) {
      return this.fail(Math.min(head.seq, last + 1), 'truncated', `chain ends at event ${last} but its head is event ${head.seq}`);
    }
    return {
      ok: true,
      chainId: this.chainId,
      events: last - this.base.seq,
      ...(this.base.seq > 0 && { baseSeq: this.base.seq }),
      ...(this.checkpoints > 0 && { checkpoints: this.checkpoints, signedThrough: this.signedThrough }),
    };
  }

  /** A checkpoint at or before the last event walked (or at the base). */
  private check(checkpoint: CheckedCheckpoint): void {
    if (!checkpoint.valid) {
      this.problem = this.forged(checkpoint);
      return;
    }
    this.checkpoints += 1;
    if (checkpoint.seq < this.base.seq) return; // Vouches for a pruned event: nothing left to compare.
    if (checkpoint.seq === this.base.seq) {
      if (checkpoint.hash === this.base.hash) this.anchored = true;
      return;
    }
    if (checkpoint.hash !== this.prevHash) {
      this.problem = this.fail(
        checkpoint.seq,
        'altered',
        `event ${checkpoint.seq} differs from its signed checkpoint: events after ${this.signedThrough} were rewritten`,
      );
      return;
    }
    this.signedThrough = checkpoint.seq;
  }

  private forged(checkpoint: CheckedCheckpoint): ChainReport {
    return this.fail(
      checkpoint.seq,
      'forged_checkpoint',
      `checkpoint ${checkpoint.seq} does not verify: ${checkpoint.reason ?? 'bad signature'}`,
    );
  }

  private unanchored(): ChainReport {
    const seq = this.base.seq;
    return this.fail(seq, 'unanchored_base', `events up to ${seq} were removed but no valid checkpoint vouches for event ${seq}`);
  }

  private fail(seq: number, problem: ChainProblem, message: string): ChainReport {
    return { ok: false, chainId: this.chainId, seq, problem, message };
  }
}

/** `detail.to` of an `audit.pruned` event, when it is a number. */
function prunedThrough(detail: string | null): number | undefined {
  if (!detail) return undefined;
  try {
    const to = (JSON.parse(detail) as { to?: unknown }).to;
    return typeof to === 'number' ? to : undefined;
  } catch {
    return undefined;
  }
}

/** {@link ChainWalker} over events (and optionally checkpoints) already in memory. */
export function verifyChain(
  chainId: string,
  events: Iterable<AuditEventsTable>,
  head?: { seq: number; hash: string },
  options: { base?: ChainBase; checkpoints?: readonly CheckedCheckpoint[] } & WalkerOptions = {},
): ChainReport {
  const walker = new ChainWalker(chainId, options.base, { requirePrunedEvent: options.requirePrunedEvent ?? false });
  const checkpoints = [...(options.checkpoints ?? [])].sort((a, b) => a.seq - b.seq);
  let next = 0;
  const feedUpTo = (seq: number): boolean => {
    for (; next < checkpoints.length && (checkpoints[next] as CheckedCheckpoint).seq < seq; next += 1)
      if (!walker.pushCheckpoint(checkpoints[next] as CheckedCheckpoint)) return false;
    return true;
  };
  for (const event of events) if (!feedUpTo(event.seq) || !walker.push(event)) return walker.finish(head);
  feedUpTo(Number.POSITIVE_INFINITY);
  return walker.finish(head);
}
