import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { CLASSIFICATIONS, type Classification, type Environment } from '../authz/decision.js';
import type { Permissions } from '../authz/permissions.js';
import { type Clock, isoAt } from '../clock.js';
import { newId } from '../crypto/ids.js';
import { ConflictError, InvalidRequestError, MandateError, NotFoundError } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import type { ActiveSession } from '../sessions/sessions.js';
import type { ElevationsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';

/** The longest an elevation may last. */
export const MAX_ELEVATION_MINUTES = 480;

export interface ElevationRequest {
  agent_id?: string | undefined;
  tool: string;
  action: string;
  justification: string;
  duration_minutes: number;
  /** Environments the permission applies in; absent: all (for an agent: the agent's own). */
  environments?: Environment[] | undefined;
  /** The most sensitive data it may touch; absent: any (for an agent: the agent's ceiling). */
  max_classification?: Classification | undefined;
}

/** An elevation as the API shows it, its bounds parsed. */
export interface ElevationView extends Omit<ElevationsTable, 'environments'> {
  environments: Environment[] | null;
}

export function elevationView(row: ElevationsTable): ElevationView {
  return { ...row, environments: row.environments ? (JSON.parse(row.environments) as Environment[]) : null };
}

const rank = (classification: Classification) => CLASSIFICATIONS.indexOf(classification);

export interface ElevationsDeps {
  store: Store;
  /** The one permission function: who may decide is read where every decision reads it. */
  permissions: Pick<Permissions, 'of'>;
  audit: AuditLog;
  clock: Clock;
  bus: EventBus;
}

/**
 * Time-bound elevation: a member (for themselves, or for an agent they own) asks for one more
 * permission for at most a few hours, with a justification, bounded like a role permission by
 * environments and a data-classification ceiling; someone who holds `approve` on that tool and is
 * not the requester decides (separation of duties). Approved, it ends by itself. Requests are
 * visible only to the requester and to those who may decide them. Every request, decision and
 * refusal is audited.
 */
export class Elevations {
  constructor(private readonly deps: ElevationsDeps) {}

  async request(session: ActiveSession, input: ElevationRequest, context: AuditContext): Promise<ElevationView> {
    if (input.duration_minutes < 1 || input.duration_minutes > MAX_ELEVATION_MINUTES) {
      throw new InvalidRequestError(`duration_minutes must be between 1 and ${MAX_ELEVATION_MINUTES}`);
    }
    let principal: { type: 'member' | 'agent'; id: string } = { type: 'member', id: session.memberId };
    let environments = input.environments ?? null;
    let maxClassification = input.max_classification ?? null;
    if (input.agent_id) {
      const agent = await this.deps.store.db
        .selectFrom('agents')
        .selectAll()
        .where('org_id', '=', session.orgId)
        .where('id', '=', input.agent_id)
        .executeTakeFirst();
      if (!agent) throw new NotFoundError('agent');
      if (agent.owner_member_id !== session.memberId) throw new MandateError('forbidden', 'only the agent’s owner may ask to elevate it');
      principal = { type: 'agent', id: agent.id };
      // An agent is registered for one environment and a data ceiling: an elevation for it stays
      // inside them. Unbounded, it takes them; asked wider, it is refused rather than silently cut.
      if (environments?.some((e) => e !== agent.environment))
        throw new InvalidRequestError(`the agent is registered for the ${agent.environment} environment only`);
      if (maxClassification && rank(maxClassification) > rank(agent.max_data_classification))
        throw new InvalidRequestError(`the agent may touch data up to ${agent.max_data_classification} only`);
      environments ??= [agent.environment];
      maxClassification ??= agent.max_data_classification;
    }
    const row: ElevationsTable = {
      id: newId('elv', this.deps.clock.now()),
      org_id: session.orgId,
      principal_type: principal.type,
      principal_id: principal.id,
      requested_by: session.memberId,
      tool: input.tool,
      action: input.action,
      justification: input.justification,
      duration_seconds: input.duration_minutes * 60,
      environments: environments ? JSON.stringify(environments) : null,
      max_classification: maxClassification,
      status: 'pending',
      decided_by: null,
      decided_at: null,
      expires_at: null,
      created_at: isoAt(this.deps.clock),
    };
    await inTransaction(this.deps.store, async (trx) => {
      await trx.insertInto('elevations').values(row).execute();
      await this.deps.audit.append(
        trx,
        {
          kind: 'elevation.requested',
          orgId: session.orgId,
          actorId: session.memberId,
          ...(principal.type === 'agent' ? { agentId: principal.id } : { subjectId: principal.id }),
          tool: input.tool,
          action: input.action,
          detail: {
            elevation: row.id,
            justification: input.justification,
            minutes: input.duration_minutes,
            environments,
            max_classification: maxClassification,
          },
        },
        context,
      );
    });
    return elevationView(row);
  }

  async decide(session: ActiveSession, elevationId: string, approve: boolean, context: AuditContext): Promise<ElevationView> {
    const row = await this.find(session.orgId, elevationId);
    if (!row) throw new NotFoundError('elevation');
    if (row.status !== 'pending') throw new ConflictError(`the elevation is already ${row.status}`);
    // Separation of duties: nobody decides on their own elevation, or on their own agent's.
    if (row.requested_by === session.memberId || row.principal_id === session.memberId) {
      await this.refuse(session, row, 'the requester cannot decide on their own elevation', context);
    }
    if (!(await this.approvableTools(session)).has(row.tool))
      await this.refuse(session, row, `deciding needs the permission ${row.tool}:approve`, context);
    const now = this.deps.clock.now();
    const changes = {
      status: approve ? ('approved' as const) : ('denied' as const),
      decided_by: session.memberId,
      decided_at: isoAt(this.deps.clock),
      expires_at: approve ? new Date(now + row.duration_seconds * 1000).toISOString() : null,
    };
    await inTransaction(this.deps.store, async (trx) => {
      const updated = await trx
        .updateTable('elevations')
        .set(changes)
        .where('id', '=', row.id)
        .where('status', '=', 'pending')
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) !== 1) throw new ConflictError('the elevation was decided meanwhile');
      await this.deps.audit.append(
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
    await this.deps.bus.publish('roles.changed', { orgId: row.org_id });
    return elevationView({ ...row, ...changes });
  }

  /** Pending elevations of the organization this member asked for or may decide. */
  async pending(session: ActiveSession): Promise<ElevationView[]> {
    const rows = await this.deps.store.db
      .selectFrom('elevations')
      .selectAll()
      .where('org_id', '=', session.orgId)
      .where('status', '=', 'pending')
      .orderBy('id')
      .execute();
    const approvable = await this.approvableTools(session);
    return rows.filter((row) => this.concerns(session, row, approvable)).map(elevationView);
  }

  /** One elevation, for its requester and those who may decide it; anyone else gets 404, as for an unknown id. */
  async get(session: ActiveSession, elevationId: string): Promise<ElevationView> {
    const row = await this.find(session.orgId, elevationId);
    if (!row || !this.concerns(session, row, await this.approvableTools(session))) throw new NotFoundError('elevation');
    return elevationView(row);
  }

  private find(orgId: string, elevationId: string): Promise<ElevationsTable | undefined> {
    return this.deps.store.db
      .selectFrom('elevations')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '=', elevationId)
      .executeTakeFirst();
  }

  private async approvableTools(session: ActiveSession): Promise<Set<string>> {
    const permissions = await this.deps.permissions.of(session.orgId, session.memberId);
    return new Set(permissions.filter((p) => p.action === 'approve').map((p) => p.tool));
  }

  /** The requester (or the member it is for), or someone `decide` would let decide it. */
  private concerns(session: ActiveSession, row: ElevationsTable, approvable: ReadonlySet<string>): boolean {
    const own = row.requested_by === session.memberId || row.principal_id === session.memberId;
    return own || approvable.has(row.tool);
  }

  private async refuse(session: ActiveSession, row: ElevationsTable, reason: string, context: AuditContext): Promise<never> {
    await inTransaction(this.deps.store, (trx) =>
      this.deps.audit.append(
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
    throw new MandateError('forbidden', reason);
  }
}
