import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Clock } from '../clock.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import type { AuditContext, AuditLog } from './audit-log.js';
import type { ChainReport } from './chain.js';
import type { AuditCheckpoints } from './checkpoints.js';
import { type AuditExport, toJsonLine, writeJsonlDurably } from './export.js';
import { AuditEvents } from './store.js';
import { LineVerifier, signingKeySet } from './verify.js';

const DAY_MS = 86_400_000;

/** One chain pruned: events `from`…`to` moved to `archive`. */
export interface PruneResult {
  chainId: string;
  from: number;
  to: number;
  /** Absolute path of the archive file. */
  archive: string;
}

export interface PruneSummary {
  pruned: PruneResult[];
  failed: { chainId: string; error: unknown }[];
}

/** Refused to prune: the events to archive do not verify, so deleting them would destroy the evidence. */
export class ChainBrokenError extends Error {
  override name = 'ChainBrokenError';
  constructor(readonly report: ChainReport) {
    super(report.ok ? 'chain verified' : `${report.chainId}: ${report.problem} at seq ${report.seq}: ${report.message}`);
  }
}

export interface AuditRetentionDeps {
  store: Store;
  audit: AuditLog;
  checkpoints: AuditCheckpoints;
  exporter: AuditExport;
  clock: Clock;
  archiveDir: string;
}

/**
 * Per-organization retention (`settings.audit_retention_days`): events older than that are
 * archived to `<archiveDir>/<chain_id>/<from>-<to>.jsonl` and deleted, up to the newest
 * checkpoint older than the cutoff, which becomes the chain's retained base. The archive is an
 * export (audit/export.ts), so it verifies offline, and the chain in the database still verifies
 * from its base. Organizations without the setting keep everything.
 */
export class AuditRetention {
  private readonly events: AuditEvents;

  constructor(private readonly deps: AuditRetentionDeps) {
    this.events = new AuditEvents(deps.store.db);
  }

  /**
   * Prunes every organization with a retention setting (or only `orgId`). One chain failing
   * (a broken range, a full disk) does not stop the others; it is reported in `failed`.
   */
  async pruneAll(options: { orgId?: string; context?: AuditContext } = {}): Promise<PruneSummary> {
    const summary: PruneSummary = { pruned: [], failed: [] };
    for (const { id, days } of await this.retainingOrganizations(options.orgId)) {
      try {
        const result = await this.prune(id, days, options.context);
        if (result) summary.pruned.push(result);
      } catch (error) {
        summary.failed.push({ chainId: id, error });
      }
    }
    return summary;
  }

