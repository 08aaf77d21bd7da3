import fs from 'node:fs';
import readline from 'node:readline';
import { compactVerify, createLocalJWKSet, type JSONWebKeySet, type JWK } from 'jose';
import type { Kysely } from 'kysely';
import { SigningKeyStore } from '../crypto/signing-key-store.js';
import { NotFoundError } from '../http/errors.js';
import type { Database } from '../store/schema.js';
import { type ChainReport, ChainWalker, type CheckedCheckpoint } from './chain.js';
import type { CheckpointPayload } from './checkpoints.js';
import { CHECKPOINT_TYP } from './checkpoints.js';
import { type AuditExport, EXPORT_FORMAT, type ExportLine } from './export.js';
import type { AuditEvents } from './store.js';

/** The algorithms Mandate signs with (config.ts SigningAlg); anything else in a header is refused. */
const ALGORITHMS = ['ES256', 'EdDSA'];

type KeyResolver = ReturnType<typeof createLocalJWKSet>;

/**
 * Checks a checkpoint's compact JWS against the JWKS: the signature (alg and key chosen by the
 * header's `kid`, RFC 7515 §4.1.4), its `typ`, and that its payload names this chain, seq and
 * hash. The stored columns are never trusted: a row whose hash was edited no longer matches.
 */
export async function checkCheckpoint(
  chainId: string,
  checkpoint: { seq: number; hash: string; jws: string },
  keys: KeyResolver,
): Promise<CheckedCheckpoint> {
  const invalid = (reason: string): CheckedCheckpoint => ({ seq: checkpoint.seq, hash: checkpoint.hash, valid: false, reason });
  let verified: Awaited<ReturnType<typeof compactVerify>>;
  try {
    verified = await compactVerify(checkpoint.jws, keys, { algorithms: ALGORITHMS });
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_JWKS_NO_MATCHING_KEY') return invalid('signed by a key the JWKS does not hold');
    return invalid('the signature does not verify');
  }
  if (verified.protectedHeader.typ !== CHECKPOINT_TYP) return invalid(`typ is not ${CHECKPOINT_TYP}`);
  let payload: Partial<CheckpointPayload>;
  try {
    payload = JSON.parse(new TextDecoder().decode(verified.payload)) as Partial<CheckpointPayload>;
  } catch {
    return invalid('the payload is not JSON');
  }
  if (payload.chain_id !== chainId || payload.seq !== checkpoint.seq || payload.hash !== checkpoint.hash) {
    return invalid('the signed payload names another chain, seq or hash');
  }
  return { seq: checkpoint.seq, hash: checkpoint.hash, valid: true };
}

/**
 * Verifies a stream of {@link ExportLine}s, the format of exports and archives, and of a chain
 * read from the database: a chain line first, then events and checkpoints.
 */
export class LineVerifier {
  private walker: ChainWalker | undefined;
  private head: { seq: number; hash: string } | undefined;
  private problem: ChainReport | undefined;
  private readonly keys: KeyResolver;

  constructor(jwks: JSONWebKeySet) {
    this.keys = createLocalJWKSet(jwks);
  }

  /** Feeds the next line (already parsed, or `undefined` for one that is not JSON); false once broken. */
  async push(line: ExportLine | undefined, lineNumber?: number): Promise<boolean> {
    if (this.problem) return false;
    const where = lineNumber === undefined ? '' : `line ${lineNumber}: `;
    if (!this.walker) {
      if (line?.type !== 'chain' || line.format !== EXPORT_FORMAT) {
        this.problem = this.malformed(0, `${where}the first line must describe the chain (format ${EXPORT_FORMAT})`);
        return false;
      }
      this.walker = new ChainWalker(line.chain_id, { seq: line.base_seq, hash: line.base_hash });
      this.head = { seq: line.head_seq, hash: line.head_hash };
      return true;
    }
    const walker = this.walker;
    if (line?.type === 'event') return walker.push(line);
    if (line?.type === 'checkpoint') {
      if (line.chain_id !== walker.chainId)
        return walker.pushCheckpoint({ seq: line.seq, hash: line.hash, valid: false, reason: 'another chain' });
      return walker.pushCheckpoint(await checkCheckpoint(walker.chainId, line, this.keys));
    }
    // An unreadable line stands where the next event should be: that event is what was altered.
    this.problem = this.malformed(walker.nextSeq, `${where}not an event or checkpoint of this chain`);
    return false;
  }

