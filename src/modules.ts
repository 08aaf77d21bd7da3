import { activityModule } from './activity/module.js';
import { adminKeysModule } from './admin-keys/module.js';
import { agentsModule } from './agents/module.js';
import { anomalyModule } from './anomaly/module.js';
import { approvalsModule } from './approvals/module.js';
import { auditModule, auditTrailModule } from './audit/module.js';
import { authzModule } from './authz/module.js';
import { breakGlassModule } from './break-glass/module.js';
import { consentModule } from './consent/module.js';
import { KeyRing } from './crypto/key-ring.js';
import { decisionsModule } from './decisions/module.js';
import { elevationsModule } from './elevations/module.js';
import { impersonationModule } from './impersonation/module.js';
import { oauthModule } from './oauth/module.js';
import { SecurityAlerts } from './ops/security-alerts.js';
import { type LifecycleHooks, type ModuleParts, type Platform, type RouteRegistrar, rateLimitsOf } from './platform.js';
import { scimModule } from './scim/module.js';
import { sessionsModule } from './sessions/module.js';
import { signInModule } from './sign-in/module.js';
import { ssoModule } from './sso/module.js';
import { tenancyModule } from './tenancy/module.js';
import { vaultModule } from './vault/module.js';

/** Every module, built in dependency order: each takes only what the ones before it provide. */
function buildModules(platform: Platform) {
  const { config, store, clock, bus, envelope, logger } = platform;
  const rateLimits = rateLimitsOf(config);
  const trail = auditTrailModule(platform);
  const { audit, auditBatcher } = trail.services;
  const keyRing = new KeyRing({
    store,
    envelope,
    clock,
    audit,
    bus,
    alg: config.signingAlg,
    maxTokenTtlSeconds: config.accessTokenTtlSeconds,
  });
  let unfollowKeys = (): void => {};
  const keys: ModuleParts<{ keyRing: KeyRing }> = {
    services: { keyRing },
    hooks: {
      load: () => keyRing.ensureKeys(),
      start: () => {
        unfollowKeys = keyRing.follow(bus, config.reconcileIntervalSeconds, (error) => logger.error({ err: error }, 'cache reload failed'));
      },
      stop: async () => unfollowKeys(),
    },
  };
  const securityAlerts = new SecurityAlerts({ logger, allowLoopback: config.devAllowLoopbackFetch });
  platform.metrics.registry.registerMetric(securityAlerts.counter);
  const alerts: ModuleParts<{ securityAlerts: SecurityAlerts }> = {
    services: { securityAlerts },
    hooks: { drain: () => securityAlerts.drain() },
  };
  const consent = consentModule(platform, { audit });
  const { grants, revokedAccessTokens, restoreFence } = consent.services;
  const tenancy = tenancyModule(platform, { audit, grants });
  const { organizations, stops, loginPolicy, memberAccess } = tenancy.services;
  const auditing = auditModule(platform, { audit, keyRing, organizations });
  const adminKeys = adminKeysModule(platform, { audit });
  const agents = agentsModule(platform, { audit, organizations, grants, stops });
  const authz = authzModule(platform, {
    audit,
    organizations,
    stops,
    grants,
    revokedAccessTokens,
    restoreFence,
    registryLimits: agents.services.registryLimits,
  });
  const { liveness, permissions, groupRoles } = authz.services;
  const anomaly = anomalyModule(platform, { audit, agents: agents.services.agents, stops, organizations });
  const sessions = sessionsModule(platform, { audit, keyRing, organizations, loginPolicy, liveness, grants, rateLimits });
  const people = { audit, organizations, sessions: sessions.services.sessions, rateLimits };
  const elevations = elevationsModule(platform, { audit, permissions, sessions: people.sessions });
  const sso = ssoModule(platform, { ...people, loginPolicy, groupRoles });
  const breakGlass = breakGlassModule(platform, { ...people, loginPolicy, securityAlerts });
  const impersonation = impersonationModule(platform, { ...people, permissions, securityAlerts });
  const oauth = oauthModule(platform, {
    audit,
    auditBatcher,
    keyRing,
    organizations,
    stops,
    grants,
    revokedAccessTokens,
    restoreFence,
    agents: agents.services.agents,
    agentUsage: agents.services.agentUsage,
    agentRestrictions: anomaly.services.agentRestrictions,
    liveness,
    permissions,
    sessions: people.sessions,
    trustedTokens: sessions.services.trustedTokens,
    ssoConnections: sso.services.ssoConnections,
    rateLimits,
  });
  const { accessTokens, liveTokens, authorizations } = oauth.services;
  const decisions = decisionsModule(platform, {
    permissions,
    organizations,
    liveTokens,
    liveness,
    auditBatcher,
    conditions: authz.services.conditions,
    agentRestrictions: anomaly.services.agentRestrictions,
  });
  const approvals = approvalsModule(platform, {
    audit,
    organizations,
    resources: oauth.services.resources,
    permissions,
    agents: agents.services.agents,
    sessions: people.sessions,
    stops,
    clientAuth: oauth.services.clientAuth,
    accessTokens,
    registerGrant: oauth.services.registerGrant,
    rateLimits,
  });
  const activity = activityModule(platform, {
    audit,
    auditBatcher,
    adminKeys: adminKeys.services.adminKeys,
    accessTokens,
    liveTokens,
    grants,
    organizations,
  });
  const signIn = signInModule(platform, {
    ssoLogin: sso.services.ssoLogin,
    sessions: people.sessions,
    authorizations,
    organizations,
    rateLimits,
  });
  const vault = vaultModule(platform, {
    audit,
    auditBatcher,
    organizations,
    liveTokens,
    accessTokens,
    decisions: decisions.services.decisions,
    intents: activity.services.intents,
    adminKeys: adminKeys.services.adminKeys,
    sessions: people.sessions,
    rateLimits,
  });
  const scim = scimModule(platform, { audit, organizations, memberAccess, stops, groupRoles, loginPolicy, rateLimits });
  return [
    trail,
    keys,
    alerts,
    consent,
    tenancy,
    auditing,
    adminKeys,
    agents,
    authz,
    anomaly,
    sessions,
    elevations,
    sso,
    breakGlass,
    impersonation,
    oauth,
    decisions,
    approvals,
    activity,
    signIn,
    vault,
    scim,
  ] as const;
}

type Built = ReturnType<typeof buildModules>;
type UnionToIntersection<U> = (U extends unknown ? (arg: U) => void : never) extends (arg: infer I) => void ? I : never;

/** Every capability's services in one record: what the CLI, the app and tests drive. */
export type Services = UnionToIntersection<Built[number]['services']>;

/** A node's capabilities, built: their services, routes in registration order, and lifecycle hooks. */
export interface Modules {
  services: Services;
  publicRoutes: RouteRegistrar[];
  adminRoutes: RouteRegistrar[];
  hooks: LifecycleHooks[];
}

/**
 * The composition root (docs/architecture.md §3.8): the ordered list of capability modules. Used
 * by the HTTP app and by CLI commands alike, so both act through the same code.
 */
export function createModules(platform: Platform): Modules {
  const modules: readonly ModuleParts<object>[] = buildModules(platform);
  return {
    services: Object.assign({}, ...modules.map((module) => module.services)) as Services,
    publicRoutes: modules.flatMap((module) => (module.publicRoutes ? [module.publicRoutes] : [])),
    adminRoutes: modules.flatMap((module) => (module.adminRoutes ? [module.adminRoutes] : [])),
    hooks: modules.flatMap((module) => (module.hooks ? [module.hooks] : [])),
  };
}
