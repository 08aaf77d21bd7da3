import fs from 'node:fs';
import readline from 'node:readline';
import { compactVerify, createLocalJWKSet, type JSONWebKeySet, type JWK } from 'jose';
import type { Kysely } from 'kysely';
import { SigningKeyStore } from '../crypto/signing-key-store.js';
import { NotFoundError } from '../errors.js';
import { isLoopbackHostname } from '../outbound/address-guard.js';
import type { Database } from '../store/schema.js';
import { type ChainReport, ChainWalker, type CheckedCheckpoint, GENESIS_HASH } from './chain.js';
import type { CheckpointPayload } from './checkpoints.js';
import { CHECKPOINT_TYP } from './checkpoints.js';
import { type AuditExport, EXPORT_FORMAT, type ExportLine } from './export.js';
import { AuditEvents } from './store.js';

/** The algorithms Mandate signs with (config.ts SigningAlg); anything else in a header is refused. */
const ALGORITHMS = ['ES256', 'EdDSA'];

type KeyResolver = ReturnType<typeof createLocalJWKSet>;

/** Refused to verify: the JWKS holds no key that could vouch for a checkpoint, so every signature check would be vacuous. */
export class UnusableJwksError extends Error {
  override name = 'UnusableJwksError';
}

/** A public key Mandate could have signed a checkpoint with: EC P-256 (ES256) or OKP Ed25519 (EdDSA), for signing. */
function usableKey(key: JWK): boolean {
  if (key.use !== undefined && key.use !== 'sig') return false;
  if (key.alg !== undefined && !ALGORITHMS.includes(key.alg)) return false;
  return (key.kty === 'EC' && key.crv === 'P-256') || (key.kty === 'OKP' && key.crv === 'Ed25519');
}

/** The usable keys of a JWKS as a resolver; throws {@link UnusableJwksError} when there are none. */
export function checkpointKeys(jwks: JSONWebKeySet): KeyResolver {
  const keys = Array.isArray(jwks?.keys) ? jwks.keys.filter(usableKey) : [];
  if (keys.length === 0)
    throw new UnusableJwksError('the JWKS holds no usable public signing key (ES256 P-256 or EdDSA Ed25519): it cannot verify checkpoints');
  return createLocalJWKSet({ keys });
}

/** How checkpoints and the chain's end are judged. */
export interface VerifyOptions {
  /** The `iss` every checkpoint must name; unchecked when not given. */
  issuer?: string;
  /**
   * Require a valid checkpoint of `head_seq`, else `unsigned_tail` (offline verification: an
   * export ends with one). When false, events after the newest checkpoint are only counted
   * (`unsigned`), as in the database, where that tail is the normal state between checkpoints.
   */
  requireSignedHead?: boolean;
}

/**
 * Checks a checkpoint's compact JWS against the JWKS: the signature (alg and key chosen by the
 * header's `kid`, RFC 7515 §4.1.4), its `typ`, that its payload names this chain, seq and hash,
 * and its `iss` when an issuer is expected. The stored columns are never trusted: a row whose
 * hash was edited no longer matches.
 */
export async function checkCheckpoint(
  chainId: string,
  checkpoint: { seq: number; hash: string; jws: string },
  keys: KeyResolver,
  options: { issuer?: string } = {},
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
  if (options.issuer !== undefined && payload.iss !== options.issuer) return invalid(`it was not issued by ${options.issuer}`);
  return { seq: checkpoint.seq, hash: checkpoint.hash, valid: true };
}

/**
 * Verifies a stream of {@link ExportLine}s, the format of exports and archives, and of a chain
 * read from the database: a chain line first, then events and checkpoints. A chain pruned
 * (`base_seq` > 0) must hold the `audit.pruned` event recording its base, unless the chain line
 * marks a retention archive (`segment`).
 */
export class LineVerifier {
  private walker: ChainWalker | undefined;
  private head: { seq: number; hash: string } | undefined;
  private segment = false;
  private problem: ChainReport | undefined;
  private readonly keys: KeyResolver;

  /** Throws {@link UnusableJwksError} for a JWKS with no usable key. */
  constructor(
    jwks: JSONWebKeySet,
    private readonly options: VerifyOptions = {},
  ) {
    this.keys = checkpointKeys(jwks);
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
      this.segment = line.segment === true;
      this.walker = new ChainWalker(line.chain_id, { seq: line.base_seq, hash: line.base_hash }, { requirePrunedEvent: !this.segment });
      this.head = { seq: line.head_seq, hash: line.head_hash };
      return true;
    }
    const walker = this.walker;
    if (line?.type === 'event') return walker.push(line);
    if (line?.type === 'checkpoint') {
      if (line.chain_id !== walker.chainId)
        return walker.pushCheckpoint({ seq: line.seq, hash: line.hash, valid: false, reason: 'another chain' });
      return walker.pushCheckpoint(
        await checkCheckpoint(walker.chainId, line, this.keys, {
          ...(this.options.issuer !== undefined && { issuer: this.options.issuer }),
        }),
      );
    }
    // An unreadable line stands where the next event should be: that event is what was altered.
    this.problem = this.malformed(walker.nextSeq, `${where}not an event or checkpoint of this chain`);
    return false;
  }

  finish(): ChainReport {
    if (this.problem) return this.problem;
    const walker = this.walker;
    if (!walker) return this.malformed(0, 'the export is empty');
    const report = walker.finish(this.head);
    if (!report.ok) return report;
    const last = (report.baseSeq ?? 0) + report.events;
    const unsigned = last - walker.signedSeq;
    if (unsigned > 0 && this.options.requireSignedHead) {
      const from = walker.signedSeq + 1;
      return {
        ok: false,
        chainId: report.chainId,
        seq: from,
        problem: 'unsigned_tail',
        message: `no signed checkpoint vouches for events ${from}-${last}: they could have been rewritten, or the checkpoints after them dropped`,
      };
    }
    return { ...report, ...(unsigned > 0 && { unsigned }), ...(this.segment && { segment: true }) };
  }

  private malformed(seq: number, message: string): ChainReport {
    return { ok: false, chainId: this.walker?.chainId ?? 'unknown', seq, problem: 'altered', message };
  }
}

