import type { Kysely } from 'kysely';
import { type Clock, isoAt } from '../clock.js';
import type { KeyRing } from '../crypto/key-ring.js';
import { signCompactJws } from '../crypto/signing-key.js';
import type { AuditCheckpointsTable, Database } from '../store/schema.js';
import type { Executor } from '../store/transaction.js';

/** JWS `typ` of a checkpoint (RFC 7515 §4.1.9), so it is never mistaken for an access token. */
export const CHECKPOINT_TYP = 'audit-checkpoint+jwt';

/** What a checkpoint's JWS signs. */
export interface CheckpointPayload {
  iss: string;
  chain_id: string;
  seq: number;
  hash: string;
  iat: number;
}

/** A chain's head and where its last checkpoint stands, for deciding what to sign. */
export interface ChainStatus {
  chainId: string;
  seq: number;
  hash: string;
  /** 0 when the chain has no checkpoint yet. */
  checkpointSeq: number;
}

export interface AuditCheckpointsDeps {
  db: Kysely<Database>;
  keyRing: KeyRing;
  clock: Clock;
  /** The `iss` of every checkpoint signed here; verification in the database expects it. */
  issuer: string;
}

/**
 * Signed checkpoints: a compact JWS by the active signing key over a chain's `(seq, hash)`.
 * Against someone who can edit audit rows but not the signing keys, an event before a checkpoint
 * cannot be changed, and the chain cannot be cut back past it, without verification noticing.
 * Someone who can write the whole database can also insert a signing key of their own and
 * re-sign rewritten checkpoints: only verification against a JWKS kept outside Mandate
 * (`mandate audit verify --jwks`), or checkpoint copies a third party holds, catches that.
 * Inserts ignore a checkpoint that exists, so nodes may race to sign the same head.
 */
export class AuditCheckpoints {
  /** The `iss` of every checkpoint signed here; verification in the database expects it. */
  readonly issuer: string;

  constructor(private readonly deps: AuditCheckpointsDeps) {
    this.issuer = deps.issuer;
  }

  /** Signs `(seq, hash)` of a chain and stores it; returns the stored checkpoint (an earlier signature wins a race). */
  async sign(chainId: string, seq: number, hash: string, trx: Executor = this.deps.db): Promise<AuditCheckpointsTable> {
    const key = this.deps.keyRing.activeKey();
    const now = this.deps.clock.now();
    const payload: CheckpointPayload = { iss: this.issuer, chain_id: chainId, seq, hash, iat: Math.floor(now / 1000) };
    const row: AuditCheckpointsTable = {
      chain_id: chainId,
      seq,
      hash,
      at: isoAt(this.deps.clock),
      kid: key.kid,
      jws: signCompactJws(key, { typ: CHECKPOINT_TYP }, { ...payload }),
    };
    await trx
      .insertInto('audit_checkpoints')
      .values(row)
      .onConflict((oc) => oc.columns(['chain_id', 'seq']).doNothing())
      .execute();
    return (await this.at(chainId, seq, trx)) ?? row;
  }

  /** Signs the current head of a chain unless a checkpoint of it exists. */
  async signHead(chainId: string): Promise<AuditCheckpointsTable | undefined> {
    const head = await this.deps.db
      .selectFrom('audit_chain_heads')
      .select(['seq', 'hash'])
      .where('chain_id', '=', chainId)
      .executeTakeFirst();
    if (!head || head.seq === 0) return undefined;
    return this.sign(chainId, head.seq, head.hash);
  }

  /** Every chain's head next to its newest checkpoint (one row per chain: the heads table is small). */
  async statuses(): Promise<ChainStatus[]> {
    const rows = await this.deps.db
      .selectFrom('audit_chain_heads as h')
      .select((eb) => [
        'h.chain_id',
        'h.seq',
        'h.hash',
        eb
          .selectFrom('audit_checkpoints as c')
          .select('c.seq')
          .whereRef('c.chain_id', '=', 'h.chain_id')
          .orderBy('c.seq', 'desc')
          .limit(1)
          .as('checkpoint_seq'),
      ])
      .orderBy('h.chain_id')
      .execute();
    return rows.map((r) => ({ chainId: r.chain_id, seq: r.seq, hash: r.hash, checkpointSeq: Number(r.checkpoint_seq ?? 0) }));
  }

  async at(chainId: string, seq: number, trx: Executor = this.deps.db): Promise<AuditCheckpointsTable | undefined> {
    return trx.selectFrom('audit_checkpoints').selectAll().where('chain_id', '=', chainId).where('seq', '=', seq).executeTakeFirst();
  }

  async latest(chainId: string): Promise<AuditCheckpointsTable | undefined> {
    return this.deps.db
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('chain_id', '=', chainId)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  /** The newest checkpoint in `(afterSeq, throughSeq]`. */
  async newestWithin(chainId: string, afterSeq: number, throughSeq: number): Promise<AuditCheckpointsTable | undefined> {
    return this.deps.db
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('chain_id', '=', chainId)
      .where('seq', '>', afterSeq)
      .where('seq', '<=', throughSeq)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  /** One page of a chain's checkpoints by ascending seq. */
  async list(chainId: string, options: { afterSeq?: number; throughSeq?: number; limit: number }): Promise<AuditCheckpointsTable[]> {
    let query = this.deps.db.selectFrom('audit_checkpoints').selectAll().where('chain_id', '=', chainId);
    if (options.afterSeq !== undefined) query = query.where('seq', '>', options.afterSeq);
    if (options.throughSeq !== undefined) query = query.where('seq', '<=', options.throughSeq);
    return query.orderBy('seq').limit(options.limit).execute();
  }

  /** A chain's checkpoints from `fromSeq` on, streamed in pages. */
  async *stream(chainId: string, fromSeq: number, throughSeq?: number, pageSize = 1000): AsyncGenerator<AuditCheckpointsTable> {
    let after = fromSeq - 1;
    for (;;) {
      const page = await this.list(chainId, { afterSeq: after, limit: pageSize, ...(throughSeq !== undefined && { throughSeq }) });
      yield* page;
      const last = page.at(-1);
      if (!last || page.length < pageSize) return;
      after = last.seq;
    }
  }
}
