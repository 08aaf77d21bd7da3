import type { Logger } from 'pino';
import { Intents } from './activity/intents.js';
import { PrincipalResolver } from './activity/principals.js';
import { Runs } from './activity/runs.js';
import { AdminKeys } from './admin-keys/admin-keys.js';
import { Agents } from './agents/agents.js';
import { AgentRegistryLimits } from './agents/registry-limits.js';
import { AgentUsage } from './agents/usage.js';
import { createAgentRestrictions } from './anomaly/install.js';
import type { AgentRestrictions } from './anomaly/restrictions.js';
import { Approvals } from './approvals/approvals.js';
import { AuditLog } from './audit/audit-log.js';
import { AuditBatcher } from './audit/batcher.js';
import { AuditCheckpoints } from './audit/checkpoints.js';
import { AuditExport } from './audit/export.js';
import { AuditMaintenance } from './audit/maintenance.js';
import { AuditRetention } from './audit/retention.js';
import { SinkDelivery } from './audit/sinks/delivery.js';
import { AuditSinks } from './audit/sinks/sinks.js';
import { AuditEvents } from './audit/store.js';
import { AuditVerifier } from './audit/verify.js';
import { Conditions } from './authz/conditions.js';
import { GroupRoles } from './authz/group-roles.js';
import { CredentialLiveness } from './authz/liveness.js';
import { Permissions } from './authz/permissions.js';
import { Roles } from './authz/roles.js';
import { BreakGlass } from './break-glass/break-glass.js';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import { Grants } from './consent/grants.js';
import { RevokedAccessTokens } from './consent/revoked-tokens.js';
import type { Envelope } from './crypto/envelope.js';
import { KeyRing } from './crypto/key-ring.js';
import { Decisions } from './decisions/decisions.js';
import { Elevations } from './elevations/elevations.js';
import type { EventBus } from './events/bus.js';
import { Impersonation } from './impersonation/impersonation.js';
import { Authorizations } from './oauth/authorize/authorizations.js';
import { ClientAuthenticator } from './oauth/clients/authenticate.js';
import { ClientMetadataDocuments } from './oauth/clients/client-metadata-documents.js';
import { Clients } from './oauth/clients/clients.js';
import { ClientRegistration } from './oauth/clients/registration.js';
import { ResourceCredentials } from './oauth/resources/credentials.js';
import { Resources } from './oauth/resources/resources.js';
import { AccessTokens } from './oauth/tokens/access-token.js';
import { LiveTokens } from './oauth/tokens/live-tokens.js';
import { RefreshTokens } from './oauth/tokens/refresh-tokens.js';
import { SecurityAlerts } from './ops/security-alerts.js';
import { ScimGroups } from './scim/groups.js';
import { ScimTokens } from './scim/scim-tokens.js';
import { ScimUsers } from './scim/users.js';
import { Sessions } from './sessions/sessions.js';
import { TrustedTokens } from './sessions/trusted-tokens.js';
import { SsoConnections } from './sso/connections.js';
import { IdentityLinks } from './sso/identity-links.js';
import { SsoLoginStates } from './sso/login-states.js';
import { createSsoProtocols } from './sso/protocols.js';
import { SsoProvisioning } from './sso/provisioning.js';
import { SamlProtocol } from './sso/saml.js';
import { SsoLogin } from './sso/sso-login.js';
import type { Store } from './store/store.js';
import { LoginPolicy } from './tenancy/login-policy.js';
import { MemberAccess } from './tenancy/member-access.js';
import { Members } from './tenancy/members.js';
import { Organizations } from './tenancy/organizations.js';
import { PrincipalStops } from './tenancy/principal-stops.js';
import { ConnectedAccounts } from './vault/accounts.js';
import { AuthorizationLinks } from './vault/authorization-links.js';
import { Connections } from './vault/connections.js';
import { AccountOwners } from './vault/owner.js';
import { ToolExecution } from './vault/tool-execution.js';

