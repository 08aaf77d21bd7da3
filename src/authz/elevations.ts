import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import { newId } from '../crypto/ids.js';
import type { EventBus } from '../events/bus.js';
import { ApiError, ConflictError, InvalidRequestError, NotFoundError } from '../http/errors.js';
import type { ActiveSession } from '../identity/sessions.js';
import type { ElevationsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';
import type { Roles } from './roles.js';

/** The longest an elevation may last. */
export const MAX_ELEVATION_MINUTES = 480;

export interface ElevationRequest {
  agent_id?: string | undefined;
  tool: string;
  action: string;
  justification: string;
  duration_minutes: number;
}

/**
 * Time-bound elevation: a member (for themselves, or for an agent they own) asks for one more
 * permission for at most a few hours, with a justification; someone who holds `approve` on that
 * tool and is not the requester decides (separation of duties). Approved, it ends by itself.
 * Every request, decision and refusal is audited.
 */
export class Elevations {
  constructor(
    private readonly store: Store,
    private readonly roles: Roles,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly bus: EventBus,
  ) {}

  async request(session: ActiveSession, input: ElevationRequest, context: AuditContext): Promise<ElevationsTable> {
    if (input.duration_minutes < 1 || input.duration_minutes > MAX_ELEVATION_MINUTES) {
      throw new InvalidRequestError(`duration_minutes must be between 1 and ${MAX_ELEVATION_MINUTES}`);
    }
    let principal: { type: 'member' | 'agent'; id: string } = { type: 'member', id: session.memberId };
    if (input.agent_id) {
      const agent = await this.store.db
        .selectFrom('agents')
        .selectAll()
        .where('org_id', '=', session.orgId)
        .where('id', '=', input.agent_id)
        .executeTakeFirst();
      if (!agent) throw new NotFoundError('agent');
      if (agent.owner_member_id !== session.memberId) throw new ApiError('forbidden', 'only the agent’s owner may ask to elevate it');
      principal = { type: 'agent', id: agent.id };
    }
    const row: ElevationsTable = {
      id: newId('elv', this.clock.now()),
      org_id: session.orgId,
      principal_type: principal.type,
      principal_id: principal.id,
      requested_by: session.memberId,
      tool: input.tool,
      action: input.action,
      justification: input.justification,
      duration_seconds: input.duration_minutes * 60,
      status: 'pending',
      decided_by: null,
      decided_at: null,
      expires_at: null,
      created_at: isoAt(this.clock),
    };
    await inTransaction(this.store, async (trx) => {
      await trx.insertInto('elevations').values(row).execute();
      await this.audit.append(
        trx,
        {
          kind: 'elevation.requested',
          orgId: session.orgId,
          actorId: session.memberId,
          ...(principal.type === 'agent' ? { agentId: principal.id } : { subjectId: principal.id }),
          tool: input.tool,
          action: input.action,
          detail: { elevation: row.id, justification: input.justification, minutes: input.duration_minutes },
        },
        context,
      );
    });
    return row;
  }

  async decide(session: ActiveSession, elevationId: string, approve: boolean, context: AuditContext): Promise<ElevationsTable> {
    const row = await this.store.db
      .selectFrom('elevations')
      .selectAll()
      .where('org_id', '=', session.orgId)
      .where('id', '=', elevationId)
      .executeTakeFirst();
    if (!row) throw new NotFoundError('elevation');
    if (row.status !== 'pending') throw new ConflictError(`the elevation is already ${row.status}`);
    // Separation of duties: nobody decides on their own elevation, or on their own agent's.
    if (row.requested_by === session.memberId || row.principal_id === session.memberId) {
      await this.refuse(session, row, 'the requester cannot decide on their own elevation', context);
    }
    const holds = (await this.roles.permissionsOf(session.orgId, session.memberId)).some(
      (p) => p.tool === row.tool && p.action === 'approve',
    );
    if (!holds) await this.refuse(session, row, `deciding needs the permission ${row.tool}:approve`, context);
    const now = this.clock.now();
    const changes = {
      status: approve ? ('approved' as const) : ('denied' as const),
      decided_by: session.memberId,
      decided_at: isoAt(this.clock),
      expires_at: approve ? new Date(now + row.duration_seconds * 1000).toISOString() : null,
    };
    await inTransaction(this.store, async (trx) => {
      const updated = await trx
        .updateTable('elevations')
        .set(changes)
        .where('id', '=', row.id)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) !== 1) throw new ConflictError('the elevation was decided meanwhile');
      await this.audit.append(
        trx,
        {
          kind: approve ? 'elevation.approved' : 'elevation.denied',
          orgId: row.org_id,
          actorId: session.memberId,
          ...(row.principal_type === 'agent' ? { agentId: row.principal_id } : { subjectId: row.principal_id }),
          tool: row.tool,
          action: row.action,
          detail: { elevation: row.id, expires_at: changes.expires_at },
        },
        context,
      );
    });
    await this.bus.publish('roles.changed', { orgId: row.org_id });
    return { ...row, ...changes };
  }

  async pending(session: ActiveSession): Promise<ElevationsTable[]> {
    return this.store.db
      .selectFrom('elevations')
      .selectAll()
      .where('org_id', '=', session.orgId)
      .where('status', '=', 'pending')
      .orderBy('id')
      .execute();
  }

  private async refuse(session: ActiveSession, row: ElevationsTable, reason: string, context: AuditContext): Promise<never> {
    await inTransaction(this.store, (trx) =>
      this.audit.append(
        trx,
        {
          kind: 'elevation.refused',
          orgId: row.org_id,
          actorId: session.memberId,
          tool: row.tool,
          action: row.action,
          result: 'failure',
          detail: { elevation: row.id, reason },
        },
        context,
      ),
    );
    throw new ApiError('forbidden', reason);
  }
}
