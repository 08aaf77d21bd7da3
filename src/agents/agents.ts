import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import type { Grants } from '../consent/grants.js';
import { newId } from '../crypto/ids.js';
import { ConflictError, InvalidRequestError, MandateError, NotFoundError } from '../errors.js';
import type { EventBus } from '../events/bus.js';
import { decodeCursor, type Page, toPage } from '../http/pagination.js';
import type { AgentsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import { MemberStore } from '../tenancy/member-store.js';
import type { Organizations } from '../tenancy/organizations.js';
import type { PrincipalStops } from '../tenancy/principal-stops.js';
import type { Agent, CreateAgent, StatusChange, UpdateAgent } from './schemas.js';

export interface AgentsDeps {
  store: Store;
  organizations: Organizations;
  grants: Grants;
  stops: PrincipalStops;
  audit: AuditLog;
  clock: Clock;
  bus: EventBus;
}

/**
 * Agents as first-class non-human identities of an organization: an accountable owner, an
 * environment, a lifecycle. Suspension is the kill switch: every node refuses the agent's
 * tokens within a second (tenancy/principal-stops.ts); decommissioning is final.
 */
export class Agents {
  private readonly members: MemberStore;

  constructor(private readonly deps: AgentsDeps) {
    this.members = new MemberStore(deps.store.db);
  }

  async create(orgRef: string, input: CreateAgent, context: AuditContext): Promise<Agent> {
    const org = await this.deps.organizations.require(orgRef);
    await this.requireActiveOwner(org.id, input.owner_member_id);
    const at = isoAt(this.deps.clock);
    const row: AgentsTable = {
      id: newId('agt', this.deps.clock.now()),
      org_id: org.id,
      name: input.name,
      purpose: input.purpose,
      owner_member_id: input.owner_member_id,
      technical_owner: input.technical_owner ?? null,
      environment: input.environment,
      version: input.version ?? null,
      status: 'active',
      status_reason: null,
      max_data_classification: input.max_data_classification ?? 'internal',
      allowed_tools: JSON.stringify(input.allowed_tools ?? []),
      created_at: at,
      updated_at: at,
      last_access_at: null,
      tokens_issued: 0,
    };
    await inTransaction(this.deps.store, async (trx) => {
      await trx.insertInto('agents').values(row).execute();
      await this.deps.audit.append(
        trx,
        {
          kind: 'agent.created',
          orgId: org.id,
          agentId: row.id,
          detail: { name: row.name, owner: row.owner_member_id, environment: row.environment },
        },
        context,
      );
    });
    return toAgent(row);
  }

  async get(orgRef: string, agentId: string): Promise<Agent> {
    const org = await this.deps.organizations.require(orgRef);
    return toAgent(await this.require(org.id, agentId));
  }

  /** The agent row if it belongs to the organization (clients bind to agents through this). */
  async requireInOrg(orgId: string, agentId: string, trx?: Executor): Promise<AgentsTable> {
    return this.require(orgId, agentId, trx);
  }

  async list(
    orgRef: string,
    options: { cursor?: string | undefined; limit: number; status?: AgentsTable['status'] | undefined },
  ): Promise<Page<Agent>> {
    const org = await this.deps.organizations.require(orgRef);
    let query = this.deps.store.db.selectFrom('agents').selectAll().where('org_id', '=', org.id);
    if (options.status) query = query.where('status', '=', options.status);
    const after = decodeCursor(options.cursor);
    if (after) query = query.where('id', '>', after);
    const page = toPage(
      await query
        .orderBy('id')
        .limit(options.limit + 1)
        .execute(),
      options.limit,
    );
    return { ...page, data: page.data.map(toAgent) };
  }

  async update(orgRef: string, agentId: string, input: UpdateAgent, context: AuditContext): Promise<Agent> {
    const org = await this.deps.organizations.require(orgRef);
    if (input.owner_member_id) await this.requireActiveOwner(org.id, input.owner_member_id);
    const row = await inTransaction(this.deps.store, async (trx) => {
      const current = await this.require(org.id, agentId, trx);
      if (current.status === 'decommissioned') throw new ConflictError('a decommissioned agent cannot change');
      const { allowed_tools: tools, ...rest } = input;
      const changes = { ...rest, ...(tools !== undefined && { allowed_tools: JSON.stringify(tools) }), updated_at: isoAt(this.deps.clock) };
      await trx.updateTable('agents').set(changes).where('id', '=', current.id).execute();
      await this.deps.audit.append(trx, { kind: 'agent.updated', orgId: org.id, agentId: current.id, detail: { changed: input } }, context);
      // Its registry limits bound every decision: every node drops what it cached.
      await this.deps.bus.record(trx, 'agents.changed', { id: current.id });
      return { ...current, ...changes };
    });
    return toAgent(row);
  }

  /**
   * Agents still active whose accountable owner no longer is (suspended, invited, or deleted):
   * nobody answers for them. SCIM deprovisioning will feed this.
   */
  async withInactiveOwners(orgRef: string): Promise<Agent[]> {
    const org = await this.deps.organizations.require(orgRef);
    const rows = await this.deps.store.db
      .selectFrom('agents')
      .leftJoin('members', (join) => join.onRef('members.id', '=', 'agents.owner_member_id').onRef('members.org_id', '=', 'agents.org_id'))
      .selectAll('agents')
      .where('agents.org_id', '=', org.id)
      .where('agents.status', '!=', 'decommissioned')
      .where((eb) => eb.or([eb('members.id', 'is', null), eb('members.status', '!=', 'active')]))
      .orderBy('agents.id')
      .execute();
    return rows.map(toAgent);
  }

  /** The kill switch: every token of the agent is refused on every node until it is resumed. */
  async suspend(orgRef: string, agentId: string, input: StatusChange, context: AuditContext): Promise<Agent> {
    return this.transition(orgRef, agentId, 'suspended', input.reason, context);
  }

  async resume(orgRef: string, agentId: string, input: StatusChange, context: AuditContext): Promise<Agent> {
    return this.transition(orgRef, agentId, 'active', input.reason, context);
  }

  /** Final: credentials disabled, grants revoked, the audit trail kept. */
  async decommission(orgRef: string, agentId: string, input: StatusChange, context: AuditContext): Promise<Agent> {
    return this.transition(orgRef, agentId, 'decommissioned', input.reason, context);
  }

  private async transition(
    orgRef: string,
    agentId: string,
    status: AgentsTable['status'],
    reason: string,
    context: AuditContext,
  ): Promise<Agent> {
    const org = await this.deps.organizations.require(orgRef);
    const row = await inTransaction(this.deps.store, async (trx) => {
      const current = await this.require(org.id, agentId, trx);
      if (current.status === 'decommissioned') throw new ConflictError('the agent is decommissioned; that is final');
      if (current.status === status) throw new ConflictError(`the agent is already ${status}`);
      const changes = { status, status_reason: reason, updated_at: isoAt(this.deps.clock) };
      await trx.updateTable('agents').set(changes).where('id', '=', current.id).execute();
      // Resuming lets the agent act again with new credentials only: its old ones predate the stop.
      if (status === 'active') await this.deps.stops.liftWithin(trx, current.id);
      else await this.deps.stops.stopWithin(trx, org.id, current.id);
      if (status === 'decommissioned') {
        await trx
          .updateTable('clients')
          .set({ status: 'disabled', updated_at: isoAt(this.deps.clock) })
          .where('agent_id', '=', current.id)
          .execute();
        await trx.deleteFrom('role_bindings').where('principal_id', '=', current.id).execute();
        const disabled = await trx.selectFrom('clients').select('id').where('agent_id', '=', current.id).execute();
        for (const client of disabled) await this.deps.bus.record(trx, 'clients.changed', { id: client.id });
        await this.deps.bus.record(trx, 'roles.changed', { orgId: org.id });
        const live = await trx
          .selectFrom('grants')
          .selectAll()
          .where('agent_id', '=', current.id)
          .where('revoked_at', 'is', null)
          .execute();
        for (const grant of live) await this.deps.grants.revokeWithin(trx, grant, 'agent decommissioned', context);
      }
      const kind = status === 'active' ? 'agent.resumed' : status === 'suspended' ? 'agent.suspended' : 'agent.decommissioned';
      await this.deps.audit.append(trx, { kind, orgId: org.id, agentId: current.id, detail: { reason } }, context);
      return { ...current, ...changes };
    });
    return toAgent(row);
  }

  private async requireActiveOwner(orgId: string, memberId: string): Promise<void> {
    const owner = await this.members.find(orgId, memberId);
    if (!owner) throw new InvalidRequestError('owner_member_id must be a member of this organization');
    if (owner.status !== 'active') throw new MandateError('invalid_request', `the owner is ${owner.status}`);
  }

  private async require(orgId: string, agentId: string, trx: Executor = this.deps.store.db): Promise<AgentsTable> {
    const row = await trx.selectFrom('agents').selectAll().where('org_id', '=', orgId).where('id', '=', agentId).executeTakeFirst();
    if (!row) throw new NotFoundError('agent');
    return row;
  }
}

export function toAgent(row: AgentsTable): Agent {
  return { ...row, allowed_tools: JSON.parse(row.allowed_tools) as string[] };
}
