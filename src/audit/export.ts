import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { AuditCheckpointsTable, AuditEventsTable, Database } from '../store/schema.js';
import type { ChainBase } from './chain.js';
import { CORE_COLUMNS, EXTENSION_COLUMNS } from './chain.js';
import type { AuditCheckpoints } from './checkpoints.js';
import { AuditEvents, type StoredHead } from './store.js';

export type { StoredHead } from './store.js';

/** The `format` of an export's first line; bumped if a line's shape ever changes incompatibly. */
export const EXPORT_FORMAT = 'mandate-audit-chain/1';

/**
 * First line: which chain, where the exported part starts (`base_seq`/`base_hash`: 0 and the
 * genesis hash, or the last pruned event) and where it ends (`head_seq`/`head_hash`).
 */
export interface ChainLine {
  type: 'chain';
  format: typeof EXPORT_FORMAT;
  chain_id: string;
  base_seq: number;
  base_hash: string;
  head_seq: number;
  head_hash: string;
  /**
   * Set on a retention archive: a piece of the chain ending at a checkpoint. Its base is vouched
   * for by its checkpoint only; the `audit.pruned` event recording it lies in a later piece.
   */
  segment?: true;
}

/** One event with every column as stored: `detail` and `act` stay the canonical JSON strings that were hashed. */
export type EventLine = { type: 'event' } & AuditEventsTable;

/** One signed checkpoint: `jws` is the proof; the other fields repeat its payload for reading. */
export type CheckpointLine = { type: 'checkpoint' } & AuditCheckpointsTable;

/**
 * An audit export is JSON Lines (one JSON object per line, `\n`-terminated), one chain per file:
 *
 * 1. a {@link ChainLine} (`"type":"chain"`);
 * 2. the chain's events by ascending `seq` ({@link EventLine}, `"type":"event"`), each followed by
 *    the checkpoint of its `seq` when there is one ({@link CheckpointLine}, `"type":"checkpoint"`);
 *    the checkpoint of `base_seq`, which anchors a pruned chain, comes right after the first line;
 * 3. any checkpoint beyond `head_seq`: evidence that events were cut off the end.
 *
 * An export ends with a checkpoint of `head_seq`, signed when it was exported. Verifying needs
 * only this file and the issuer's JWKS (`mandate audit verify --file … --jwks …`): each event's
 * hash is recomputed from the line's fields (audit/chain.ts), each checkpoint's JWS is verified,
 * the chain must reach `head_seq`, a checkpoint must vouch for `head_seq` (else `unsigned_tail`),
 * and a pruned chain must hold the `audit.pruned` event recording its base. Retention archives use
 * the same format, marked `segment`.
 */
export type ExportLine = ChainLine | EventLine | CheckpointLine;

/** An event row as a line, columns in a fixed order and extension columns present (null when unset). */
export function eventLine(row: AuditEventsTable): EventLine {
  const line: Record<string, unknown> = { type: 'event' };
  for (const column of CORE_COLUMNS) line[column] = row[column];
  for (const column of EXTENSION_COLUMNS) line[column] = row[column] ?? null;
  return line as unknown as EventLine;
}

export function checkpointLine(row: AuditCheckpointsTable): CheckpointLine {
  return { type: 'checkpoint', chain_id: row.chain_id, seq: row.seq, hash: row.hash, at: row.at, kid: row.kid, jws: row.jws };
}

/** A chain being exported: the head it stops at, the checkpoint signed there, and its lines. */
export interface ChainExport {
  head: StoredHead;
  /** The checkpoint of `head.seq` (undefined only for an empty chain). */
  checkpoint: AuditCheckpointsTable | undefined;
  lines: AsyncGenerator<ExportLine>;
}

export interface AuditExportDeps {
  db: Kysely<Database>;
  checkpoints: AuditCheckpoints;
}

/** Reads chains out of the database as {@link ExportLine}s, streamed in pages. */
export class AuditExport {
  private readonly events: AuditEvents;

  constructor(private readonly deps: AuditExportDeps) {
    this.events = new AuditEvents(deps.db);
  }

