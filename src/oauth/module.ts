import type { Agents } from '../agents/agents.js';
import type { AgentUsage } from '../agents/usage.js';
import type { AgentRestrictions } from '../anomaly/restrictions.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuditBatcher } from '../audit/batcher.js';
import type { CredentialLiveness } from '../authz/liveness.js';
import type { Permissions } from '../authz/permissions.js';
import type { Grants } from '../consent/grants.js';
import type { RestoreFence } from '../consent/restore-fence.js';
import type { RevokedAccessTokens } from '../consent/revoked-tokens.js';
import type { KeyRing } from '../crypto/key-ring.js';
import { cacheTtlMsOf, type ModuleParts, type Platform, type RateLimits, secureCookiesOf } from '../platform.js';
import type { Sessions } from '../sessions/sessions.js';
import type { TrustedTokens } from '../sessions/trusted-tokens.js';
import type { SsoConnections } from '../sso/connections.js';
import type { Organizations } from '../tenancy/organizations.js';
import type { PrincipalStops } from '../tenancy/principal-stops.js';
import { Authorizations } from './authorize/authorizations.js';
import { consentRoutes } from './authorize/consent-routes.js';
import { authorizeRoutes } from './authorize/routes.js';
import { ClientAuthenticator } from './clients/authenticate.js';
import { ClientMetadataDocuments } from './clients/client-metadata-documents.js';
import { Clients } from './clients/clients.js';
import { ClientRegistration } from './clients/registration.js';
import { registrationRoutes } from './clients/registration-routes.js';
import { clientRoutes } from './clients/routes.js';
import { authorizationCodeGrant } from './grants/authorization-code.js';
import { clientCredentialsGrant } from './grants/client-credentials.js';
import { refreshTokenGrant } from './grants/refresh-token.js';
import { createGrantRegistry, type GrantHandler, type GrantRegistry } from './grants/registry.js';
import { tokenExchangeGrant } from './grants/token-exchange.js';
import { metadataRoutes } from './metadata.js';
import { ResourceCredentials } from './resources/credentials.js';
import { Resources } from './resources/resources.js';
import { resourceRoutes } from './resources/routes.js';
import { AccessTokens } from './tokens/access-token.js';
import { LiveTokens } from './tokens/live-tokens.js';
import { RefreshTokens } from './tokens/refresh-tokens.js';
import { tokenRoutes } from './tokens/routes.js';

export interface OAuthModuleDeps {
  audit: AuditLog;
  auditBatcher: AuditBatcher;
  keyRing: KeyRing;
  organizations: Organizations;
  stops: PrincipalStops;
  grants: Grants;
  revokedAccessTokens: RevokedAccessTokens;
  restoreFence: RestoreFence;
  agents: Agents;
  agentUsage: AgentUsage;
  agentRestrictions: AgentRestrictions;
  liveness: CredentialLiveness;
  permissions: Permissions;
  sessions: Sessions;
  trustedTokens: TrustedTokens;
  ssoConnections: SsoConnections;
  rateLimits: RateLimits;
}

export interface OAuthServices {
  resources: Resources;
  /** Resource servers' own credentials for introspecting the tokens issued for them. */
  resourceCredentials: ResourceCredentials;
  clients: Clients;
  clientAuth: ClientAuthenticator;
  registration: ClientRegistration;
  accessTokens: AccessTokens;
  /** Access tokens whose whole chain is live (oauth/tokens/live-tokens.ts). */
  liveTokens: LiveTokens;
  refreshTokens: RefreshTokens;
  authorizations: Authorizations;
  /** The token endpoint's grant types. */
  grantTypes: GrantRegistry;
  /** Adds a grant type from a module above oauth (approvals: CIBA), before the routes are registered. */
  registerGrant: (handler: GrantHandler) => void;
}

