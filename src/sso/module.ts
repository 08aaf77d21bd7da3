import type { AuditLog } from '../audit/audit-log.js';
import type { GroupRoles } from '../authz/group-roles.js';
import type { ModuleParts, Platform, RateLimits } from '../platform.js';
import type { Sessions } from '../sessions/sessions.js';
import type { LoginPolicy } from '../tenancy/login-policy.js';
import type { Organizations } from '../tenancy/organizations.js';
import { ssoConnectionRoutes } from './connection-routes.js';
import { SsoConnections } from './connections.js';
import { IdentityLinks } from './identity-links.js';
import { SsoLoginStates } from './login-states.js';
import { createSsoProtocols } from './protocols.js';
import { SsoProvisioning } from './provisioning.js';
import type { SamlProtocol } from './saml.js';
import { samlMetadataRoutes } from './saml-routes.js';
import { SsoLogin } from './sso-login.js';

export interface SsoModuleDeps {
  audit: AuditLog;
  organizations: Organizations;
  loginPolicy: LoginPolicy;
  groupRoles: GroupRoles;
  sessions: Sessions;
  rateLimits: RateLimits;
}

export interface SsoServices {
  /** An organization's SSO connections (OIDC, SAML) and their admin API. */
  ssoConnections: SsoConnections;
  /** Administrators' links from IdP subjects to members. */
  identityLinks: IdentityLinks;
  /** SSO sign-in round trips: start, callback, provisioning, session. */
  ssoLogin: SsoLogin;
  /** SAML service provider metadata of a connection, for the public metadata route. */
  samlMetadata: SamlProtocol;
}

/** Enterprise SSO: OIDC and SAML connections, sign-in, just-in-time provisioning, group roles. */
export function ssoModule(platform: Platform, deps: SsoModuleDeps): ModuleParts<SsoServices> {
  const { store, clock, envelope, config } = platform;
  const { audit, organizations, loginPolicy } = deps;
  // One instance per protocol serves sign-in, the connections API and the SAML metadata route.
  const protocols = createSsoProtocols({ store, clock, envelope, issuer: config.issuer, allowLoopback: config.devAllowLoopbackFetch });
  const ssoConnections = new SsoConnections({
    store,
    organizations,
    audit,
    envelope,
    clock,
    protocols,
    loginPolicy,
    issuer: config.issuer,
  });
  const identityLinks = new IdentityLinks({ store, organizations, audit, clock });
  const ssoLogin = new SsoLogin({
    store,
    audit,
    organizations,
    connections: ssoConnections,
    states: new SsoLoginStates({ store, clock }),
    provisioning: new SsoProvisioning({ audit, clock, dialect: store.dialect }),
    loginPolicy,
    groupRoles: deps.groupRoles,
    sessions: deps.sessions,
  });
  return {
    services: { ssoConnections, identityLinks, ssoLogin, samlMetadata: protocols.saml },
    publicRoutes: async (app) => {
      await app.register(samlMetadataRoutes, { saml: protocols.saml, rateLimit: deps.rateLimits.public });
    },
    adminRoutes: async (v1) => {
      await v1.register(ssoConnectionRoutes, { connections: ssoConnections, links: identityLinks });
    },
    hooks: { reconcile: () => ssoLogin.purgeExpired() },
  };
}