  finish(): ChainReport {
    if (this.problem) return this.problem;
    if (!this.walker) return this.malformed(0, 'the export is empty');
    return this.walker.finish(this.head);
  }

  private malformed(seq: number, message: string): ChainReport {
    return { ok: false, chainId: this.walker?.chainId ?? 'unknown', seq, problem: 'altered', message };
  }
}

/** Feeds every line to a {@link LineVerifier}, stopping at the first problem. */
export async function verifyLines(lines: AsyncIterable<ExportLine>, jwks: JSONWebKeySet): Promise<ChainReport> {
  const verifier = new LineVerifier(jwks);
  for await (const line of lines) if (!(await verifier.push(line))) break;
  return verifier.finish();
}

/** Verifies an export or archive file offline, with only the issuer's JWKS. */
export async function verifyExportFile(file: string, jwks: JSONWebKeySet): Promise<ChainReport> {
  const verifier = new LineVerifier(jwks);
  const input = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
  let lineNumber = 0;
  try {
    for await (const text of input) {
      lineNumber += 1;
      if (text.trim() === '') continue;
      let line: ExportLine | undefined;
      try {
        line = JSON.parse(text) as ExportLine;
      } catch {
        line = undefined;
      }
      if (!(await verifier.push(line, lineNumber))) break;
    }
  } finally {
    input.close();
  }
  return verifier.finish();
}

/** A JWKS from a file or an http(s) URL (for `mandate audit verify --jwks`). */
export async function loadJwks(source: string): Promise<JSONWebKeySet> {
  let text: string;
  if (/^https?:\/\//i.test(source)) {
    const response = await fetch(source, { headers: { accept: 'application/jwk-set+json, application/json' } });
    if (!response.ok) throw new Error(`${source} answered ${response.status}`);
    text = await response.text();
  } else {
    text = fs.readFileSync(source, 'utf8');
  }
  const jwks = JSON.parse(text) as JSONWebKeySet;
  if (!Array.isArray(jwks?.keys)) throw new Error(`${source} is not a JWK Set: it has no "keys" array`);
  return jwks;
}

/**
 * Every signing key's public JWK, retired ones included: a checkpoint stays verifiable long
 * after its key left the published JWKS (which holds only keys that may still verify tokens).
 */
export async function signingKeySet(db: Kysely<Database>): Promise<JSONWebKeySet> {
  const rows = await new SigningKeyStore(db).listAll();
  return { keys: rows.map((row) => JSON.parse(row.public_jwk) as JWK) };
}

/** Verifies chains where they are stored: hash links, checkpoints, and a pruned chain's base. */
export class AuditVerifier {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly exporter: AuditExport,
  ) {}

  /** One report per chain (every chain unless `chainId` is given). */
  async verify(chainId?: string): Promise<ChainReport[]> {
    const ids = chainId ? [chainId] : await this.exporter.chainIds();
    const jwks = await signingKeySet(this.db);
    const reports: ChainReport[] = [];
    for (const id of ids) {
      const head = await this.exporter.head(id);
      if (!head) throw new NotFoundError('audit chain');
      reports.push(await verifyLines(this.exporter.chain(id, head), jwks));
    }
    return reports;
  }
}

/**
 * Checks hash links only, from genesis, streaming events through the pure {@link ChainWalker}.
 * {@link AuditVerifier} also checks signed checkpoints and starts a pruned chain from its base.
 */
export async function verifyStoredChains(events: AuditEvents, chainId?: string): Promise<ChainReport[]> {
  const ids = chainId ? [chainId] : await events.chainIds();
  const reports: ChainReport[] = [];
  for (const id of ids) {
    const walker = new ChainWalker(id);
    for await (const row of events.chain(id)) if (!walker.push(row)) break;
    reports.push(walker.finish(await events.head(id)));
  }
  return reports;
}
