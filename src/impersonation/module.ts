import type { AuditLog } from '../audit/audit-log.js';
import type { Permissions } from '../authz/permissions.js';
import type { SecurityAlerts } from '../ops/security-alerts.js';
import type { ModuleParts, Platform, RateLimits } from '../platform.js';
import type { Sessions } from '../sessions/sessions.js';
import { Impersonation } from './impersonation.js';
import { impersonationRoutes } from './routes.js';

export interface ImpersonationModuleDeps {
  audit: AuditLog;
  sessions: Sessions;
  permissions: Permissions;
  securityAlerts: SecurityAlerts;
  rateLimits: RateLimits;
}

/** Support staff acting as a member through single-use tokens, checked live and alerted. */
export function impersonationModule(
  { store, clock }: Platform,
  deps: ImpersonationModuleDeps,
): ModuleParts<{ impersonation: Impersonation }> {
  const impersonation = new Impersonation({
    store,
    sessions: deps.sessions,
    permissions: deps.permissions,
    audit: deps.audit,
    clock,
    alerts: deps.securityAlerts,
  });
  return {
    services: { impersonation },
    publicRoutes: async (app) => {
      await app.register(impersonationRoutes, {
        prefix: '/v1',
        impersonation,
        sessions: deps.sessions,
        rateLimit: deps.rateLimits.login,
      });
    },
  };
}
