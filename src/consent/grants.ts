import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import { NotFoundError } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import type { GrantsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';

/** A grant as the API shows it: every column is public information about the consent. */
export type GrantView = GrantsTable;

export interface GrantsDeps {
  store: Store;
  audit: AuditLog;
  clock: Clock;
  bus: EventBus;
}

/**
 * Grants: one row per consent event, the root of every delegated token (docs/architecture.md §1).
 * Revoking one kills its refresh tokens at once and its access tokens at introspection, on every
 * node: the revoked set lives in memory, fed by `grant.revoked` from the events outbox (written in
 * the revoking transaction), reloaded on resync and periodically.
 */
export class Grants {
  private readonly revoked = new Set<string>();

  constructor(private readonly deps: GrantsDeps) {
    deps.bus.subscribe('grant.revoked', ({ id }) => void this.revoked.add(id));
  }

  isRevoked(grantId: string): boolean {
    return this.revoked.has(grantId);
  }

  async insert(trx: Executor, grant: GrantsTable): Promise<void> {
    await trx.insertInto('grants').values(grant).execute();
  }

  async find(id: string, trx: Executor = this.deps.store.db): Promise<GrantsTable | undefined> {
    return trx.selectFrom('grants').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** A live grant of this member to this client for this resource covering every scope asked for (remembered consent). */
  async findCovering(memberId: string, clientId: string, resource: string, scopes: readonly string[]): Promise<GrantsTable | undefined> {
    const candidates = await this.deps.store.db
      .selectFrom('grants')
      .selectAll()
      .where('member_id', '=', memberId)
      .where('client_id', '=', clientId)
      .where('resource', '=', resource)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', isoAt(this.deps.clock))
      .orderBy('created_at', 'desc')
      .execute();
    return candidates.find((grant) => {
      const granted = new Set(grant.scope.split(' '));
      return scopes.every((scope) => granted.has(scope));
    });
  }

  async list(filter: { orgId: string; memberId?: string }): Promise<GrantView[]> {
    let query = this.deps.store.db.selectFrom('grants').selectAll().where('org_id', '=', filter.orgId);
    if (filter.memberId) query = query.where('member_id', '=', filter.memberId);
    return query.orderBy('id', 'desc').limit(500).execute();
  }

  /**
   * Revokes a grant (and so everything derived from it), recording who and why. `scope` limits
   * it to one organization or one member, so nobody can revoke another tenant's grant.
   */
  async revoke(grantId: string, reason: string, scope: { orgId: string; memberId?: string }, context: AuditContext): Promise<void> {
    await inTransaction(this.deps.store, async (trx) => {
      const grant = await this.find(grantId, trx);
      if (!grant || grant.org_id !== scope.orgId || (scope.memberId && grant.member_id !== scope.memberId))
        throw new NotFoundError('grant');
      await this.revokeWithin(trx, grant, reason, context);
    });
  }

  /**
   * Revokes inside the caller's transaction (code replay, refresh reuse), with the event that tells
   * every node: it reaches them, this one included, if and only if the transaction commits.
   */
  async revokeWithin(trx: Executor, grant: GrantsTable, reason: string, context: AuditContext): Promise<void> {
    if (grant.revoked_at) return;
    await trx
      .updateTable('grants')
      .set({ revoked_at: isoAt(this.deps.clock), revoked_reason: reason })
      .where('id', '=', grant.id)
      .execute();
    await this.deps.audit.append(
      trx,
      {
        kind: 'grant.revoked',
        orgId: grant.org_id,
        subjectId: grant.member_id,
        grantId: grant.id,
        detail: { reason, client_id: grant.client_id },
      },
      context,
    );
    await this.deps.bus.record(trx, 'grant.revoked', { id: grant.id });
  }

  /**
   * A new consent replaces the earlier grants of the same member to the same client for the same
   * resource: one app holds one grant, so revoking it leaves nothing of an older consent behind.
   * Returns the ids revoked.
   */
  async supersedeWithin(trx: Executor, grant: GrantsTable, context: AuditContext): Promise<string[]> {
    const previous = await trx
      .selectFrom('grants')
      .selectAll()
      .where('member_id', '=', grant.member_id)
      .where('client_id', '=', grant.client_id)
      .where('resource', '=', grant.resource)
      .where('revoked_at', 'is', null)
      .where('id', '!=', grant.id)
      .execute();
    for (const old of previous) await this.revokeWithin(trx, old, `superseded by ${grant.id}`, context);
    return previous.map((old) => old.id);
  }

  /** Reloads revoked grants that could still have live tokens (a safety net for missed events). */
  async load(): Promise<void> {
    const rows = await this.deps.store.db
      .selectFrom('grants')
      .select('id')
      .where('revoked_at', 'is not', null)
      .where('expires_at', '>', isoAt(this.deps.clock))
      .execute();
    for (const row of rows) this.revoked.add(row.id);
  }
}