/** The authorization server: clients, resources, authorization, consent, tokens and their grants. */
export function oauthModule(platform: Platform, deps: OAuthModuleDeps): ModuleParts<OAuthServices> {
  const { store, clock, bus, envelope, config, metrics } = platform;
  const { audit, auditBatcher, organizations, grants } = deps;
  const cacheTtlMs = cacheTtlMsOf(config);
  const allowLoopback = config.devAllowLoopbackFetch;
  const resources = new Resources({ store, audit, clock, bus, cacheTtlMs });
  const resourceCredentials = new ResourceCredentials({ store, audit, clock });
  const clientAuth = new ClientAuthenticator({
    db: store.db,
    clock,
    bus,
    cacheTtlMs,
    assertionAudiences: [config.issuer, `${config.issuer}/oauth2/token`],
    metadataDocuments: config.clientMetadataDocuments ? new ClientMetadataDocuments({ clock, allowLoopback }) : undefined,
  });
  const clients = new Clients({ store, organizations, resources, audit, clock, bus, agents: deps.agents });
  const registration = new ClientRegistration({
    store,
    audit,
    clock,
    bus,
    policy: config.registrationPolicy,
    initialAccessToken: config.registrationInitialAccessToken,
    issuer: config.issuer,
  });
  // Issued after the principals' latest stops and after the restore fence, so liveness admits it.
  const epochs = {
    issuedAtFor: (ids: readonly (string | null | undefined)[], nowMs: number) =>
      deps.restoreFence.issuedAtFrom(deps.stops.issuedAtFor(ids, nowMs)),
  };
  const accessTokens = new AccessTokens({ keyRing: deps.keyRing, issuer: config.issuer, clock, epochs });
  const liveTokens = new LiveTokens({ accessTokens, liveness: deps.liveness });
  const refreshTokens = new RefreshTokens({
    dialect: store.dialect,
    clock,
    slidingTtlSeconds: config.refreshTokenTtlSeconds,
    envelope,
    reuseWindowSeconds: config.refreshTokenReuseWindowSeconds,
  });
  const authorizations = new Authorizations({
    store,
    clients: clientAuth,
    resources,
    organizations,
    trustedTokens: deps.trustedTokens,
    sso: deps.ssoConnections,
    grants,
    audit,
    clock,
    issuer: config.issuer,
    grantTtlSeconds: config.grantTtlSeconds,
  });
  const defaultTtlSeconds = config.accessTokenTtlSeconds;
  const delegated = { store, clock, grants, resources, accessTokens, refreshTokens, audit, defaultTtlSeconds };
  const grantTypes = new Map(
    createGrantRegistry([
      authorizationCodeGrant(delegated),
      refreshTokenGrant(delegated),
      clientCredentialsGrant({ resources, accessTokens, defaultTtlSeconds }),
      tokenExchangeGrant({
        resources,
        accessTokens,
        liveTokens,
        grants,
        permissions: deps.permissions,
        auditBatcher,
        clock,
        defaultTtlSeconds,
        sessions: deps.sessions,
        organizations,
        store,
        audit,
        grantTtlSeconds: config.grantTtlSeconds,
      }),
    ]),
  );
  const rateLimit = deps.rateLimits.public;
  return {
    services: {
      resources,
      resourceCredentials,
      clients,
      clientAuth,
      registration,
      accessTokens,
      liveTokens,
      refreshTokens,
      authorizations,
      grantTypes,
      registerGrant: (handler) => grantTypes.set(handler.grantType, handler),
    },
    publicRoutes: async (app) => {
      await app.register(metadataRoutes, {
        issuer: config.issuer,
        keyRing: deps.keyRing,
        rateLimit,
        registration: config.registrationPolicy !== 'off',
        clientMetadataDocuments: config.clientMetadataDocuments,
        grantTypes,
      });
      await app.register(tokenRoutes, {
        grantTypes,
        store,
        clientAuth,
        resourceCredentials,
        accessTokens,
        refreshTokens,
        revoked: deps.revokedAccessTokens,
        grants,
        authorizations,
        stops: deps.stops,
        liveTokens,
        auditBatcher,
        agentUsage: deps.agentUsage,
        metrics,
        restrictions: deps.agentRestrictions,
        rateLimit,
      });
      await app.register(authorizeRoutes, { authorizations, sessions: deps.sessions, secureCookies: secureCookiesOf(config), rateLimit });
      if (config.registrationPolicy !== 'off') await app.register(registrationRoutes, { registration, rateLimit });
      await app.register(consentRoutes, { prefix: '/v1', sessions: deps.sessions, authorizations });
    },
    adminRoutes: async (v1) => {
      await v1.register(resourceRoutes, { resources, credentials: resourceCredentials });
      await v1.register(clientRoutes, { clients });
    },
    hooks: {
      reconcile: async () => {
        await Promise.all([authorizations.purgeExpired(), refreshTokens.forgetExpiredSuccessors(store.db)]);
      },
    },
  };
}
