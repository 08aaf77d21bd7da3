import type { AdminKeys } from '../admin-keys/admin-keys.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuditBatcher } from '../audit/batcher.js';
import type { Grants } from '../consent/grants.js';
import type { AccessTokens } from '../oauth/tokens/access-token.js';
import type { LiveTokens } from '../oauth/tokens/live-tokens.js';
import type { ModuleParts, Platform } from '../platform.js';
import type { Organizations } from '../tenancy/organizations.js';
import { Intents } from './intents.js';
import { PrincipalResolver } from './principals.js';
import { intentRoutes } from './routes.js';
import { Runs } from './runs.js';

export interface ActivityModuleDeps {
  audit: AuditLog;
  auditBatcher: AuditBatcher;
  adminKeys: AdminKeys;
  accessTokens: AccessTokens;
  liveTokens: LiveTokens;
  grants: Grants;
  organizations: Organizations;
}

export interface ActivityServices {
  /** Tool intents and their outcomes, recorded by agents and resource servers. */
  intents: Intents;
  /** Agent runs: a task's steps under one correlation id. */
  runs: Runs;
}

/** What agents did for whom: intents, outcomes and runs, each tied to the credential behind it. */
export function activityModule({ store, clock }: Platform, deps: ActivityModuleDeps): ModuleParts<ActivityServices> {
  const { audit, accessTokens } = deps;
  const principals = new PrincipalResolver({
    store,
    accessTokens,
    liveTokens: deps.liveTokens,
    grants: deps.grants,
    organizations: deps.organizations,
    clock,
  });
  const runs = new Runs({ store, audit, principals, clock });
  const intents = new Intents({ store, audit, auditBatcher: deps.auditBatcher, principals, runs, clock });
  return {
    services: { intents, runs },
    publicRoutes: async (app) => {
      await app.register(intentRoutes, { prefix: '/v1', intents, runs, adminKeys: deps.adminKeys, accessTokens });
    },
  };
}