/** Feeds every line to a {@link LineVerifier}, stopping at the first problem. */
export async function verifyLines(
  lines: AsyncIterable<ExportLine>,
  jwks: JSONWebKeySet,
  options: VerifyOptions = {},
): Promise<ChainReport> {
  const verifier = new LineVerifier(jwks, options);
  for await (const line of lines) if (!(await verifier.push(line))) break;
  return verifier.finish();
}

/**
 * Verifies an export or archive file offline, with only the issuer's JWKS: the file must end
 * with a valid checkpoint of its head (`unsigned_tail` otherwise). Throws
 * {@link UnusableJwksError} for a JWKS with no usable key.
 */
export async function verifyExportFile(file: string, jwks: JSONWebKeySet, options: { issuer?: string } = {}): Promise<ChainReport> {
  const verifier = new LineVerifier(jwks, { ...options, requireSignedHead: true });
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

/** Longest a JWKS fetch may take. */
const JWKS_TIMEOUT_MS = 10_000;
/** Largest JWKS accepted, from a URL or a file. */
const JWKS_MAX_BYTES = 1 << 20;

async function fetchJwks(source: string): Promise<string> {
  const url = new URL(source);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHostname(url.hostname)))
    throw new Error(`${source}: a JWKS URL must be https (http only for localhost)`);
  const response = await fetch(url, {
    headers: { accept: 'application/jwk-set+json, application/json' },
    redirect: 'error',
    signal: AbortSignal.timeout(JWKS_TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`${source} answered ${response.status}`);
  if (Number(response.headers.get('content-length') ?? 0) > JWKS_MAX_BYTES) throw new Error(`${source}: the JWKS is over 1 MB`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  // A reader rather than `for await`: the DOM typings some dependencies pull in lack the async iterator.
  const reader = response.body?.getReader();
  for (let read = await reader?.read(); read && !read.done; read = await reader?.read()) {
    size += read.value.byteLength;
    if (size > JWKS_MAX_BYTES) {
      await reader?.cancel();
      throw new Error(`${source}: the JWKS is over 1 MB`);
    }
    chunks.push(read.value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A JWKS from a file or an `https:` URL (`http:` only for localhost), fetched within 10 s and at
 * most 1 MB (for `mandate audit verify --jwks`). A JWKS kept outside Mandate (a copy of
 * `/v1/audit/jwks` taken when keys rotate, or the issuer's published one) is what verification
 * must trust against someone who can write the database, signing_keys table included.
 */
export async function loadJwks(source: string): Promise<JSONWebKeySet> {
  let text: string;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) {
    text = await fetchJwks(source);
  } else {
    if (fs.statSync(source).size > JWKS_MAX_BYTES) throw new Error(`${source}: the JWKS is over 1 MB`);
    text = fs.readFileSync(source, 'utf8');
  }
  let jwks: JSONWebKeySet;
  try {
    jwks = JSON.parse(text) as JSONWebKeySet;
  } catch {
    throw new Error(`${source} is not JSON`);
  }
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

export interface AuditVerifierDeps {
  db: Kysely<Database>;
  exporter: AuditExport;
}

/**
 * Verifies chains where they are stored: hash links, checkpoints, a pruned chain's base (its
 * checkpoint and the `audit.pruned` event recording it), and the issuer of each checkpoint. The
 * events after the newest checkpoint are counted (`unsigned`), not refused.
 *
 * By default the keys come from the signing_keys table of the database being verified, which
 * defends against someone who can edit audit rows only. Someone who can write the whole database
 * can add a key of their own there and re-sign rewritten checkpoints; pass a pinned `jwks`, kept
 * outside Mandate, to defend against that.
 */
export class AuditVerifier {
  private readonly events: AuditEvents;

  constructor(private readonly deps: AuditVerifierDeps) {
    this.events = new AuditEvents(deps.db);
  }

  /**
   * One report per chain (every chain with a head or a checkpoint, unless `chainId` is given).
   * Throws {@link UnusableJwksError} when the keys hold nothing usable.
   */
  async verify(chainId?: string, options: { jwks?: JSONWebKeySet } = {}): Promise<ChainReport[]> {
    const ids = chainId ? [chainId] : await this.events.chainIds();
    const jwks = options.jwks ?? (await signingKeySet(this.deps.db));
    const verifyOptions: VerifyOptions = { issuer: this.deps.exporter.issuer };
    checkpointKeys(jwks);
    const reports: ChainReport[] = [];
    for (const id of ids) {
      const head = await this.events.head(id);
      if (head) {
        reports.push(await verifyLines(this.deps.exporter.lines(id, head), jwks, verifyOptions));
        continue;
      }
      // No head: only checkpoints remain (or nothing, for an unknown chain). Walked as an empty chain, they show what is gone.
      const none = { seq: 0, hash: GENESIS_HASH, base_seq: 0, base_hash: GENESIS_HASH };
      const report = await verifyLines(this.deps.exporter.lines(id, none), jwks, verifyOptions);
      if (report.ok && report.checkpoints === undefined) {
        if (chainId) throw new NotFoundError('audit chain');
        continue;
      }
      reports.push(report.ok ? report : { ...report, message: `the chain head is gone: ${report.message}` });
    }
    return reports;
  }
}
