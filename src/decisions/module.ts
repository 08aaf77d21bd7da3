import type { AgentRestrictions } from '../anomaly/restrictions.js';
import type { AuditBatcher } from '../audit/batcher.js';
import type { Conditions } from '../authz/conditions.js';
import type { CredentialLiveness } from '../authz/liveness.js';
import type { Permissions } from '../authz/permissions.js';
import type { LiveTokens } from '../oauth/tokens/live-tokens.js';
import type { ModuleParts, Platform } from '../platform.js';
import type { Organizations } from '../tenancy/organizations.js';
import { Decisions } from './decisions.js';
import { decisionRoutes } from './routes.js';

export interface DecisionsModuleDeps {
  permissions: Permissions;
  organizations: Organizations;
  liveTokens: LiveTokens;
  liveness: CredentialLiveness;
  auditBatcher: AuditBatcher;
  conditions: Conditions;
  agentRestrictions: AgentRestrictions;
}

/** The decision point: user ∩ agent ∩ consent, then conditions, then anomaly restrictions (docs/architecture.md §9). */
export function decisionsModule({ config }: Platform, deps: DecisionsModuleDeps): ModuleParts<{ decisions: Decisions }> {
  const decisions = new Decisions({
    permissions: deps.permissions,
    organizations: deps.organizations,
    liveTokens: deps.liveTokens,
    liveness: deps.liveness,
    auditBatcher: deps.auditBatcher,
    conditions: deps.conditions,
    restrictions: deps.agentRestrictions,
    issuer: config.issuer,
  });
  return {
    services: { decisions },
    adminRoutes: async (v1) => {
      await v1.register(decisionRoutes, { decisions });
    },
  };
}
