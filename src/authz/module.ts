import type { AgentRegistryLimits } from '../agents/registry-limits.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Grants } from '../consent/grants.js';
import type { RestoreFence } from '../consent/restore-fence.js';
import type { RevokedAccessTokens } from '../consent/revoked-tokens.js';
import { cacheTtlMsOf, type ModuleParts, type Platform } from '../platform.js';
import type { Organizations } from '../tenancy/organizations.js';
import type { PrincipalStops } from '../tenancy/principal-stops.js';
import { Conditions } from './conditions.js';
import { GroupRoles } from './group-roles.js';
import { CredentialLiveness } from './liveness.js';
import { Permissions } from './permissions.js';
import { Roles } from './roles.js';
import { authzRoutes } from './routes.js';

export interface AuthzModuleDeps {
  audit: AuditLog;
  organizations: Organizations;
  stops: PrincipalStops;
  grants: Grants;
  revokedAccessTokens: RevokedAccessTokens;
  restoreFence: RestoreFence;
  registryLimits: AgentRegistryLimits;
}

export interface AuthzServices {
  roles: Roles;
  /** IdP groups mapped to roles; SSO logins and SCIM keep members' `idp` bindings in step. */
  groupRoles: GroupRoles;
  /** Cedar policies: conditions on permissions. */
  conditions: Conditions;
  /** The one liveness test of every credential kind (authz/liveness.ts). */
  liveness: CredentialLiveness;
  /** The one permission function (authz/permissions.ts). */
  permissions: Permissions;
}

/** What a principal holds and whether a credential still stands (docs/architecture.md §9). */
export function authzModule(platform: Platform, deps: AuthzModuleDeps): ModuleParts<AuthzServices> {
  const { store, clock, bus, config } = platform;
  const { audit, organizations, stops } = deps;
  const cacheTtlMs = cacheTtlMsOf(config);
  const roles = new Roles({ store, organizations, audit, clock, bus, cacheTtlMs });
  const groupRoles = new GroupRoles({ store, organizations, audit, bus, clock });
  const conditions = new Conditions({ store, audit, clock, bus, cacheTtlMs });
  const liveness = new CredentialLiveness({
    stops,
    grants: deps.grants,
    revokedTokens: deps.revokedAccessTokens,
    fence: deps.restoreFence,
    freshness: platform.freshness,
  });
  const permissions = new Permissions({ roles, stops, limits: deps.registryLimits });
  return {
    services: { roles, groupRoles, conditions, liveness, permissions },
    adminRoutes: async (v1) => {
      await v1.register(authzRoutes, { roles, conditions, organizations, groupRoles });
    },
  };
}
