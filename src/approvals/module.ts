import type { Agents } from '../agents/agents.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { Permissions } from '../authz/permissions.js';
import type { ClientAuthenticator } from '../oauth/clients/authenticate.js';
import type { GrantHandler } from '../oauth/grants/registry.js';
import type { Resources } from '../oauth/resources/resources.js';
import type { AccessTokens } from '../oauth/tokens/access-token.js';
import type { ModuleParts, Platform, RateLimits } from '../platform.js';
import type { Sessions } from '../sessions/sessions.js';
import type { Organizations } from '../tenancy/organizations.js';
import type { PrincipalStops } from '../tenancy/principal-stops.js';
import { Approvals } from './approvals.js';
import { cibaGrant } from './ciba-grant.js';
import { cibaRoutes } from './ciba-routes.js';
import { approvalsInboxRoutes } from './inbox-routes.js';
import { approvalRoutes, approvalTypeRoutes } from './routes.js';

export interface ApprovalsModuleDeps {
  audit: AuditLog;
  organizations: Organizations;
  resources: Resources;
  permissions: Permissions;
  agents: Agents;
  sessions: Sessions;
  stops: PrincipalStops;
  clientAuth: ClientAuthenticator;
  accessTokens: AccessTokens;
  /** Where the CIBA grant joins the token endpoint's grant types. */
  registerGrant: (handler: GrantHandler) => void;
  rateLimits: RateLimits;
}

/** Human approval of agents' actions: CIBA requests, votes and policies, the inbox, and the CIBA grant. */
export function approvalsModule(platform: Platform, deps: ApprovalsModuleDeps): ModuleParts<{ approvals: Approvals }> {
  const { store, clock, envelope, config } = platform;
  const approvals = new Approvals({
    store,
    organizations: deps.organizations,
    resources: deps.resources,
    permissions: deps.permissions,
    agents: deps.agents,
    audit: deps.audit,
    clock,
    issuer: config.issuer,
    envelope,
    allowLoopback: config.devAllowLoopbackFetch,
  });
  deps.registerGrant(cibaGrant({ approvals, accessTokens: deps.accessTokens }));
  return {
    services: { approvals },
    publicRoutes: async (app) => {
      await app.register(cibaRoutes, { approvals, clientAuth: deps.clientAuth, stops: deps.stops, rateLimit: deps.rateLimits.public });
      await app.register(approvalRoutes, { prefix: '/v1', approvals, sessions: deps.sessions });
      await app.register(approvalsInboxRoutes, {
        approvals,
        sessions: deps.sessions,
        csrfKey: envelope.deriveKey('approvals-inbox-csrf'),
      });
    },
    adminRoutes: async (v1) => {
      await v1.register(approvalTypeRoutes, { approvals });
    },
    hooks: {
      reconcile: async () => {
        await approvals.remind();
      },
    },
  };
}
