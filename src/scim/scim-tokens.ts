import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import { isId, newId } from '../crypto/ids.js';
import { hashSecret, newSecret, type SecretPrefix, secretMatches } from '../crypto/secret-token.js';
import { NotFoundError } from '../errors.js';
import type { ScimTokensTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';
import type { Organizations } from '../tenancy/organizations.js';

export const SCIM_TOKEN_PREFIX = 'mnd_scim_' satisfies SecretPrefix;

/** A SCIM token as the API lists it: never the token. */
export interface ScimTokenView {
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** Who a SCIM request acts as: the token, and the organization it provisions. */
export interface ScimCaller {
  tokenId: string;
  orgId: string;
}

/** `last_used_at` is written at most this often per token, so provisioning bursts are not a write each. */
const TOUCH_INTERVAL_MS = 60_000;

export interface ScimTokensDeps {
  store: Store;
  organizations: Organizations;
  audit: AuditLog;
  clock: Clock;
}

/**
 * An organization's SCIM bearer tokens: 256 random bits under `mnd_scim_`, shown once and
 * stored as SHA-256 (docs/architecture.md §3.3). A token provisions exactly one organization.
 */
export class ScimTokens {
  private readonly lastTouched = new Map<string, number>();

  constructor(private readonly deps: ScimTokensDeps) {}

  async create(orgRef: string, name: string, context: AuditContext): Promise<ScimTokenView & { token: string }> {
    const org = await this.deps.organizations.require(orgRef);
    const token = newSecret(SCIM_TOKEN_PREFIX);
    const row: ScimTokensTable = {
      id: newId('sct', this.deps.clock.now()),
      org_id: org.id,
      token_hash: hashSecret(token),
      name,
      created_at: isoAt(this.deps.clock),
      last_used_at: null,
      revoked_at: null,
    };
    await inTransaction(this.deps.store, async (trx) => {
      await trx.insertInto('scim_tokens').values(row).execute();
      await this.deps.audit.append(trx, { kind: 'scim_token.created', orgId: org.id, detail: { id: row.id, name } }, context);
    });
    return { ...toView(row), token };
  }

  async list(orgRef: string): Promise<ScimTokenView[]> {
    const org = await this.deps.organizations.require(orgRef);
    const rows = await this.deps.store.db.selectFrom('scim_tokens').selectAll().where('org_id', '=', org.id).orderBy('id').execute();
    return rows.map(toView);
  }

  /** Revokes at once: every node looks tokens up in the database on each request. */
  async revoke(orgRef: string, id: string, context: AuditContext): Promise<void> {
    const org = await this.deps.organizations.require(orgRef);
    await inTransaction(this.deps.store, async (trx) => {
      const row = isId('sct', id)
        ? await trx.selectFrom('scim_tokens').selectAll().where('org_id', '=', org.id).where('id', '=', id).executeTakeFirst()
        : undefined;
      if (!row) throw new NotFoundError('SCIM token');
      if (row.revoked_at !== null) return;
      await trx
        .updateTable('scim_tokens')
        .set({ revoked_at: isoAt(this.deps.clock) })
        .where('id', '=', row.id)
        .execute();
      await this.deps.audit.append(trx, { kind: 'scim_token.revoked', orgId: org.id, detail: { id: row.id, name: row.name } }, context);
    });
  }

  /** The caller a presented token stands for, or undefined when it is unknown or revoked. */
  async authenticate(token: string): Promise<ScimCaller | undefined> {
    if (!token.startsWith(SCIM_TOKEN_PREFIX)) return undefined;
    const row = await this.deps.store.db
      .selectFrom('scim_tokens')
      .selectAll()
      .where('token_hash', '=', hashSecret(token))
      .executeTakeFirst();
    // The lookup is by digest; the constant-time check guards against a non-exact index match.
    if (!row || row.revoked_at !== null || !secretMatches(token, row.token_hash)) return undefined;
    const now = this.deps.clock.now();
    if (now - (this.lastTouched.get(row.id) ?? 0) > TOUCH_INTERVAL_MS) {
      this.lastTouched.set(row.id, now);
      await this.deps.store.db
        .updateTable('scim_tokens')
        .set({ last_used_at: isoAt(this.deps.clock) })
        .where('id', '=', row.id)
        .execute();
    }
    return { tokenId: row.id, orgId: row.org_id };
  }
}

function toView(row: ScimTokensTable): ScimTokenView {
  return { id: row.id, name: row.name, created_at: row.created_at, last_used_at: row.last_used_at, revoked_at: row.revoked_at };
}
