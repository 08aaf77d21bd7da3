import type { AuditLog } from '../audit/audit-log.js';
import type { Permissions } from '../authz/permissions.js';
import type { ModuleParts, Platform } from '../platform.js';
import type { Sessions } from '../sessions/sessions.js';
import { Elevations } from './elevations.js';
import { elevationRoutes } from './routes.js';

/** Time-bound elevation: a member asks, someone else approves, the permission lapses on its own. */
export function elevationsModule(
  { store, clock, bus }: Platform,
  deps: { audit: AuditLog; permissions: Permissions; sessions: Sessions },
): ModuleParts<{ elevations: Elevations }> {
  const elevations = new Elevations({ store, permissions: deps.permissions, audit: deps.audit, clock, bus });
  return {
    services: { elevations },
    publicRoutes: async (app) => {
      await app.register(elevationRoutes, { prefix: '/v1', elevations, sessions: deps.sessions });
    },
  };
}
