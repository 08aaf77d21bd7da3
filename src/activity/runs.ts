import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { type Clock, isoAt } from '../clock.js';
import { newId } from '../crypto/ids.js';
import { MandateError, NotFoundError } from '../errors.js';
import type { RunsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { type Executor, inTransaction } from '../store/transaction.js';
import { type Caller, principalsFromCaller, requireOwnRecord } from './caller.js';
import { eventOf, type PrincipalInput, type PrincipalResolver, type Principals } from './principals.js';

export interface RunView {
  id: string;
  org_id: string;
  agent_id: string | null;
  member_id: string | null;
  client_id: string | null;
  grant_id: string | null;
  name: string;
  correlation_id: string;
  status: RunsTable['status'];
  steps_completed: number;
  /** The last step that succeeded, and the state it checkpointed: where a resumed run starts. */
  last_successful_step: { name: string; event_id: string; state: unknown } | null;
  /** False once the run finished or its grant was revoked or expired. */
  resumable: boolean;
  created_at: string;
  updated_at: string;
}

/**
 * Resumable agent runs: an agent acting for a user under a grant records each step as an intent
 * and an outcome (activity/intents.ts); a successful outcome checkpoints the step's state here, so a
 * crashed agent asks where it stopped and carries on without redoing work. A run whose grant was
 * revoked cannot take another step.
 */
export class Runs {
  constructor(private readonly deps: { store: Store; audit: AuditLog; principals: PrincipalResolver; clock: Clock }) {}

  async create(request: PrincipalInput & { name: string }, context: AuditContext, caller: Caller): Promise<RunView> {
    const input = principalsFromCaller(caller, request);
    const p = await this.deps.principals.resolve(input);
    if (!p.live) throw new MandateError('forbidden', 'the grant behind this run was revoked or has expired, or the token was revoked');
    const at = isoAt(this.deps.clock);
    const id = newId('run', this.deps.clock.now());
    const row: RunsTable = {
      id,
      org_id: p.orgId,
      agent_id: p.agentId,
      member_id: p.memberId,
      client_id: p.clientId,
      grant_id: p.grantId,
      name: input.name,
      // One correlation id ties every step of the run together in the trail.
      correlation_id: context.correlationId && context.correlationId !== context.requestId ? context.correlationId : id,
      status: 'active',
      steps_completed: 0,
      last_step: null,
      last_step_event_id: null,
      last_state: null,
      created_at: at,
      updated_at: at,
    };
    await inTransaction(this.deps.store, async (trx) => {
      await trx.insertInto('runs').values(row).execute();
      await this.deps.audit.append(
        trx,
        { ...eventOf(p), kind: 'run.created', runId: id, detail: { name: input.name } },
        { ...context, correlationId: row.correlation_id },
      );
    });
    return this.view(row);
  }

  async get(id: string, caller: Caller): Promise<RunView> {
    const run = await this.require(id);
    requireOwnRecord(caller, run, 'run');
    return this.view(run);
  }

  /** The run, if it may take another step: still active, and its grant still stands. */
  async requireActive(id: string, caller: Caller): Promise<RunsTable> {
    const run = await this.require(id);
    requireOwnRecord(caller, run, 'run');
    if (run.status !== 'active') throw new MandateError('conflict', `the run is ${run.status}`);
    if (!(await this.grantStands(run))) throw new MandateError('forbidden', 'the grant behind this run was revoked or has expired');
    return run;
  }

  /** The principals a step acts as when it names only the run. */
  async principalsOf(run: RunsTable): Promise<Principals> {
    const p = await this.deps.principals.resolve({
      organization: run.org_id,
      ...(run.member_id && { member_id: run.member_id }),
      ...(run.agent_id && { agent_id: run.agent_id }),
      ...(run.grant_id && { grant_id: run.grant_id }),
    });
    return { ...p, clientId: p.clientId ?? run.client_id };
  }

  /** Called by a successful step's outcome, inside its transaction. */
  async recordStep(trx: Executor, runId: string, step: { step: string; eventId: string; state: unknown; at: string }): Promise<void> {
    await trx
      .updateTable('runs')
      .set((eb) => ({
        steps_completed: eb('steps_completed', '+', 1),
        last_step: step.step,
        last_step_event_id: step.eventId,
        last_state: step.state === undefined ? null : JSON.stringify(step.state),
        updated_at: step.at,
      }))
      .where('id', '=', runId)
      .where('status', '=', 'active')
      .execute();
  }

  async finish(id: string, status: 'completed' | 'failed', context: AuditContext, caller: Caller): Promise<RunView> {
    const row = await inTransaction(this.deps.store, async (trx) => {
      const run = await this.require(id, trx);
      requireOwnRecord(caller, run, 'run');
      if (run.status !== 'active') throw new MandateError('conflict', `the run is already ${run.status}`);
      const at = isoAt(this.deps.clock);
      await trx.updateTable('runs').set({ status, updated_at: at }).where('id', '=', id).execute();
      await this.deps.audit.append(
        trx,
        {
          kind: 'run.finished',
          orgId: run.org_id,
          actorId: run.agent_id ?? run.member_id,
          agentId: run.agent_id,
          subjectId: run.member_id,
          grantId: run.grant_id,
          clientId: run.client_id,
          runId: id,
          result: status === 'completed' ? 'success' : 'failure',
          detail: { status, steps_completed: run.steps_completed },
        },
        { ...context, correlationId: run.correlation_id },
      );
      return { ...run, status, updated_at: at };
    });
    return this.view(row);
  }

  private async require(id: string, trx: Executor = this.deps.store.db): Promise<RunsTable> {
    const run = await trx.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
    if (!run) throw new NotFoundError('run');
    return run;
  }

  private async grantStands(run: RunsTable): Promise<boolean> {
    return run.grant_id ? this.deps.principals.grantStandsById(run.grant_id) : true;
  }

  private async view(run: RunsTable): Promise<RunView> {
    const grantStands = await this.grantStands(run);
    return {
      id: run.id,
      org_id: run.org_id,
      agent_id: run.agent_id,
      member_id: run.member_id,
      client_id: run.client_id,
      grant_id: run.grant_id,
      name: run.name,
      correlation_id: run.correlation_id,
      status: run.status,
      steps_completed: run.steps_completed,
      last_successful_step:
        run.last_step && run.last_step_event_id
          ? { name: run.last_step, event_id: run.last_step_event_id, state: run.last_state === null ? null : JSON.parse(run.last_state) }
          : null,
      resumable: run.status === 'active' && grantStands,
      created_at: run.created_at,
      updated_at: run.updated_at,
    };
  }
}
