import type { AuditLog } from '../audit/audit-log.js';
import type { GroupRoles } from '../authz/group-roles.js';
import type { ModuleParts, Platform, RateLimits } from '../platform.js';
import type { LoginPolicy } from '../tenancy/login-policy.js';
import type { MemberAccess } from '../tenancy/member-access.js';
import type { Organizations } from '../tenancy/organizations.js';
import type { PrincipalStops } from '../tenancy/principal-stops.js';
import { ScimDiscovery } from './discovery.js';
import { ScimGroups } from './groups.js';
import { scimRoutes } from './routes.js';
import { ScimTokens } from './scim-tokens.js';
import { scimTokenRoutes } from './token-routes.js';
import { ScimUsers } from './users.js';

export interface ScimModuleDeps {
  audit: AuditLog;
  organizations: Organizations;
  memberAccess: MemberAccess;
  stops: PrincipalStops;
  groupRoles: GroupRoles;
  loginPolicy: LoginPolicy;
  rateLimits: RateLimits;
}

export interface ScimServices {
  /** SCIM bearer tokens of organizations (admin API) and their authentication at /scim/v2. */
  scimTokens: ScimTokens;
  /** SCIM Users over members: provisioning and deprovisioning. */
  scimUsers: ScimUsers;
  /** SCIM Groups; membership drives members' `idp` role bindings. */
  scimGroups: ScimGroups;
}

/** SCIM 2.0 provisioning (RFC 7643/7644) at /scim/v2, with per-organization bearer tokens. */
export function scimModule(platform: Platform, deps: ScimModuleDeps): ModuleParts<ScimServices> {
  const { store, clock, config } = platform;
  const { audit, groupRoles } = deps;
  const baseUrl = `${config.issuer}/scim/v2`;
  const scimTokens = new ScimTokens({ store, organizations: deps.organizations, audit, clock });
  const scimUsers = new ScimUsers({
    store,
    audit,
    clock,
    memberAccess: deps.memberAccess,
    stops: deps.stops,
    groupRoles,
    loginPolicy: deps.loginPolicy,
    baseUrl,
  });
  const scimGroups = new ScimGroups({ store, audit, clock, groupRoles, baseUrl });
  return {
    services: { scimTokens, scimUsers, scimGroups },
    publicRoutes: async (app) => {
      await app.register(scimRoutes, {
        prefix: '/scim/v2',
        tokens: scimTokens,
        users: scimUsers,
        groups: scimGroups,
        discovery: new ScimDiscovery({ baseUrl, users: scimUsers.schema, groups: scimGroups.schema }),
        rateLimit: deps.rateLimits.public,
      });
    },
    adminRoutes: async (v1) => {
      await v1.register(scimTokenRoutes, { scimTokens });
    },
  };
}
