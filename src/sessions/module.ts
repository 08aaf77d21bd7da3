import type { AuditLog } from '../audit/audit-log.js';
import type { CredentialLiveness } from '../authz/liveness.js';
import type { Grants } from '../consent/grants.js';
import type { KeyRing } from '../crypto/key-ring.js';
import type { ModuleParts, Platform, RateLimits } from '../platform.js';
import type { LoginPolicy } from '../tenancy/login-policy.js';
import type { Organizations } from '../tenancy/organizations.js';
import { identityAdminRoutes, sessionRoutes } from './routes.js';
import { Sessions } from './sessions.js';
import { TrustedTokens } from './trusted-tokens.js';

export interface SessionsModuleDeps {
  audit: AuditLog;
  keyRing: KeyRing;
  organizations: Organizations;
  loginPolicy: LoginPolicy;
  liveness: CredentialLiveness;
  grants: Grants;
  rateLimits: RateLimits;
}

export interface SessionServices {
  /** Human sessions: tokens, session JWTs, their liveness and revocation. */
  sessions: Sessions;
  /** An organization's trusted-token profiles: its own app's tokens exchanged for a session. */
  trustedTokens: TrustedTokens;
}

/** How people are signed in, whatever got them there (SSO, a trusted token, break-glass, impersonation). */
export function sessionsModule(platform: Platform, deps: SessionsModuleDeps): ModuleParts<SessionServices> {
  const { store, clock, config } = platform;
  const { audit, organizations, loginPolicy, grants } = deps;
  const trustedTokens = new TrustedTokens({
    store,
    organizations,
    audit,
    clock,
    guard: loginPolicy,
    allowLoopback: config.devAllowLoopbackFetch,
  });
  const sessions = new Sessions({
    store,
    organizations,
    trustedTokens,
    audit,
    keyRing: deps.keyRing,
    issuer: config.issuer,
    clock,
    policy: loginPolicy,
    liveness: deps.liveness,
  });
  return {
    services: { sessions, trustedTokens },
    publicRoutes: async (app) => {
      await app.register(sessionRoutes, { prefix: '/v1', sessions, grants, rateLimit: deps.rateLimits.public });
    },
    adminRoutes: async (v1) => {
      await v1.register(identityAdminRoutes, { trustedTokens, grants, organizations, sessions });
    },
  };
}
