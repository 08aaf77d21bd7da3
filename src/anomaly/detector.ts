import type { Logger } from 'pino';
import type { Agents } from '../agents/agents.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../clock.js';
import type { Counter } from '../counters/counter.js';
import { ConflictError } from '../errors.js';
import { outboundRequest } from '../outbound/request.js';
import type { AuditEventsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';
import { inTransaction } from '../store/transaction.js';
import type { PrincipalStops } from '../tenancy/principal-stops.js';
import type { AnomalyResponse } from '../tenancy/schemas.js';
import type { AgentRestriction, AgentRestrictions, OrganizationSettingsCache } from './restrictions.js';
import { RuleWindows } from './rule-windows.js';
import {
  type AgentProfile,
  AnomalyRules,
  type Finding,
  OBSERVED_KINDS,
  type ObservedEvent,
  type RuleSettings,
  type Tally,
} from './rules.js';

export interface AnomalyDetectorDeps {
  store: Store;
  audit: AuditLog;
  agents: Agents;
  stops: PrincipalStops;
  restrictions: AgentRestrictions;
  settings: OrganizationSettingsCache;
  clock: Clock;
  /** Where the rules' windows count: across nodes when there are several (docs/architecture.md §12). */
  counter: Counter;
  logger: Logger;
  /** Development only: webhook alerts may go to http:// and loopback receivers. */
  allowLoopback: boolean;
  rules: RuleSettings;
  /** How far back the first-tool-use baseline is read from the audit trail at start. */
  baselineDays: number;
}

/** Beyond this backlog, events are dropped (and logged) rather than let memory grow. */
const MAX_QUEUE = 100_000;
const PROFILE_TTL_MS = 60_000;
const WEBHOOK_TIMEOUT_MS = 5000;

const RESTRICTION_OF: Partial<Record<AnomalyResponse, AgentRestriction>> = {
  downscope: 'read_only',
  require_approval: 'approval_required',
};

/**
 * Watches the events this node appends, runs the rules, and for each finding records an
 * `anomaly.detected` event, alerts the organization's webhook and applies the response the
 * organization chose for the rule. Each node sees the events it wrote; the windows count in the
 * node's counter, so a burst spread over several nodes adds up (docs/architecture.md §12).
 */
export class AnomalyDetector {
  private readonly rules: AnomalyRules;
  private readonly windows: RuleWindows;
  private queue: AuditEventsTable[] = [];
  private dropped = 0;
  private running: Promise<void> | undefined;
  private readonly webhooks = new Set<Promise<void>>();
  private readonly profiles = new Map<string, { at: number; profile: AgentProfile }>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly deps: AnomalyDetectorDeps) {
    this.rules = new AnomalyRules(deps.rules);
    this.windows = new RuleWindows(deps.counter);
  }

  /** Seeds the first-tool-use baseline from the audit trail, then follows new events. */
  async start(): Promise<void> {
    const since = new Date(this.deps.clock.now() - this.deps.baselineDays * 86_400_000).toISOString();
    const rows = await this.deps.store.db
      .selectFrom('audit_events')
      .select(['agent_id', 'tool'])
      .distinct()
      .where('agent_id', 'is not', null)
      .where('tool', 'is not', null)
      .where('at', '>=', since)
      .execute();
    for (const row of rows) this.rules.seedBaseline(row.agent_id as string, [row.tool as string]);
    const seen = await this.deps.store.db
      .selectFrom('audit_events')
      .select(['agent_id', 'client_ip'])
      .distinct()
      .where('agent_id', 'is not', null)
      .where('client_ip', 'is not', null)
      .where('at', '>=', since)
      .execute();
    for (const row of seen) this.rules.seedNetworks(row.agent_id as string, [row.client_ip as string]);
    this.unsubscribe = this.deps.audit.onAppended((events) => this.enqueue(events));
  }

  /** Resolves once every event queued so far has been evaluated and acted on (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.running || this.queue.length > 0) {
      if (!this.running) this.schedule();
      await this.running;
    }
    await Promise.all([...this.webhooks]);
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.settled();
  }

  private enqueue(events: readonly AuditEventsTable[]): void {
    for (const event of events) {
      if (!event.agent_id || !event.org_id || !OBSERVED_KINDS.has(event.kind)) continue;
      if (this.queue.length >= MAX_QUEUE) this.dropped += 1;
      else this.queue.push(event);
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.running || this.queue.length === 0) return;
    // Later, never inside the writer's transaction: the rules' I/O must not wait on it.
    this.running = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.drain())
      .catch((error: unknown) => this.deps.logger.error({ err: error }, 'anomaly detection failed'))
      .finally(() => {
        this.running = undefined;
        this.schedule();
      });
  }

  private async drain(): Promise<void> {
    if (this.dropped > 0) {
      this.deps.logger.warn({ dropped: this.dropped }, 'anomaly detection fell behind; events were not evaluated');
      this.dropped = 0;
    }
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      const findings: Finding[] = [];
      const tallies: Tally[] = [];
      for (const row of batch) {
        const agentId = row.agent_id as string;
        const cached = this.profiles.get(agentId);
        const fresh = cached && this.deps.clock.now() - cached.at < PROFILE_TTL_MS;
        const profile = fresh ? cached.profile : await this.loadProfile(agentId);
        const observed = this.rules.observe(toObserved(row), profile);
        findings.push(...observed.findings);
        tallies.push(...observed.tallies);
      }
      // The whole batch's counts at once: a burst costs a round trip per agent and rule, not per event.
      try {
        findings.push(...(await this.windows.count(tallies)));
      } catch (error) {
        this.deps.logger.error({ err: error, events: batch.length }, 'anomaly windows could not be counted');
      }
      for (const finding of findings) {
        await this.respond(finding).catch((error: unknown) => {
          this.deps.logger.error({ err: error, rule: finding.rule, agent: finding.agentId }, 'anomaly response failed');
        });
      }
    }
  }

  private async loadProfile(agentId: string): Promise<AgentProfile | undefined> {
    const row = await this.deps.store.db
      .selectFrom('agents')
      .select(['environment', 'created_at'])
      .where('id', '=', agentId)
      .executeTakeFirst();
    if (!row) return undefined;
    const profile = { environment: row.environment, createdAt: row.created_at };
    this.profiles.set(agentId, { at: this.deps.clock.now(), profile });
    return profile;
  }

  /** The audit event, then the response, then the alert: what was found is on record first. */
  private async respond(finding: Finding): Promise<void> {
    const settings = await this.deps.settings.get(finding.orgId);
    const response: AnomalyResponse = settings.anomaly_responses?.[finding.rule] ?? 'alert';
    const restriction = RESTRICTION_OF[response];
    const detail = {
      rule: finding.rule,
      response,
      count: finding.count,
      threshold: finding.threshold,
      window_seconds: finding.windowSeconds,
      since: finding.since,
      trigger_event: finding.eventId,
      ...finding.detail,
    };
    const { event, restricted } = await inTransaction(this.deps.store, async (trx) => {
      const event = await this.deps.audit.append(trx, {
        kind: 'anomaly.detected',
        orgId: finding.orgId,
        agentId: finding.agentId,
        tool: finding.tool,
        detail,
      });
      const context = { correlationId: event.id };
      const restricted = restriction
        ? await this.deps.restrictions.restrict(
            trx,
            { orgId: finding.orgId, agentId: finding.agentId, restriction, reason: `anomaly ${finding.rule}` },
            context,
          )
        : false;
      return { event, restricted };
    });
    this.deps.logger.warn(
      { rule: finding.rule, agent: finding.agentId, org: finding.orgId, response, event: event.id },
      'anomaly detected',
    );
    if (restricted && restriction) await this.deps.restrictions.announce(finding.orgId, finding.agentId, restriction);
    if (response === 'suspend' && !this.deps.stops.isStopped(finding.agentId)) {
      try {
        // The kill switch: every node refuses the agent within a second, through the bus.
        await this.deps.agents.suspend(finding.orgId, finding.agentId, { reason: `anomaly ${finding.rule}` }, { correlationId: event.id });
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
      }
    }
    if (settings.anomaly_webhook_url) this.alert(settings.anomaly_webhook_url, event, detail);
  }

  /** Fire and forget: a failed alert is logged; the audit event already holds the finding. */
  private alert(url: string, event: AuditEventsTable, detail: Record<string, unknown>): void {
    const body = JSON.stringify({
      type: 'anomaly.detected',
      id: event.id,
      at: event.at,
      org_id: event.org_id,
      agent_id: event.agent_id,
      tool: event.tool,
      ...detail,
    });
    const sent = outboundRequest({
      method: 'POST',
      url: new URL(url),
      headers: { 'content-type': 'application/json', 'user-agent': 'Mandate anomaly alert' },
      body,
      allowLoopback: this.deps.allowLoopback,
      timeoutMs: WEBHOOK_TIMEOUT_MS,
      maxBytes: 65_536,
    })
      .then((response) => {
        if (response.status >= 300)
          this.deps.logger.warn({ status: response.status, event: event.id }, 'anomaly webhook answered with an error');
      })
      .catch((error: unknown) => this.deps.logger.warn({ err: error, event: event.id }, 'anomaly webhook failed'))
      .finally(() => this.webhooks.delete(sent));
    this.webhooks.add(sent);
  }
}

function toObserved(row: AuditEventsTable): ObservedEvent {
  let detail: Record<string, unknown> = {};
  try {
    detail = JSON.parse(row.detail) as Record<string, unknown>;
  } catch {
    // canonical JSON always parses; an unreadable detail just carries nothing.
  }
  return {
    id: row.id,
    at: row.at,
    kind: row.kind,
    org_id: row.org_id,
    agent_id: row.agent_id,
    tool: row.tool,
    action: row.action,
    result: row.result as 'success' | 'failure',
    error_code: row.error_code ?? null,
    client_ip: row.client_ip ?? null,
    detail,
  };
}
