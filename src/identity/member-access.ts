import type { AuditContext } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import type { Grants } from '../oauth/consent/grants.js';
import type { Executor } from '../store/transaction.js';

/**
 * Ends everything a member can still do when they stop being an active member (suspended,
 * deleted, later deprovisioned by SCIM): their sessions, and every grant they gave, and so every
 * token derived from those grants. Runs inside the caller's transaction; `announce` tells the
 * other nodes after commit.
 */
export class MemberAccess {
  constructor(
    private readonly grants: Grants,
    private readonly clock: Clock,
  ) {}

  /** Returns the ids of the grants it revoked, for {@link MemberAccess.announce}. */
  async revokeWithin(trx: Executor, orgId: string, memberId: string, reason: string, context: AuditContext): Promise<string[]> {
    await trx
      .updateTable('sessions')
      .set({ revoked_at: isoAt(this.clock) })
      .where('org_id', '=', orgId)
      .where('member_id', '=', memberId)
      .where('revoked_at', 'is', null)
      .execute();
    const live = await trx
      .selectFrom('grants')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('member_id', '=', memberId)
      .where('revoked_at', 'is', null)
      .execute();
    for (const grant of live) await this.grants.revokeWithin(trx, grant, reason, context);
    return live.map((grant) => grant.id);
  }

  async announce(grantIds: readonly string[]): Promise<void> {
    for (const id of grantIds) await this.grants.announce(id);
  }
}
