import type { IncomingMessage, ServerResponse } from 'node:http';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify';
import type { Logger } from 'pino';
import { intentRoutes } from './activity/routes.js';
import { adminAuthHook } from './admin-keys/auth-hook.js';
import { agentRoutes } from './agents/routes.js';
import { type AnomalyDetection, installAnomalyDetection } from './anomaly/install.js';
import { anomalyRoutes } from './anomaly/routes.js';
import { approvalsInboxRoutes } from './approvals/inbox-routes.js';
import { approvalRoutes, approvalTypeRoutes } from './approvals/routes.js';
import { auditIntegrityRoutes } from './audit/checkpoint-routes.js';
import { auditRoutes } from './audit/routes.js';
import { auditSinkRoutes } from './audit/sinks/routes.js';
import { authzRoutes } from './authz/routes.js';
import { breakGlassAdminRoutes, breakGlassLoginRoutes, breakGlassPageRoutes } from './break-glass/routes.js';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import type { Envelope } from './crypto/envelope.js';
import { decisionRoutes } from './decisions/routes.js';
import { elevationRoutes } from './elevations/routes.js';
import type { EventBus } from './events/bus.js';
import { ErrorBody } from './http/common-schemas.js';
import { installErrorHandler } from './http/error-handler.js';
import { installRateLimits } from './http/rate-limit.js';
import { requestIdOf } from './http/request-id.js';
import { installSecurityHeaders } from './http/security-headers.js';
import { createValidatorCompiler } from './http/validation.js';
import { impersonationRoutes } from './impersonation/routes.js';
import { consentRoutes } from './oauth/authorize/consent-routes.js';
import { authorizeRoutes } from './oauth/authorize/routes.js';
import { registrationRoutes } from './oauth/clients/registration-routes.js';
import { clientRoutes } from './oauth/clients/routes.js';
import { authorizationCodeGrant } from './oauth/grants/authorization-code.js';
import { cibaGrant } from './oauth/grants/ciba.js';
import { clientCredentialsGrant } from './oauth/grants/client-credentials.js';
import { refreshTokenGrant } from './oauth/grants/refresh-token.js';
import { createGrantRegistry } from './oauth/grants/registry.js';
import { tokenExchangeGrant } from './oauth/grants/token-exchange.js';
import { metadataRoutes } from './oauth/metadata.js';
import { resourceRoutes } from './oauth/resources/routes.js';
import { tokenRoutes } from './oauth/tokens/routes.js';
import { Metrics } from './ops/metrics.js';
import { opsRoutes } from './ops/routes.js';
import { ScimDiscovery } from './scim/discovery.js';
import { scimRoutes } from './scim/routes.js';
import { scimTokenRoutes } from './scim/token-routes.js';
import { createServices, type Services } from './services.js';
import { identityAdminRoutes, sessionRoutes } from './sessions/routes.js';
import { ssoRoutes } from './sign-in/routes.js';
import { ssoConnectionRoutes } from './sso/connection-routes.js';
import { samlMetadataRoutes } from './sso/saml-routes.js';
import type { Store } from './store/store.js';
import { tenancyRoutes } from './tenancy/routes.js';
import { connectedAccountRoutes, connectionRoutes, vaultPageRoutes } from './vault/routes.js';

/** Everything one Mandate node is built from; nothing global, so a test can run several. */
export interface AppOptions {
  config: Config;
  store: Store;
  clock: Clock;
  bus: EventBus;
  envelope: Envelope;
  logger: Logger;
  /** Collect process metrics (CPU, memory); off in tests that build many apps. */
  processMetrics?: boolean;
}

/** A built node: its HTTP app and the services a CLI command or a test may drive directly. */
export interface Mandate extends Services {
  app: FastifyInstance;
  metrics: Metrics;
  /** Anomaly detection on this node's audit events (anomaly/install.ts). */
  anomaly: AnomalyDetection;
  /** Stops accepting requests, finishes in-flight ones, and stops following the bus. */
  close(): Promise<void>;
}

