import type { Intents } from '../activity/intents.js';
import type { AdminKeys } from '../admin-keys/admin-keys.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuditBatcher } from '../audit/batcher.js';
import type { Decisions } from '../decisions/decisions.js';
import type { AccessTokens } from '../oauth/tokens/access-token.js';
import type { LiveTokens } from '../oauth/tokens/live-tokens.js';
import { type ModuleParts, type Platform, type RateLimits, secureCookiesOf } from '../platform.js';
import type { Sessions } from '../sessions/sessions.js';
import type { Organizations } from '../tenancy/organizations.js';
import { ConnectedAccounts } from './accounts.js';
import { AuthorizationLinks } from './authorization-links.js';
import { Connections } from './connections.js';
import { AccountOwners } from './owner.js';
import { connectedAccountRoutes, connectionRoutes, vaultPageRoutes } from './routes.js';
import { ToolExecution } from './tool-execution.js';

export interface VaultModuleDeps {
  audit: AuditLog;
  auditBatcher: AuditBatcher;
  organizations: Organizations;
  liveTokens: LiveTokens;
  accessTokens: AccessTokens;
  decisions: Decisions;
  intents: Intents;
  adminKeys: AdminKeys;
  sessions: Sessions;
  rateLimits: RateLimits;
}

export interface VaultServices {
  connections: Connections;
  connectedAccounts: ConnectedAccounts;
  authorizationLinks: AuthorizationLinks;
  accountOwners: AccountOwners;
  toolExecution: ToolExecution;
}

/** The token vault: third-party connections, users' sealed accounts, links and tool calls made with them. */
export function vaultModule(platform: Platform, deps: VaultModuleDeps): ModuleParts<VaultServices> {
  const { store, clock, envelope, config } = platform;
  const { audit, auditBatcher, organizations } = deps;
  const allowLoopback = config.devAllowLoopbackFetch;
  const connections = new Connections({ store, organizations, audit, envelope, clock, allowLoopback });
  const connectedAccounts = new ConnectedAccounts({ store, connections, audit, auditBatcher, envelope, clock, allowLoopback });
  const accountOwners = new AccountOwners({
    store,
    organizations,
    liveTokens: deps.liveTokens,
    auditBatcher,
    decisions: deps.decisions,
    connections,
  });
  const authorizationLinks = new AuthorizationLinks({ store, connections, audit, envelope, clock, issuer: config.issuer, allowLoopback });
  const toolExecution = new ToolExecution({
    store,
    accounts: connectedAccounts,
    connections,
    owners: accountOwners,
    intents: deps.intents,
    allowLoopback,
  });
  return {
    services: { connections, connectedAccounts, authorizationLinks, accountOwners, toolExecution },
    publicRoutes: async (app) => {
      await app.register(connectedAccountRoutes, {
        prefix: '/v1',
        accounts: connectedAccounts,
        links: authorizationLinks,
        owners: accountOwners,
        audience: `${config.issuer}/vault`,
        tools: toolExecution,
        adminKeys: deps.adminKeys,
        accessTokens: deps.accessTokens,
      });
      await app.register(vaultPageRoutes, {
        links: authorizationLinks,
        sessions: deps.sessions,
        secureCookies: secureCookiesOf(config),
        rateLimit: deps.rateLimits.public,
      });
    },
    adminRoutes: async (v1) => {
      await v1.register(connectionRoutes, { connections });
    },
  };
}
