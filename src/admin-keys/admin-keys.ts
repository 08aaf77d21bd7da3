import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import { newId } from '../crypto/ids.js';
import { hashSecret, newSecret, secretMatches } from '../crypto/secret-token.js';
import { NotFoundError } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import { InvalidatingCache } from '../events/cache.js';
import { isUniqueViolation } from '../store/errors.js';
import type { AdminKeysTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import { AdminKeyStore } from './store.js';

/** What is shown about an admin key: never its secret or hash. */
export interface AdminKeyView {
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** Writes `last_used_at` at most this often per key, so authentication stays a read. */
const TOUCH_INTERVAL_MS = 60_000;

export interface AdminKeysDeps {
  store: Store;
  audit: AuditLog;
  clock: Clock;
  bus: EventBus;
  /** How long a key read stays cached if no `admin_keys.changed` event arrives (a safety net). */
  cacheTtlMs: number;
}

/** Admin API keys (`mnd_ak_…`): created, listed and revoked by the CLI, checked on every /v1 call. */
export class AdminKeys {
  private readonly keys: AdminKeyStore;
  private readonly lastTouched = new Map<string, number>();
  /**
   * Keys by the SHA-256 of their secret: every /v1 call authenticates, and a database read per
   * call cost a sixth of a decision (README "Benchmarks"). A revocation records
   * `admin_keys.changed` in its transaction, which empties this cache on every node as soon as
   * the node reads it (docs/architecture.md §7, §10); a resync empties it too.
   */
  private readonly cache: InvalidatingCache<AdminKeysTable>;

  constructor(private readonly deps: AdminKeysDeps) {
    this.keys = new AdminKeyStore(deps.store.db);
    this.cache = new InvalidatingCache(deps.clock, deps.cacheTtlMs);
    deps.bus.subscribe('admin_keys.changed', () => this.cache.clear());
    deps.bus.subscribe('bus.resynced', () => this.cache.clear());
  }

  /** Creates a key; the returned secret is shown once and only its hash is stored. */
  async create(name: string, context: AuditContext = {}): Promise<{ key: AdminKeyView; secret: string }> {
    const secret = newSecret('mnd_ak_');
    const key = await this.insert(name, secret, context);
    return { key, secret };
  }

  /** Installs MANDATE_BOOTSTRAP_ADMIN_KEY when no admin key exists; returns whether it did. */
  async bootstrap(secret: string): Promise<boolean> {
    // Two nodes bootstrapping the same key at once: one wins the unique index, which is the goal.
    return inTransaction(this.deps.store, async (trx) => {
      if ((await this.keys.count(trx)) > 0) return false;
      await this.insertWith(trx, 'bootstrap', secret, {});
      return true;
    }).catch((error: unknown) => {
      if (isUniqueViolation(error)) return false;
      throw error;
    });
  }

  async list(): Promise<AdminKeyView[]> {
    return (await this.keys.list()).map(toView);
  }

  async revoke(id: string, context: AuditContext = {}): Promise<AdminKeyView> {
    await inTransaction(this.deps.store, async (trx) => {
      if (!(await this.keys.revoke(trx, id, isoAt(this.deps.clock)))) throw new NotFoundError('active admin key');
      await this.deps.audit.append(trx, { kind: 'admin_key.revoked', detail: { id } }, context);
      await this.deps.bus.record(trx, 'admin_keys.changed', { id });
    });
    return toView((await this.keys.findById(id)) as AdminKeysTable);
  }

  /** The key a presented secret belongs to, if it is an active admin key. */
  async authenticate(secret: string): Promise<AdminKeyView | undefined> {
    if (!secret.startsWith('mnd_ak_')) return undefined;
    const hash = hashSecret(secret);
    const row = await this.cache.get(hash, () => this.keys.findByHash(hash));
    // The lookup is by digest; the constant-time check guards against a non-exact index match.
    if (!row || row.revoked_at !== null || !secretMatches(secret, row.secret_hash)) return undefined;
    const now = this.deps.clock.now();
    if (now - (this.lastTouched.get(row.id) ?? 0) > TOUCH_INTERVAL_MS) {
      this.lastTouched.set(row.id, now);
      await this.keys.touch(row.id, isoAt(this.deps.clock));
    }
    return toView(row);
  }

  private insert(name: string, secret: string, context: AuditContext): Promise<AdminKeyView> {
    return inTransaction(this.deps.store, (trx) => this.insertWith(trx, name, secret, context));
  }

  private async insertWith(trx: Executor, name: string, secret: string, context: AuditContext): Promise<AdminKeyView> {
    const row: AdminKeysTable = {
      id: newId('ak', this.deps.clock.now()),
      name,
      secret_hash: hashSecret(secret),
      created_at: isoAt(this.deps.clock),
      last_used_at: null,
      revoked_at: null,
    };
    await this.keys.insert(trx, row);
    await this.deps.audit.append(trx, { kind: 'admin_key.created', detail: { id: row.id, name } }, context);
    return toView(row);
  }
}

function toView(row: AdminKeysTable): AdminKeyView {
  return { id: row.id, name: row.name, created_at: row.created_at, last_used_at: row.last_used_at, revoked_at: row.revoked_at };
}
