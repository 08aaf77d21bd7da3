import type { AuditLog } from '../audit/audit-log.js';
import type { SecurityAlerts } from '../ops/security-alerts.js';
import { type ModuleParts, type Platform, type RateLimits, secureCookiesOf } from '../platform.js';
import type { Sessions } from '../sessions/sessions.js';
import type { LoginPolicy } from '../tenancy/login-policy.js';
import type { Organizations } from '../tenancy/organizations.js';
import { BreakGlass } from './break-glass.js';
import { breakGlassAdminRoutes, breakGlassLoginRoutes, breakGlassPageRoutes } from './routes.js';

export interface BreakGlassModuleDeps {
  audit: AuditLog;
  organizations: Organizations;
  sessions: Sessions;
  loginPolicy: LoginPolicy;
  securityAlerts: SecurityAlerts;
  rateLimits: RateLimits;
}

/** Break-glass accounts (password + TOTP) for when SSO is down; every login raises an alert. */
export function breakGlassModule(platform: Platform, deps: BreakGlassModuleDeps): ModuleParts<{ breakGlass: BreakGlass }> {
  const { store, clock, envelope, config } = platform;
  const breakGlass = new BreakGlass({
    store,
    organizations: deps.organizations,
    sessions: deps.sessions,
    policy: deps.loginPolicy,
    audit: deps.audit,
    envelope,
    clock,
    alerts: deps.securityAlerts,
  });
  return {
    services: { breakGlass },
    publicRoutes: async (app) => {
      await app.register(breakGlassLoginRoutes, { prefix: '/v1', breakGlass, rateLimit: deps.rateLimits.login });
      await app.register(breakGlassPageRoutes, {
        breakGlass,
        rateLimit: deps.rateLimits.login,
        secureCookies: secureCookiesOf(config),
        csrfKey: envelope.deriveKey('break-glass-login-csrf'),
      });
    },
    adminRoutes: async (v1) => {
      await v1.register(breakGlassAdminRoutes, { breakGlass });
    },
  };
}