/** The capabilities' services, wired once from explicit dependencies (docs/architecture.md §3.8). */
export interface Services {
  audit: AuditLog;
  auditEvents: AuditEvents;
  auditCheckpoints: AuditCheckpoints;
  auditExport: AuditExport;
  auditVerifier: AuditVerifier;
  auditRetention: AuditRetention;
  /** Signs checkpoints and applies retention; app.ts starts and stops its timer. */
  auditMaintenance: AuditMaintenance;
  auditSinks: AuditSinks;
  /** Streams audit chains to webhook sinks; app.ts starts and stops it. */
  auditSinkDelivery: SinkDelivery;
  keyRing: KeyRing;
  /** IdP groups mapped to roles; SSO logins and SCIM keep members' `idp` bindings in step. */
  groupRoles: GroupRoles;
  /** Ends a departing member's sessions, grants and tokens and suspends the agents they own (admin API, SCIM). */
  memberAccess: MemberAccess;
  /** The organization's authentication policy (allowed methods, SSO required) and its lock-out guard. */
  loginPolicy: LoginPolicy;
  /** Break-glass accounts (password + TOTP) and their logins, each one alerted. */
  breakGlass: BreakGlass;
  /** Support staff acting as a member through single-use tokens. */
  impersonation: Impersonation;
  /** Log line, counter and webhook for events nobody may miss; app.ts registers its counter. */
  securityAlerts: SecurityAlerts;
  adminKeys: AdminKeys;
  organizations: Organizations;
  members: Members;
  resources: Resources;
  /** Resource servers' own credentials for introspecting the tokens issued for them. */
  resourceCredentials: ResourceCredentials;
  clients: Clients;
  clientAuth: ClientAuthenticator;
  accessTokens: AccessTokens;
  revokedAccessTokens: RevokedAccessTokens;
  auditBatcher: AuditBatcher;
  trustedTokens: TrustedTokens;
  sessions: Sessions;
  /** An organization's SSO connections (OIDC, SAML) and their admin API. */
  ssoConnections: SsoConnections;
  /** Administrators' links from IdP subjects to members. */
  identityLinks: IdentityLinks;
  /** SSO sign-in round trips: start, callback, provisioning, session. */
  ssoLogin: SsoLogin;
  /** SAML service provider metadata of a connection, for the public metadata route. */
  samlMetadata: SamlProtocol;
  grants: Grants;
  refreshTokens: RefreshTokens;
  authorizations: Authorizations;
  registration: ClientRegistration;
  agents: Agents;
  /** The kill switch for members and agents, with an epoch per principal. */
  stops: PrincipalStops;
  /** The one liveness test of every credential kind (authz/liveness.ts). */
  liveness: CredentialLiveness;
  /** The one permission function (authz/permissions.ts). */
  permissions: Permissions;
  /** Anomaly responses (read-only, approval required) and per-agent rate limits; app.ts installs detection. */
  agentRestrictions: AgentRestrictions;
  roles: Roles;
  decisions: Decisions;
  elevations: Elevations;
  conditions: Conditions;
  agentUsage: AgentUsage;
  liveTokens: LiveTokens;
  intents: Intents;
  runs: Runs;
  connections: Connections;
  connectedAccounts: ConnectedAccounts;
  approvals: Approvals;
  authorizationLinks: AuthorizationLinks;
  accountOwners: AccountOwners;
  toolExecution: ToolExecution;
  /** SCIM bearer tokens of organizations (admin API) and their authentication at /scim/v2. */
  scimTokens: ScimTokens;
  /** SCIM Users over members: provisioning and deprovisioning. */
  scimUsers: ScimUsers;
  /** SCIM Groups; membership drives members' `idp` role bindings. */
  scimGroups: ScimGroups;
}

export interface ServiceDeps {
  config: Config;
  store: Store;
  clock: Clock;
  envelope: Envelope;
  bus: EventBus;
  logger: Logger;
}