  /** Archives and deletes one chain's events older than `days`; undefined when there are none. */
  async prune(chainId: string, days: number, context: AuditContext = {}): Promise<PruneResult | undefined> {
    const { store, checkpoints, exporter, clock } = this.deps;
    const head = await this.events.head(chainId);
    if (!head) return undefined;
    const base = { seq: head.base_seq, hash: head.base_hash };
    const cutoff = new Date(clock.now() - days * DAY_MS).toISOString();
    const held = await this.heldBySinks(chainId);
    let oldestQuery = store.db
      .selectFrom('audit_events')
      .select(['seq', 'hash'])
      .where('chain_id', '=', chainId)
      .where('org_id', '=', chainId)
      .where('at', '<', cutoff);
    if (held !== undefined) oldestQuery = oldestQuery.where('seq', '<=', held);
    const oldest = await oldestQuery.orderBy('at', 'desc').orderBy('seq', 'desc').limit(1).executeTakeFirst();
    if (!oldest || oldest.seq <= base.seq) return undefined;
    // The newest checkpoint whose event is older than the cutoff becomes the base; sign one if none is.
    const target =
      (await checkpoints.newestWithin(chainId, base.seq, oldest.seq)) ?? (await checkpoints.sign(chainId, oldest.seq, oldest.hash));
    const from = base.seq + 1;
    const to = target.seq;
    const file = path.join(this.deps.archiveDir, chainId, `${from}-${to}.jsonl`);

    // The pruned range is immutable, so the archive is written and fsynced before the transaction:
    // a long export never holds the chain head lock (on SQLite, the only writer). It is verified
    // as it is written; a broken range is refused rather than deleted.
    const verifier = new LineVerifier(await signingKeySet(store.db), { issuer: checkpoints.issuer, requireSignedHead: true });
    const sha256 = createHash('sha256');
    await writeJsonlDurably(
      file,
      (async function* () {
        for await (const line of exporter.segment(chainId, base, { seq: target.seq, hash: target.hash })) {
          if (!(await verifier.push(line))) throw new ChainBrokenError(verifier.finish());
          const text = toJsonLine(line);
          sha256.update(text, 'utf8');
          yield text;
        }
        const report = verifier.finish();
        if (!report.ok) throw new ChainBrokenError(report);
      })(),
    );

    const archiveSha256 = sha256.digest('hex');
    const pruned = await inTransaction(store, async (trx) => {
      const locked = await this.lockHead(trx, chainId);
      // Another node pruned meanwhile: its archive covers these events.
      if (locked.base_seq !== base.seq) return false;
      await trx.deleteFrom('audit_events').where('chain_id', '=', chainId).where('seq', '>', base.seq).where('seq', '<=', to).execute();
      await trx.updateTable('audit_chain_heads').set({ base_seq: to, base_hash: target.hash }).where('chain_id', '=', chainId).execute();
      await this.deps.audit.append(
        trx,
        {
          kind: 'audit.pruned',
          orgId: chainId,
          detail: { from, to, archive: path.basename(file), archive_sha256: archiveSha256, cutoff, retention_days: days },
        },
        context,
      );
      return true;
    });
    return pruned ? { chainId, from, to, archive: file } : undefined;
  }

  /**
   * The highest seq a chain's webhook sinks allow to prune, or undefined when none holds it
   * back: an active sink is still owed the events after its `delivered_seq` (at-least-once
   * includes "before pruning"), and a dead-lettered batch, which `delivered_seq` has moved past,
   * was never received, so nothing from its first event on is pruned while the dead letter stays.
   */
  private async heldBySinks(chainId: string): Promise<number | undefined> {
    const db = this.deps.store.db;
    const owed = await db
      .selectFrom('audit_sinks')
      .select((eb) => eb.fn.min('delivered_seq').as('seq'))
      .where('chain_id', '=', chainId)
      .where('status', '=', 'active')
      .executeTakeFirst();
    const dead = await db
      .selectFrom('audit_sink_dead_letters as d')
      .innerJoin('audit_sinks as s', 's.id', 'd.sink_id')
      .select((eb) => eb.fn.min('d.from_seq').as('seq'))
      .where('s.chain_id', '=', chainId)
      .executeTakeFirst();
    const limits = [owed?.seq, dead?.seq === null || dead?.seq === undefined ? null : Number(dead.seq) - 1]
      .filter((seq) => seq !== null && seq !== undefined)
      .map(Number);
    return limits.length > 0 ? Math.min(...limits) : undefined;
  }

  /** Organizations whose settings name a retention, with it. */
  private async retainingOrganizations(orgId?: string): Promise<{ id: string; days: number }[]> {
    let query = this.deps.store.db
      .selectFrom('organizations')
      .select(['id', 'slug', 'settings'])
      .where('settings', 'like', '%audit_retention_days%');
    if (orgId) query = query.where((eb) => eb.or([eb('id', '=', orgId), eb('slug', '=', orgId)]));
    const rows = await query.orderBy('id').execute();
    return rows.flatMap((row) => {
      const days = (JSON.parse(row.settings) as { audit_retention_days?: unknown }).audit_retention_days;
      return typeof days === 'number' && days > 0 ? [{ id: row.id, days }] : [];
    });
  }

  /** Serializes with appends: PostgreSQL locks the head row; SQLite's BEGIN IMMEDIATE already did. */
  private async lockHead(trx: Executor, chainId: string): Promise<{ base_seq: number }> {
    let query = trx.selectFrom('audit_chain_heads').select('base_seq').where('chain_id', '=', chainId);
    if (this.deps.store.dialect === 'postgres') query = query.forUpdate();
    return query.executeTakeFirstOrThrow();
  }
}
