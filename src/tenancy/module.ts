import type { AuditLog } from '../audit/audit-log.js';
import type { Grants } from '../consent/grants.js';
import { cacheTtlMsOf, type ModuleParts, type Platform } from '../platform.js';
import { LoginPolicy } from './login-policy.js';
import { MemberAccess } from './member-access.js';
import { Members } from './members.js';
import { Organizations } from './organizations.js';
import { PrincipalStops } from './principal-stops.js';
import { tenancyRoutes } from './routes.js';

export interface TenancyServices {
  organizations: Organizations;
  members: Members;
  /** The organization's authentication policy (allowed methods, SSO required) and its lock-out guard. */
  loginPolicy: LoginPolicy;
  /** The kill switch for members and agents, with an epoch per principal. */
  stops: PrincipalStops;
  /** Ends a departing member's sessions, grants and tokens and suspends the agents they own (admin API, SCIM). */
  memberAccess: MemberAccess;
}

/** Organizations, their members and settings, and the kill switch every liveness check reads. */
export function tenancyModule(
  { store, clock, bus, config }: Platform,
  { audit, grants }: { audit: AuditLog; grants: Grants },
): ModuleParts<TenancyServices> {
  const loginPolicy = new LoginPolicy({ store, clock });
  const organizations = new Organizations({ store, audit, clock, bus, cacheTtlMs: cacheTtlMsOf(config), guard: loginPolicy });
  const stops = new PrincipalStops({ db: store.db, clock, bus });
  const memberAccess = new MemberAccess({ grants, stops, audit, bus, clock });
  const members = new Members({ store, organizations, audit, clock, stops, access: memberAccess, guard: loginPolicy });
  return {
    services: { organizations, members, loginPolicy, stops, memberAccess },
    adminRoutes: async (v1) => {
      await v1.register(tenancyRoutes, { organizations, members });
    },
    hooks: { load: () => stops.load(), reload: () => stops.load() },
  };
}