/** Used by the HTTP app and by CLI commands alike, so both act through the same code. */
export function createServices({ config, store, clock, envelope, bus, logger }: ServiceDeps): Services {
  const audit = new AuditLog({ dialect: store.dialect, clock });
  const loginPolicy = new LoginPolicy({ store, clock });
  const organizations = new Organizations({ store, audit, clock, guard: loginPolicy });
  const keyRing = new KeyRing({
    store,
    envelope,
    clock,
    audit,
    bus,
    alg: config.signingAlg,
    maxTokenTtlSeconds: config.accessTokenTtlSeconds,
  });
  // Caches are invalidated by the bus; the TTL only bounds staleness after a missed event.
  const cacheTtlMs = config.reconcileIntervalSeconds * 1000;
  const resources = new Resources({ store, audit, clock, bus, cacheTtlMs });
  const metadataDocuments = config.clientMetadataDocuments
    ? new ClientMetadataDocuments({ clock, allowLoopback: config.devAllowLoopbackFetch })
    : undefined;
  const clientAuth = new ClientAuthenticator({
    db: store.db,
    clock,
    bus,
    cacheTtlMs,
    assertionAudiences: [config.issuer, `${config.issuer}/oauth2/token`],
    metadataDocuments,
  });
  const trustedTokens = new TrustedTokens({
    store,
    organizations,
    audit,
    clock,
    guard: loginPolicy,
    allowLoopback: config.devAllowLoopbackFetch,
  });
  const grants = new Grants({ store, audit, clock, bus });
  const stops = new PrincipalStops({ db: store.db, clock, bus });
  const memberAccess = new MemberAccess({ grants, stops, audit, bus, clock });
  const agents = new Agents({ store, organizations, grants, stops, audit, clock, bus });
  const accessTokens = new AccessTokens({ keyRing, issuer: config.issuer, clock, epochs: stops });
  const revokedAccessTokens = new RevokedAccessTokens({ store, audit, clock, bus });
  const auditBatcher = new AuditBatcher({ store, audit });
  const roles = new Roles({ store, organizations, audit, clock, bus, cacheTtlMs });
  const conditions = new Conditions({ store, audit, clock, bus, cacheTtlMs });
  const liveness = new CredentialLiveness({ stops, grants, revokedTokens: revokedAccessTokens });
  const liveTokens = new LiveTokens({ accessTokens, liveness });
  const permissions = new Permissions({ roles, stops, limits: new AgentRegistryLimits({ db: store.db, clock, bus, cacheTtlMs }) });
  const auditCheckpoints = new AuditCheckpoints({ db: store.db, keyRing, clock, issuer: config.issuer });
  const auditExport = new AuditExport({ db: store.db, checkpoints: auditCheckpoints });
  const auditRetention = new AuditRetention({
    store,
    audit,
    checkpoints: auditCheckpoints,
    exporter: auditExport,
    clock,
    archiveDir: config.auditArchiveDir,
  });
  const principals = new PrincipalResolver({ store, accessTokens, liveTokens, grants, organizations, clock });
  const runs = new Runs({ store, audit, principals, clock });
  const intents = new Intents({ store, audit, auditBatcher, principals, runs, clock });
  const agentRestrictions = createAgentRestrictions({ store, audit, bus, clock });
  const decisions = new Decisions({
    permissions,
    organizations,
    liveTokens,
    liveness,
    auditBatcher,
    conditions,
    restrictions: agentRestrictions,
    issuer: config.issuer,
  });
  const allowLoopback = config.devAllowLoopbackFetch;
  const connections = new Connections({ store, organizations, audit, envelope, clock, allowLoopback });
  const connectedAccounts = new ConnectedAccounts({
    store,
    connections,
    audit,
    auditBatcher,
    envelope,
    clock,
    allowLoopback,
  });
  const accountOwners = new AccountOwners({ store, organizations, liveTokens, auditBatcher, decisions, connections });
  const sessions = new Sessions({
    store,
    organizations,
    trustedTokens,
    audit,
    keyRing,
    issuer: config.issuer,
    clock,
    policy: loginPolicy,
    liveness,
  });
  const securityAlerts = new SecurityAlerts({ logger, allowLoopback });
  const breakGlass = new BreakGlass({
    store,
    organizations,
    sessions,
    policy: loginPolicy,
    audit,
    envelope,
    clock,
    alerts: securityAlerts,
  });
  const impersonation = new Impersonation({ store, sessions, permissions, audit, clock, alerts: securityAlerts });
  const groupRoles = new GroupRoles({ store, organizations, audit, bus, clock });
  const ssoConnections = new SsoConnections({
    store,
    organizations,
    audit,
    envelope,
    clock,
    protocols: createSsoProtocols({ store, clock, envelope, issuer: config.issuer, allowLoopback }),
    loginPolicy,
    issuer: config.issuer,
  });
  const ssoLogin = new SsoLogin({
    store,
    audit,
    organizations,
    connections: ssoConnections,
    states: new SsoLoginStates({ store, clock }),
    provisioning: new SsoProvisioning({ audit, clock, dialect: store.dialect }),
    loginPolicy,
    groupRoles,
    sessions,
  });
  return {
    runs,
    intents,
    approvals: new Approvals({
      store,
      organizations,
      resources,
      permissions,
      agents,
      audit,
      clock,
      issuer: config.issuer,
      envelope,
      allowLoopback,
    }),
    connections,
    connectedAccounts,
    authorizationLinks: new AuthorizationLinks({ store, connections, audit, envelope, clock, issuer: config.issuer, allowLoopback }),
    accountOwners,
    toolExecution: new ToolExecution({
      store,
      accounts: connectedAccounts,
      connections,
      owners: accountOwners,
      intents,
      allowLoopback,
    }),
    agents,
    stops,
    liveness,
    permissions,
    agentRestrictions,
    roles,
    elevations: new Elevations({ store, permissions, audit, clock, bus }),
    conditions,
    agentUsage: new AgentUsage({ store, clock }),
    liveTokens,
    decisions,
    audit,
    auditEvents: new AuditEvents(store.db),
    auditCheckpoints,
    auditExport,
    auditVerifier: new AuditVerifier({ db: store.db, exporter: auditExport }),
    auditRetention,
    auditMaintenance: new AuditMaintenance({
      checkpoints: auditCheckpoints,
      retention: auditRetention,
      clock,
      intervalSeconds: config.auditCheckpointIntervalSeconds,
      checkpointEvents: config.auditCheckpointEvents,
    }),
    auditSinks: new AuditSinks({ store, organizations, audit, envelope, clock, allowLoopback: config.devAllowLoopbackFetch }),
    auditSinkDelivery: new SinkDelivery({
      store,
      envelope,
      clock,
      maxAttempts: config.auditSinkMaxAttempts,
      allowLoopback: config.devAllowLoopbackFetch,
    }),
    keyRing,
    loginPolicy,
    breakGlass,
    impersonation,
    securityAlerts,
    memberAccess,
    groupRoles,
    scimTokens: new ScimTokens({ store, organizations, audit, clock }),
    scimUsers: new ScimUsers({ store, audit, clock, memberAccess, stops, groupRoles, loginPolicy, baseUrl: `${config.issuer}/scim/v2` }),
    scimGroups: new ScimGroups({ store, audit, clock, groupRoles, baseUrl: `${config.issuer}/scim/v2` }),
    adminKeys: new AdminKeys({ store, audit, clock }),
    organizations,
    members: new Members({ store, organizations, audit, clock, stops, access: memberAccess, guard: loginPolicy }),
    resources,
    resourceCredentials: new ResourceCredentials({ store, audit, clock }),
    clients: new Clients({ store, organizations, resources, audit, clock, bus, agents }),
    clientAuth,
    accessTokens,
    revokedAccessTokens,
    auditBatcher,
    trustedTokens,
    sessions,
    ssoConnections,
    identityLinks: new IdentityLinks({ store, organizations, audit, clock }),
    ssoLogin,
    samlMetadata: new SamlProtocol({ store, clock, issuer: config.issuer, allowLoopback }),
    grants,
    refreshTokens: new RefreshTokens({
      dialect: store.dialect,
      clock,
      slidingTtlSeconds: config.refreshTokenTtlSeconds,
      envelope,
      reuseWindowSeconds: config.refreshTokenReuseWindowSeconds,
    }),
    registration: new ClientRegistration({
      store,
      audit,
      clock,
      bus,
      policy: config.registrationPolicy,
      initialAccessToken: config.registrationInitialAccessToken,
      issuer: config.issuer,
    }),
    authorizations: new Authorizations({
      store,
      clients: clientAuth,
      resources,
      organizations,
      trustedTokens,
      sso: ssoConnections,
      grants,
      audit,
      clock,
      issuer: config.issuer,
      grantTtlSeconds: config.grantTtlSeconds,
    }),
  };
}
