import type { AuditContext, AuditInput, AuditLog } from '../audit/audit-log.js';
import type { AuditBatcher } from '../audit/batcher.js';
import { type Clock, isoAt } from '../clock.js';
import { newId } from '../crypto/ids.js';
import { ConflictError, InvalidRequestError, MandateError, NotFoundError } from '../errors.js';
import type { AuditEventsTable, RunsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';
import { type Caller, principalsFromCaller, requireOwnRecord } from './caller.js';
import { eventOf, type PrincipalInput, type PrincipalResolver, type Principals } from './principals.js';
import type { Runs } from './runs.js';

export interface IntentInput extends PrincipalInput {
  tool: string;
  action: string;
  classification?: string | undefined;
  /** A step of a resumable run (activity/runs.ts): the run's principals apply unless others are given. */
  run_id?: string | undefined;
  step?: string | undefined;
  detail?: Record<string, unknown> | undefined;
}

export interface OutcomeInput {
  result: 'success' | 'failure';
  error_code?: string | undefined;
  detail?: Record<string, unknown> | undefined;
  /** For a run step that succeeded: the state a resumed run starts from. */
  state?: unknown;
}

export interface IntentView {
  id: string;
  org_id: string;
  correlation_id: string;
  started_at: string;
  grant_valid: boolean | null;
  run_id: string | null;
}

export interface OutcomeView {
  id: string;
  intent_id: string;
  result: 'success' | 'failure';
  started_at: string;
  ended_at: string;
  latency_ms: number;
  grant_valid: boolean | null;
}

/**
 * Intent, then outcome: an agent records what it is about to do before the tool runs, and how it
 * went afterwards, so a crash between the two still leaves the attempt in the trail. Intents go
 * through group commit (durable before the answer); an outcome is written in its own transaction,
 * once per intent.
 */
export class Intents {
  constructor(
    private readonly deps: {
      store: Store;
      audit: AuditLog;
      auditBatcher: AuditBatcher;
      principals: PrincipalResolver;
      runs: Runs;
      clock: Clock;
    },
  ) {}

  async open(request: IntentInput, context: AuditContext, caller: Caller): Promise<IntentView> {
    const input = principalsFromCaller(caller, request);
    const run = input.run_id ? await this.deps.runs.requireActive(input.run_id, caller) : undefined;
    const named = Boolean(input.token || input.organization);
    const principals = named ? await this.deps.principals.resolve(input) : run ? await this.deps.runs.principalsOf(run) : undefined;
    if (!principals) throw new MandateError('invalid_request', 'give a token, an organization with its principals, or a run_id');
    // A step acts as its run: other principals, or another grant, would borrow the run's standing.
    if (run && !sameParties(principals, run)) throw new InvalidRequestError('a run step acts for the run’s member, agent and grant');
    const id = newId('evt', this.deps.clock.now());
    const at = isoAt(this.deps.clock);
    const correlationId = run?.correlation_id ?? context.correlationId ?? id;
    const refused = !principals.live;
    await this.deps.auditBatcher.record(
      {
        ...eventOf(principals),
        id,
        kind: 'tool.intent',
        tool: input.tool,
        action: input.action,
        classification: input.classification ?? null,
        result: refused ? 'failure' : 'success',
        errorCode: refused ? 'grant_revoked' : null,
        startedAt: at,
        runId: run?.id ?? null,
        detail: { ...(input.step && { step: input.step }), ...(input.detail ?? {}) },
      },
      { ...context, correlationId },
    );
    // Recorded first, refused second: the trail shows the attempt made with a dead credential.
    if (refused) throw new MandateError('forbidden', 'the grant behind this action was revoked or has expired, or the token was revoked');
    return {
      id,
      org_id: principals.orgId,
      correlation_id: correlationId,
      started_at: at,
      grant_valid: principals.grantId ? true : null,
      run_id: run?.id ?? null,
    };
  }

  async complete(intentId: string, input: OutcomeInput, context: AuditContext, caller: Caller): Promise<OutcomeView> {
    return inTransaction(this.deps.store, async (trx) => {
      const intent = await trx.selectFrom('audit_events').selectAll().where('id', '=', intentId).executeTakeFirst();
      if (intent?.kind !== 'tool.intent') throw new NotFoundError('intent');
      requireOwnRecord(caller, { ...intent, member_id: intent.subject_id }, 'intent');
      if (intent.result === 'failure') throw new ConflictError('this intent was refused: nothing ran, so it takes no outcome');
      // Serializes outcomes of one chain, so the check below cannot race (the unique index is the backstop).
      await this.deps.audit.lockChain(trx, intent.chain_id);
      const done = await trx.selectFrom('audit_events').select('id').where('intent_id', '=', intentId).executeTakeFirst();
      if (done) throw new ConflictError('this intent already has its outcome');
      const endedAt = isoAt(this.deps.clock);
      const latencyMs = Math.max(0, Date.parse(endedAt) - Date.parse(intent.started_at ?? intent.at));
      const grantValid = intent.grant_id ? await this.deps.principals.grantStandsById(intent.grant_id, trx) : null;
      const event = await this.deps.audit.append(
        trx,
        {
          ...copiedFrom(intent),
          kind: 'tool.outcome',
          result: input.result,
          errorCode: input.result === 'failure' ? (input.error_code ?? 'failed') : null,
          grantValid,
          startedAt: intent.started_at ?? intent.at,
          endedAt,
          latencyMs,
          intentId,
          detail: input.detail ?? {},
        },
        { ...context, correlationId: intent.correlation_id ?? context.correlationId ?? null },
      );
      if (intent.run_id && input.result === 'success') {
        // recordStep ignores runs that finished meanwhile.
        const step = (JSON.parse(intent.detail) as { step?: string }).step ?? `${intent.tool}:${intent.action}`;
        await this.deps.runs.recordStep(trx, intent.run_id, { step, eventId: event.id, state: input.state, at: endedAt });
      }
      return {
        id: event.id,
        intent_id: intentId,
        result: input.result,
        started_at: intent.started_at ?? intent.at,
        ended_at: endedAt,
        latency_ms: latencyMs,
        grant_valid: grantValid,
      };
    });
  }
}

function sameParties(p: Principals, run: RunsTable): boolean {
  return p.orgId === run.org_id && p.memberId === run.member_id && p.agentId === run.agent_id && p.grantId === run.grant_id;
}

/** An outcome repeats its intent's principals and target, so each event answers a query alone. */
function copiedFrom(intent: AuditEventsTable): Omit<AuditInput, 'kind'> {
  return {
    orgId: intent.org_id,
    actorId: intent.actor_id,
    agentId: intent.agent_id,
    subjectId: intent.subject_id,
    agentVersion: intent.agent_version ?? null,
    agentEnvironment: intent.agent_environment ?? null,
    clientId: intent.client_id ?? null,
    grantId: intent.grant_id,
    jti: intent.jti,
    scope: intent.scope,
    act: intent.act ? (JSON.parse(intent.act) as unknown) : null,
    tool: intent.tool,
    action: intent.action,
    classification: intent.classification,
    runId: intent.run_id ?? null,
  };
}