/** Wires services and routes (docs/architecture.md §3.8). The database must be migrated already. */
export async function buildApp(options: AppOptions): Promise<Mandate> {
  const { config, store, clock, bus, logger } = options;
  const services = createServices({ config, store, clock, bus, envelope: options.envelope, logger });
  const { keyRing, adminKeys, organizations, members, auditEvents, resources, clients } = services;
  const metrics = new Metrics({ processMetrics: options.processMetrics ?? false });
  metrics.registry.registerMetric(services.securityAlerts.counter);

  await keyRing.ensureKeys();
  await services.revokedAccessTokens.load();
  await services.grants.load();
  await services.stops.load();
  const anomaly = await installAnomalyDetection({
    store,
    audit: services.audit,
    agents: services.agents,
    stops: services.stops,
    bus,
    clock,
    logger,
    config,
    restrictions: services.agentRestrictions,
  });
  const onReloadError = (error: unknown) => logger.error({ err: error }, 'cache reload failed');
  const unfollow = keyRing.follow(bus, config.reconcileIntervalSeconds, onReloadError);
  // What every liveness check reads: revoked tokens, revoked grants, stopped principals.
  const reloadRevocations = () => {
    services.revokedAccessTokens.load().catch(onReloadError);
    services.grants.load().catch(onReloadError);
    services.stops.load().catch(onReloadError);
  };
  // Notifications sent while the bus was reconnecting are gone for good: reload at once rather
  // than at the next reconcile.
  const unfollowResync = bus.subscribe('bus.resynced', reloadRevocations);
  const reconcile = setInterval(() => {
    reloadRevocations();
    services.authorizations.purgeExpired().catch(onReloadError);
    services.refreshTokens.forgetExpiredSuccessors(store.db).catch(onReloadError);
    services.ssoLogin.purgeExpired().catch(onReloadError);
    services.approvals.remind().catch(onReloadError);
  }, config.reconcileIntervalSeconds * 1000);
  reconcile.unref();
  const usageFlush = setInterval(() => services.agentUsage.flush().catch(onReloadError), 2000);
  usageFlush.unref();
  services.auditMaintenance.start(logger);
  services.auditSinkDelivery.start({ metrics, logger });
  const delegated = {
    store,
    clock,
    grants: services.grants,
    resources,
    accessTokens: services.accessTokens,
    refreshTokens: services.refreshTokens,
    audit: services.audit,
    defaultTtlSeconds: config.accessTokenTtlSeconds,
  };
  const grantTypes = createGrantRegistry([
    authorizationCodeGrant(delegated),
    refreshTokenGrant(delegated),
    clientCredentialsGrant({ resources, accessTokens: services.accessTokens, defaultTtlSeconds: config.accessTokenTtlSeconds }),
    tokenExchangeGrant({
      resources,
      accessTokens: services.accessTokens,
      liveTokens: services.liveTokens,
      grants: services.grants,
      permissions: services.permissions,
      auditBatcher: services.auditBatcher,
      clock,
      defaultTtlSeconds: config.accessTokenTtlSeconds,
      sessions: services.sessions,
      organizations,
      store,
      audit: services.audit,
      grantTtlSeconds: config.grantTtlSeconds,
    }),
    cibaGrant({ approvals: services.approvals, accessTokens: services.accessTokens }),
  ]);

  const app = Fastify<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger>({
    loggerInstance: logger,
    bodyLimit: config.bodyLimitBytes,
    genReqId: requestIdOf,
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(createValidatorCompiler());
  installErrorHandler(app, metrics);

  installSecurityHeaders(app, { https: config.issuer.startsWith('https:') });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  installRateLimits(app);
  app.addSchema(ErrorBody);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Mandate management API', version: '1', description: 'Authorization platform for AI agents.' },
      servers: [{ url: config.issuer }],
      components: {
        securitySchemes: {
          adminKey: { type: 'http', scheme: 'bearer', description: 'Admin API key (mnd_ak_…)' },
          accessToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A Mandate access token (RFC 9068)' },
        },
      },
    },
  });

  const rateLimitPerIp = { max: config.publicRateLimitPerMinute, windowSeconds: 60 };
  await app.register(opsRoutes, { store, metrics });
  await app.register(metadataRoutes, {
    issuer: config.issuer,
    keyRing,
    rateLimit: rateLimitPerIp,
    registration: config.registrationPolicy !== 'off',
    clientMetadataDocuments: config.clientMetadataDocuments,
    grantTypes,
  });
  await app.register(tokenRoutes, {
    grantTypes,
    store,
    clientAuth: services.clientAuth,
    resourceCredentials: services.resourceCredentials,
    accessTokens: services.accessTokens,
    refreshTokens: services.refreshTokens,
    revoked: services.revokedAccessTokens,
    grants: services.grants,
    authorizations: services.authorizations,
    stops: services.stops,
    liveTokens: services.liveTokens,
    auditBatcher: services.auditBatcher,
    agentUsage: services.agentUsage,
    metrics,
    restrictions: services.agentRestrictions,
    approvals: services.approvals,
    rateLimit: rateLimitPerIp,
  });
  await app.register(authorizeRoutes, {
    authorizations: services.authorizations,
    sessions: services.sessions,
    secureCookies: config.issuer.startsWith('https:'),
    rateLimit: rateLimitPerIp,
  });
  if (config.registrationPolicy !== 'off')
    await app.register(registrationRoutes, { registration: services.registration, rateLimit: rateLimitPerIp });
  await app.register(intentRoutes, {
    prefix: '/v1',
    intents: services.intents,
    runs: services.runs,
    adminKeys,
    accessTokens: services.accessTokens,
  });
  await app.register(connectedAccountRoutes, {
    prefix: '/v1',
    accounts: services.connectedAccounts,
    links: services.authorizationLinks,
    owners: services.accountOwners,
    audience: `${config.issuer}/vault`,
    tools: services.toolExecution,
    adminKeys,
    accessTokens: services.accessTokens,
  });
  await app.register(vaultPageRoutes, {
    links: services.authorizationLinks,
    sessions: services.sessions,
    secureCookies: config.issuer.startsWith('https:'),
    rateLimit: rateLimitPerIp,
  });
  await app.register(approvalRoutes, { prefix: '/v1', approvals: services.approvals, sessions: services.sessions });
  await app.register(approvalsInboxRoutes, {
    approvals: services.approvals,
    sessions: services.sessions,
    csrfKey: options.envelope.deriveKey('approvals-inbox-csrf'),
  });
  await app.register(elevationRoutes, { prefix: '/v1', elevations: services.elevations, sessions: services.sessions });
  await app.register(sessionRoutes, {
    prefix: '/v1',
    sessions: services.sessions,
    grants: services.grants,
    rateLimit: rateLimitPerIp,
  });
  await app.register(consentRoutes, { prefix: '/v1', sessions: services.sessions, authorizations: services.authorizations });
  // Password logins get a far tighter per-IP brake than the public endpoints; accounts also lock.
  const loginRateLimit = { max: Math.min(config.publicRateLimitPerMinute, 30), windowSeconds: 60 };
  await app.register(breakGlassLoginRoutes, { prefix: '/v1', breakGlass: services.breakGlass, rateLimit: loginRateLimit });
  await app.register(breakGlassPageRoutes, {
    breakGlass: services.breakGlass,
    rateLimit: loginRateLimit,
    secureCookies: config.issuer.startsWith('https:'),
    csrfKey: options.envelope.deriveKey('break-glass-login-csrf'),
  });
  await app.register(impersonationRoutes, {
    prefix: '/v1',
    impersonation: services.impersonation,
    sessions: services.sessions,
    rateLimit: loginRateLimit,
  });
  await app.register(ssoRoutes, {
    ssoLogin: services.ssoLogin,
    sessions: services.sessions,
    authorizations: services.authorizations,
    organizations,
    issuer: config.issuer,
    secureCookies: config.issuer.startsWith('https:'),
    rateLimit: rateLimitPerIp,
  });
  await app.register(samlMetadataRoutes, { saml: services.samlMetadata, rateLimit: rateLimitPerIp });
  await app.register(scimRoutes, {
    prefix: '/scim/v2',
    tokens: services.scimTokens,
    users: services.scimUsers,
    groups: services.scimGroups,
    discovery: new ScimDiscovery({
      baseUrl: `${config.issuer}/scim/v2`,
      users: services.scimUsers.schema,
      groups: services.scimGroups.schema,
    }),
    rateLimit: rateLimitPerIp,
  });
  app.get('/v1/openapi.json', { schema: { hide: true }, config: { rateLimit: rateLimitPerIp } }, async () => app.swagger());

  await app.register(
    async (v1) => {
      v1.addHook('onRequest', adminAuthHook(adminKeys));
      await v1.register(tenancyRoutes, { organizations, members });
      await v1.register(auditRoutes, { events: auditEvents, organizations });
      await v1.register(auditIntegrityRoutes, {
        db: store.db,
        checkpoints: services.auditCheckpoints,
        exporter: services.auditExport,
        organizations,
      });
      await v1.register(auditSinkRoutes, { sinks: services.auditSinks });
      await v1.register(connectionRoutes, { connections: services.connections });
      await v1.register(approvalTypeRoutes, { approvals: services.approvals });
      await v1.register(resourceRoutes, { resources, credentials: services.resourceCredentials });
      await v1.register(clientRoutes, { clients });
      await v1.register(agentRoutes, { agents: services.agents });
      await v1.register(anomalyRoutes, { restrictions: services.agentRestrictions, organizations });
      await v1.register(authzRoutes, {
        roles: services.roles,
        conditions: services.conditions,
        organizations,
        groupRoles: services.groupRoles,
      });
      await v1.register(decisionRoutes, { decisions: services.decisions });
      await v1.register(identityAdminRoutes, {
        trustedTokens: services.trustedTokens,
        grants: services.grants,
        organizations,
        sessions: services.sessions,
      });
      await v1.register(breakGlassAdminRoutes, { breakGlass: services.breakGlass });
      await v1.register(ssoConnectionRoutes, { connections: services.ssoConnections, links: services.identityLinks });
      await v1.register(scimTokenRoutes, { scimTokens: services.scimTokens });
    },
    { prefix: '/v1' },
  );

  await app.ready();
  return {
    ...services,
    app,
    metrics,
    anomaly,
    close: async () => {
      unfollow();
      unfollowResync();
      clearInterval(reconcile);
      clearInterval(usageFlush);
      await services.auditMaintenance.stop();
      await services.auditSinkDelivery.stop();
      await app.close();
      await services.auditBatcher.drain();
      await services.securityAlerts.drain();
      await anomaly.stop();
      await services.agentUsage.flush();
    },
  };
}
