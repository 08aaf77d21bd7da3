import type { AuditLog } from '../audit/audit-log.js';
import type { Grants } from '../consent/grants.js';
import { cacheTtlMsOf, type ModuleParts, type Platform } from '../platform.js';
import type { Organizations } from '../tenancy/organizations.js';
import type { PrincipalStops } from '../tenancy/principal-stops.js';
import { Agents } from './agents.js';
import { AgentRegistryLimits } from './registry-limits.js';
import { agentRoutes } from './routes.js';
import { AgentUsage } from './usage.js';

export interface AgentsModuleDeps {
  audit: AuditLog;
  organizations: Organizations;
  grants: Grants;
  stops: PrincipalStops;
}

export interface AgentServices {
  agents: Agents;
  /** What the registry allows each agent (tools, classification, environment), cached. */
  registryLimits: AgentRegistryLimits;
  /** Per-agent request counters, flushed every two seconds. */
  agentUsage: AgentUsage;
}

/** The agent registry: agents as identities with owners, limits, a lifecycle and usage. */
export function agentsModule(platform: Platform, { audit, organizations, grants, stops }: AgentsModuleDeps): ModuleParts<AgentServices> {
  const { store, clock, bus, config } = platform;
  const agents = new Agents({ store, organizations, grants, stops, audit, clock, bus });
  const agentUsage = new AgentUsage({ store, clock });
  const registryLimits = new AgentRegistryLimits({ db: store.db, clock, bus, cacheTtlMs: cacheTtlMsOf(config) });
  return {
    services: { agents, registryLimits, agentUsage },
    adminRoutes: async (v1) => {
      await v1.register(agentRoutes, { agents });
    },
    hooks: { every: { ms: 2000, run: () => agentUsage.flush() }, drain: () => agentUsage.flush() },
  };
}
