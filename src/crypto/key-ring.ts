import { createHash, createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import { sql } from 'kysely';
import { type Clock, isoAt } from '../clock.js';
import type { SigningAlg } from '../config.js';
import type { AuditContext } from '../context.js';
import type { EventBus } from '../events/bus.js';
import type { SigningKeysTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import type { Envelope } from './envelope.js';
import { generateSigningKey, importPrivateKey } from './signing-key.js';
import { SigningKeyStore } from './signing-key-store.js';

/** Tolerated clock difference between Mandate and verifiers, added to the retired-key window. */
const CLOCK_SKEW_SECONDS = 60;

/**
 * The audit trail as the key ring sees it: crypto stands below audit (docs/architecture.md §2),
 * so it names only the one call it makes. The audit log is passed in.
 */
export interface KeyRingAudit {
  append(
    trx: Executor,
    input: { kind: 'signing_key.created' | 'signing_key.rotated'; detail: Record<string, unknown> },
    context?: AuditContext,
  ): Promise<unknown>;
}

export interface KeyRingOptions {
  store: Store;
  envelope: Envelope;
  clock: Clock;
  audit: KeyRingAudit;
  bus: EventBus;
  alg: SigningAlg;
  /** Longest lifetime of anything the keys sign; retired keys stay published this long. */
  maxTokenTtlSeconds: number;
}

export interface ActiveSigningKey {
  kid: string;
  alg: SigningAlg;
  privateKey: KeyObject;
}

export interface KeySummary {
  kid: string;
  alg: string;
  state: SigningKeysTable['state'];
  created_at: string;
  activated_at: string | null;
  retired_at: string | null;
  published: boolean;
}

/**
 * The signing keys of this node: one active key signs; a `next` key is already published so
 * verifiers' JWKS caches know it before it signs anything; retired keys stay published until
 * every token they signed has expired. The database is the truth; this is a cache reloaded on
 * `signing_keys.changed` from any node.
 */
export class KeyRing {
  private readonly keys: SigningKeyStore;
  private active: ActiveSigningKey | undefined;
  private verifying = new Map<string, { alg: SigningAlg; key: KeyObject }>();
  private publishedJson: { body: string; etag: string } = { body: '{"keys":[]}', etag: '""' };

  constructor(private readonly options: KeyRingOptions) {
    this.keys = new SigningKeyStore(options.store.db);
  }

  /** Creates the first active and next keys when the database has none, then loads. */
  async ensureKeys(context: AuditContext = {}): Promise<void> {
    await this.locked(async (trx) => {
      const live = await this.keys.listLive(this.retiredSince(), trx);
      if (!live.some((k) => k.state === 'active')) await this.createKey(trx, 'active', context);
      if (!live.some((k) => k.state === 'next')) await this.createKey(trx, 'next', context);
    });
    await this.load();
  }

  /** Promotes `next` to active, retires the active key, and publishes a new `next`. */
  async rotate(context: AuditContext = {}): Promise<{ activeKid: string; nextKid: string; retiredKid: string }> {
    const result = await this.locked(async (trx) => {
      const live = await this.keys.listLive(this.retiredSince(), trx);
      const current = live.find((k) => k.state === 'active');
      const next = live.find((k) => k.state === 'next');
      if (!current || !next) throw new Error('signing keys are not initialised; start the server or run mandate migrate first');
      const at = isoAt(this.options.clock);
      await this.keys.setState(trx, current.kid, 'retired', at);
      await this.keys.setState(trx, next.kid, 'active', at);
      const nextKid = await this.createKey(trx, 'next', context);
      await this.options.audit.append(
        trx,
        { kind: 'signing_key.rotated', detail: { active: next.kid, retired: current.kid, next: nextKid } },
        context,
      );
      return { activeKid: next.kid, nextKid, retiredKid: current.kid };
    });
    await this.load();
    await this.options.bus.publish('signing_keys.changed', { kid: result.activeKid });
    return result;
  }

  /** Re-reads keys from the database; re-seals private keys sealed under an older master key. */
  async load(): Promise<void> {
    const live = await this.keys.listLive(this.retiredSince());
    const activeRow = live.find((k) => k.state === 'active');
    if (activeRow) {
      const envelope = this.options.envelope;
      const context = sealContext(activeRow.kid);
      const privateJwk = JSON.parse(envelope.open(activeRow.private_jwk, context)) as JsonWebKey;
      if (envelope.needsReseal(activeRow.private_jwk)) {
        await this.keys.updateSealedPrivateJwk(activeRow.kid, envelope.seal(JSON.stringify(privateJwk), context));
      }
      this.active = { kid: activeRow.kid, alg: activeRow.alg as SigningAlg, privateKey: importPrivateKey(privateJwk) };
    }
    const jwks = live.map((k) => JSON.parse(k.public_jwk) as JWK);
    this.verifying = new Map(
      live.map((k, i) => [k.kid, { alg: k.alg as SigningAlg, key: createPublicKey({ key: jwks[i] as JsonWebKey, format: 'jwk' }) }]),
    );
    const body = JSON.stringify({ keys: jwks });
    this.publishedJson = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
  }

  /** Subscribes to cluster events and a periodic reconciliation; returns a function that stops both. */
  follow(bus: EventBus, reconcileSeconds: number, onError: (error: unknown) => void): () => void {
    const reload = () => this.load().catch(onError);
    const offChanged = bus.subscribe('signing_keys.changed', reload);
    const offResync = bus.subscribe('bus.resynced', reload);
    const timer = setInterval(reload, reconcileSeconds * 1000);
    timer.unref();
    return () => {
      offChanged();
      offResync();
      clearInterval(timer);
    };
  }

  /** The key that signs now. */
  activeKey(): ActiveSigningKey {
    if (!this.active) throw new Error('no active signing key loaded');
    return this.active;
  }

  /** The public key that verifies signatures by `kid`, while that key is published. */
  verificationKey(kid: string): { alg: SigningAlg; key: KeyObject } | undefined {
    return this.verifying.get(kid);
  }

  /**
   * The public JWK Set (RFC 7517 §5) of next, active and still-valid retired keys, serialized
   * once per change with an ETag, for the hot JWKS endpoint.
   */
  jwksJson(): { body: string; etag: string } {
    return this.publishedJson;
  }

  async list(): Promise<KeySummary[]> {
    const since = this.retiredSince();
    return (await this.keys.listAll()).map((k) => ({
      kid: k.kid,
      alg: k.alg,
      state: k.state,
      created_at: k.created_at,
      activated_at: k.activated_at,
      retired_at: k.retired_at,
      published: k.state !== 'retired' || (k.retired_at ?? '') >= since,
    }));
  }

  private retiredSince(): string {
    const windowMs = (this.options.maxTokenTtlSeconds + CLOCK_SKEW_SECONDS) * 1000;
    return new Date(this.options.clock.now() - windowMs).toISOString();
  }

  private async createKey(trx: Executor, state: 'active' | 'next', context: AuditContext): Promise<string> {
    const generated = await generateSigningKey(this.options.alg);
    const at = isoAt(this.options.clock);
    await this.keys.insert(trx, {
      kid: generated.kid,
      alg: generated.alg,
      public_jwk: JSON.stringify(generated.publicJwk),
      private_jwk: this.options.envelope.seal(JSON.stringify(generated.privateJwk), sealContext(generated.kid)),
      state,
      created_at: at,
      activated_at: state === 'active' ? at : null,
      retired_at: null,
    });
    await this.options.audit.append(
      trx,
      { kind: 'signing_key.created', detail: { kid: generated.kid, alg: generated.alg, state } },
      context,
    );
    return generated.kid;
  }

  /** One writer of signing keys at a time across the cluster (PostgreSQL advisory lock). */
  private locked<T>(work: (trx: Executor) => Promise<T>): Promise<T> {
    return inTransaction(this.options.store, async (trx) => {
      if (this.options.store.dialect === 'postgres') await sql`select pg_advisory_xact_lock(hashtext('mandate.signing_keys'))`.execute(trx);
      return work(trx);
    });
  }
}

function sealContext(kid: string): string {
  return `signing_key:${kid}`;
}