  /** The `iss` the checkpoints signed here name. */
  get issuer(): string {
    return this.deps.checkpoints.issuer;
  }

  /**
   * Exports a chain as it stands (undefined when there is no such chain): signs a checkpoint of
   * its head first (an existing one is reused), so the export ends with a signed checkpoint of
   * `head_seq` and verifies offline without an unsigned tail.
   */
  async chain(chainId: string): Promise<ChainExport | undefined> {
    const head = await this.events.head(chainId);
    if (!head) return undefined;
    const checkpoint = head.seq > 0 ? await this.deps.checkpoints.sign(chainId, head.seq, head.hash) : undefined;
    return { head, checkpoint, lines: this.lines(chainId, head) };
  }

  /**
   * A whole chain as it stands, without signing anything: from its base to `head`, so events
   * appended while the export runs are left for the next one. A checkpoint beyond that head is
   * included only if the head has still not reached it: then events it vouches for are gone.
   */
  async *lines(chainId: string, head: StoredHead): AsyncGenerator<ExportLine> {
    yield this.chainLine(chainId, { seq: head.base_seq, hash: head.base_hash }, head);
    let current: number | undefined;
    const beyondHead = async (checkpoint: AuditCheckpointsTable): Promise<boolean> => {
      current ??= (await this.events.head(chainId))?.seq ?? 0;
      return checkpoint.seq > current;
    };
    for await (const line of this.merge(chainId, head.base_seq, head.seq)) {
      if (line.type === 'checkpoint' && line.seq > head.seq && !(await beyondHead(line))) continue;
      yield line;
    }
  }

  /** Events `(base.seq, to.seq]` and their checkpoints, for a retention archive. */
  async *segment(chainId: string, base: ChainBase, to: { seq: number; hash: string }): AsyncGenerator<ExportLine> {
    yield { ...this.chainLine(chainId, base, to), segment: true };
    yield* this.merge(chainId, base.seq, to.seq, to.seq);
  }

  private chainLine(chainId: string, base: ChainBase, head: { seq: number; hash: string }): ChainLine {
    return {
      type: 'chain',
      format: EXPORT_FORMAT,
      chain_id: chainId,
      base_seq: base.seq,
      base_hash: base.hash,
      head_seq: head.seq,
      head_hash: head.hash,
    };
  }

  /** Events after `baseSeq` through `toSeq`, each followed by its checkpoint; checkpoints from `baseSeq`. */
  private async *merge(chainId: string, baseSeq: number, toSeq: number, checkpointsThrough?: number): AsyncGenerator<ExportLine> {
    const checkpoints = this.deps.checkpoints.stream(chainId, Math.max(baseSeq, 1), checkpointsThrough);
    let next = await checkpoints.next();
    for await (const event of this.events.chain(chainId, { after: baseSeq, through: toSeq })) {
      while (!next.done && next.value.seq < event.seq) {
        yield checkpointLine(next.value);
        next = await checkpoints.next();
      }
      yield eventLine(event);
    }
    for (; !next.done; next = await checkpoints.next()) yield checkpointLine(next.value);
  }
}

export function toJsonLine(line: ExportLine): string {
  return `${JSON.stringify(line)}\n`;
}

/**
 * Writes lines to `file` durably: into a temporary file that is fsynced, then renamed over
 * `file`, then the directory fsynced, so a crash leaves the old file or the whole new one. The
 * temporary name is random and created exclusively, so writers sharing a directory (containers
 * with the same pid) never write into one file.
 */
export async function writeJsonlDurably(file: string, lines: AsyncIterable<string>): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${randomBytes(8).toString('hex')}.tmp`;
  const handle = await fs.promises.open(temporary, 'wx', 0o600);
  try {
    let buffer = '';
    for await (const line of lines) {
      buffer += line;
      if (buffer.length >= 1 << 16) {
        await handle.write(buffer);
        buffer = '';
      }
    }
    await handle.write(buffer);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fs.promises.rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  await fs.promises.rename(temporary, file);
  const dir = await fs.promises.open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
