import type { Logger } from 'pino';
import type { Agents } from '../agents/agents.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Counter } from '../counters/counter.js';
import type { EventBus } from '../events/bus.js';
import type { Store } from '../store/store.js';
import type { PrincipalStops } from '../tenancy/principal-stops.js';
import { AnomalyDetector } from './detector.js';
import { AgentRestrictions, OrganizationSettingsCache } from './restrictions.js';
import { DEFAULT_RULES, type RuleSettings } from './rules.js';

export interface AnomalyDeps {
  store: Store;
  audit: AuditLog;
  agents: Agents;
  stops: PrincipalStops;
  bus: EventBus;
  clock: Clock;
  logger: Logger;
  /** Per-agent rate limits and anomaly windows count here (docs/architecture.md §12). */
  counter: Counter;
  config: Pick<Config, 'devAllowLoopbackFetch'>;
  /** The restrictions the grants and Decisions consult; created (and loaded) here when not given. */
  restrictions?: AgentRestrictions;
  /** Rule thresholds; the defaults are DEFAULT_RULES. */
  rules?: Partial<RuleSettings>;
}

export interface AnomalyDetection {
  restrictions: AgentRestrictions;
  detector: AnomalyDetector;
  /** Loads the restrictions and the baselines, then follows the audit log. */
  start(): Promise<void>;
  /** Stops following the audit log and the bus, after acting on what was already queued. */
  stop(): Promise<void>;
}

/** The restrictions on their own, for callers that need no detection. */
export function createAgentRestrictions(
  deps: Pick<AnomalyDeps, 'store' | 'audit' | 'bus' | 'clock' | 'counter'> & { logger?: Logger },
): AgentRestrictions {
  return new AgentRestrictions({
    store: deps.store,
    bus: deps.bus,
    audit: deps.audit,
    clock: deps.clock,
    counter: deps.counter,
    settings: new OrganizationSettingsCache({ db: deps.store.db, clock: deps.clock }),
    onError: (error) => deps.logger?.error({ err: error }, 'agent restrictions reload failed'),
  });
}

/**
 * Anomaly detection on one node: on start it loads the agents' restrictions, seeds the per-agent
 * baselines from the last 30 days of audit events, and follows every event this node appends.
 */
export function createAnomalyDetection(deps: AnomalyDeps): AnomalyDetection {
  const restrictions = deps.restrictions ?? createAgentRestrictions(deps);
  const detector = new AnomalyDetector({
    store: deps.store,
    audit: deps.audit,
    agents: deps.agents,
    stops: deps.stops,
    restrictions,
    settings: new OrganizationSettingsCache({ db: deps.store.db, clock: deps.clock }),
    clock: deps.clock,
    counter: deps.counter,
    logger: deps.logger,
    allowLoopback: deps.config.devAllowLoopbackFetch,
    rules: { ...DEFAULT_RULES, ...deps.rules },
    baselineDays: 30,
  });
  return {
    restrictions,
    detector,
    start: async () => {
      await restrictions.load();
      await detector.start();
    },
    stop: async () => {
      await detector.stop();
      restrictions.close();
    },
  };
}
