import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import type { Grants } from '../consent/grants.js';
import type { EventBus } from '../events/bus.js';
import type { Executor } from '../store/transaction.js';
import type { PrincipalStops } from './principal-stops.js';

export interface MemberAccessDeps {
  grants: Grants;
  stops: PrincipalStops;
  audit: AuditLog;
  bus: EventBus;
  clock: Clock;
}

/**
 * Ends everything a member can still do when they stop being an active member (suspended,
 * deleted, deprovisioned by SCIM): their sessions, every grant they gave (and so every token
 * derived from those grants), and the agents they own, which are suspended because nobody
 * answers for them any more (the owner's lifecycle drives the agent's). Runs inside the caller's
 * transaction, which also carries the events that tell every node.
 */
export class MemberAccess {
  constructor(private readonly deps: MemberAccessDeps) {}

  async revokeWithin(trx: Executor, orgId: string, memberId: string, reason: string, context: AuditContext): Promise<void> {
    const at = isoAt(this.deps.clock);
    // First the kill switch with its epoch: whatever else the member holds (a CIBA token, a
    // session JWT) stops now on every node, and never works again even if they come back.
    await this.deps.stops.stopWithin(trx, orgId, memberId);
    await trx
      .updateTable('sessions')
      .set({ revoked_at: at })
      .where('org_id', '=', orgId)
      .where('member_id', '=', memberId)
      .where('revoked_at', 'is', null)
      .execute();
    // Impersonation both ways: sessions and unused tokens as the member, and by the member.
    await trx
      .updateTable('sessions')
      .set({ revoked_at: at })
      .where('org_id', '=', orgId)
      .where('impersonator_id', '=', memberId)
      .where('revoked_at', 'is', null)
      .execute();
    await trx
      .updateTable('impersonation_tokens')
      .set({ consumed_at: at })
      .where('org_id', '=', orgId)
      .where((eb) => eb.or([eb('member_id', '=', memberId), eb('impersonator_id', '=', memberId)]))
      .where('consumed_at', 'is', null)
      .execute();
    const live = await trx
      .selectFrom('grants')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('member_id', '=', memberId)
      .where('revoked_at', 'is', null)
      .execute();
    for (const grant of live) await this.deps.grants.revokeWithin(trx, grant, reason, context);
    const owned = await trx
      .selectFrom('agents')
      .select('id')
      .where('org_id', '=', orgId)
      .where('owner_member_id', '=', memberId)
      .where('status', '=', 'active')
      .execute();
    const agentReason = `owner ${memberId} is no longer active (${reason})`;
    for (const agent of owned) {
      await trx
        .updateTable('agents')
        .set({ status: 'suspended', status_reason: agentReason, updated_at: at })
        .where('id', '=', agent.id)
        .execute();
      await this.deps.stops.stopWithin(trx, orgId, agent.id);
      await this.deps.audit.append(
        trx,
        { kind: 'agent.suspended', orgId, agentId: agent.id, subjectId: memberId, detail: { reason: agentReason } },
        context,
      );
    }
    // A deleted member's role bindings went with them: drop cached permission sets everywhere.
    await this.deps.bus.record(trx, 'roles.changed', { orgId });
  }
}
