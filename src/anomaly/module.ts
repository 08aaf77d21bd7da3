import type { Agents } from '../agents/agents.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ModuleParts, Platform } from '../platform.js';
import type { Organizations } from '../tenancy/organizations.js';
import type { PrincipalStops } from '../tenancy/principal-stops.js';
import { type AnomalyDetection, createAnomalyDetection } from './install.js';
import type { AgentRestrictions } from './restrictions.js';
import { anomalyRoutes } from './routes.js';

export interface AnomalyModuleDeps {
  audit: AuditLog;
  agents: Agents;
  stops: PrincipalStops;
  organizations: Organizations;
}

export interface AnomalyServices {
  /** Anomaly responses (read-only, approval required) and per-agent rate limits. */
  agentRestrictions: AgentRestrictions;
  /** Anomaly detection on this node's audit events. */
  anomaly: AnomalyDetection;
}

/** Per-agent anomaly rules and the restrictions they impose; token issuance and decisions consult them. */
export function anomalyModule(platform: Platform, deps: AnomalyModuleDeps): ModuleParts<AnomalyServices> {
  const { store, clock, bus, logger, config, counter } = platform;
  const anomaly = createAnomalyDetection({
    store,
    audit: deps.audit,
    agents: deps.agents,
    stops: deps.stops,
    bus,
    clock,
    logger,
    counter,
    config,
  });
  const { restrictions } = anomaly;
  return {
    services: { agentRestrictions: restrictions, anomaly },
    adminRoutes: async (v1) => {
      await v1.register(anomalyRoutes, { restrictions, organizations: deps.organizations });
    },
    hooks: {
      load: () => anomaly.start(),
      reconcile: () => restrictions.load(),
      // After the app stopped: act on what detection had already queued.
      drain: () => anomaly.stop(),
    },
  };
}
