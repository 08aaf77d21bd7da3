import type { Generated } from 'kysely';

/**
 * The typed shape of Mandate's tables (docs/architecture.md §4), shared by SQLite and PostgreSQL.
 * Timestamps are ISO-8601 UTC strings and structured values are JSON text, so both dialects
 * store and return exactly the same values (the audit hash chain depends on that).
 */
export interface Database {
  organizations: OrganizationsTable;
  members: MembersTable;
  admin_keys: AdminKeysTable;
  signing_keys: SigningKeysTable;
  audit_events: AuditEventsTable;
  audit_chain_heads: AuditChainHeadsTable;
  resources: ResourcesTable;
  resource_credentials: ResourceCredentialsTable;
  clients: ClientsTable;
  client_secrets: ClientSecretsTable;
  revoked_access_tokens: RevokedAccessTokensTable;
  trusted_token_profiles: TrustedTokenProfilesTable;
  sessions: SessionsTable;
  grants: GrantsTable;
  authorization_requests: AuthorizationRequestsTable;
  authorization_codes: AuthorizationCodesTable;
  refresh_tokens: RefreshTokensTable;
  agents: AgentsTable;
  roles: RolesTable;
  role_permissions: RolePermissionsTable;
  role_bindings: RoleBindingsTable;
  elevations: ElevationsTable;
  policy_sets: PolicySetsTable;
  audit_checkpoints: AuditCheckpointsTable;
  audit_sinks: AuditSinksTable;
  audit_sink_dead_letters: AuditSinkDeadLettersTable;
  runs: RunsTable;
  vault_connections: VaultConnectionsTable;
  connected_accounts: ConnectedAccountsTable;
  vault_authorization_links: VaultAuthorizationLinksTable;
  authorization_detail_types: AuthorizationDetailTypesTable;
  approval_requests: ApprovalRequestsTable;
  approval_votes: ApprovalVotesTable;
  sso_connections: SsoConnectionsTable;
  replay_cache: ReplayCacheTable;
  sso_login_states: SsoLoginStatesTable;
  member_identities: MemberIdentitiesTable;
  group_role_mappings: GroupRoleMappingsTable;
  break_glass_accounts: BreakGlassAccountsTable;
  break_glass_throttles: BreakGlassThrottlesTable;
  impersonation_tokens: ImpersonationTokensTable;
  scim_tokens: ScimTokensTable;
  scim_groups: ScimGroupsTable;
  scim_group_members: ScimGroupMembersTable;
  principal_stops: PrincipalStopsTable;
  event_outbox: EventOutboxTable;
  restore_fences: RestoreFencesTable;
  counters: CountersTable;
}

/**
 * One bucket of a cluster-wide counter (counters/sql-counter.ts, docs/architecture.md §12).
 * PostgreSQL returns bigint columns as strings.
 */
export interface CountersTable {
  key: string;
  /** Start of the bucket, epoch milliseconds. */
  bucket: number | string;
  count: number;
  /** When the bucket has left every window it counts in (epoch milliseconds): pruned after. */
  expires_at: number | string;
}

/** One cluster event (events/outbox.ts): written in the transaction of the change it announces. */
export interface EventOutboxTable {
  /** Grows with every event; PostgreSQL returns it as a string (bigint). */
  seq: Generated<number | string>;
  topic: string;
  /** JSON of the event: ids only, never state. */
  payload: string;
  /** The process that wrote it, which delivered it to itself already. */
  origin: string;
  created_at: string;
}

/** A restore fence (consent/restore-fence.ts): every credential issued before the latest is refused. */
export interface RestoreFencesTable {
  id: string;
  fenced_at: string;
  reason: string;
}

/** The latest stop of a member or agent (tenancy/principal-stops.ts); kept after the principal is deleted. */
export interface PrincipalStopsTable {
  principal_id: string;
  org_id: string;
  stopped_at: string;
  /** When the principal was resumed or reactivated; null while it is stopped. */
  lifted_at: string | null;
}

/** Credentials accepted once (client assertions, trusted tokens), kept until they would have expired anyway. */
export interface ReplayCacheTable {
  /** SHA-256 of the namespace and the credential's id. */
  key_hash: string;
  expires_at: string;
}

/** An organization's SSO connection to its identity provider. */
export interface SsoConnectionsTable {
  id: string;
  org_id: string;
  protocol: 'oidc' | 'saml';
  name: string;
  status: 'active' | 'disabled';
  /** JSON array of lower-case email domains routed to this connection. */
  domains: string;
  /** JSON: the protocol's settings (sso/schemas.ts). */
  settings: string;
  /** Sealed OIDC client secret; null for SAML. */
  secret_ciphertext: string | null;
  /** 1: create members on first login; 0: only existing members may log in. */
  jit_provisioning: number;
  created_at: string;
  updated_at: string;
}

/** One SSO round trip in flight: single use, bound to the browser that started it. */
export interface SsoLoginStatesTable {
  state_hash: string;
  connection_id: string;
  org_id: string;
  nonce: string | null;
  code_verifier: string | null;
  /** SAML AuthnRequest id, checked against InResponseTo. */
  request_id: string | null;
  /** JSON: where the browser goes after login. */
  relay: string;
  browser_hash: string;
  created_at: string;
  expires_at: string;
  consumed_at: string | null;
}

/** The IdP subject (OIDC `sub`, SAML NameID) a member logs in as through a connection. */
export interface MemberIdentitiesTable {
  connection_id: string;
  subject: string;
  org_id: string;
  member_id: string;
  created_at: string;
  last_login_at: string | null;
}

/** An IdP group (SSO group claim value or SCIM group displayName) granting a role. */
export interface GroupRoleMappingsTable {
  org_id: string;
  group_name: string;
  role_id: string;
  created_at: string;
}

/** A break-glass local account: scrypt password plus a mandatory TOTP second factor. */
export interface BreakGlassAccountsTable {
  member_id: string;
  org_id: string;
  password_hash: string;
  totp_ciphertext: string;
  totp_confirmed_at: string | null;
  last_totp_step: number | null;
  /** Failures whose password was right (a wrong or reused code); at the limit the account locks. */
  failed_attempts: number;
  locked_until: string | null;
  /** Wrong passwords from every source since `password_failures_since` (the global cap). */
  password_failures: Generated<number>;
  password_failures_since: string | null;
  created_at: string;
  updated_at: string;
}

/** Break-glass failures of one source address against one account (break-glass/break-glass.ts). */
export interface BreakGlassThrottlesTable {
  member_id: string;
  source: string;
  failed_attempts: number;
  window_started_at: string;
  locked_until: string | null;
}

/** A single-use impersonation token (`mnd_imp_`), stored as SHA-256. */
export interface ImpersonationTokensTable {
  id: string;
  token_hash: string;
  org_id: string;
  impersonator_id: string;
  member_id: string;
  reason: string;
  created_at: string;
  expires_at: string;
  consumed_at: string | null;
}

/** An organization's SCIM bearer token (`mnd_scim_`), stored as SHA-256. */
export interface ScimTokensTable {
  id: string;
  org_id: string;
  token_hash: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface ScimGroupsTable {
  id: string;
  org_id: string;
  display_name: string;
  external_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface ScimGroupMembersTable {
  group_id: string;
  member_id: string;
}

/** An RFC 9396 authorization details type an organization accepts, and who approves it. */
export interface AuthorizationDetailTypesTable {
  org_id: string;
  type: string;
  description: string;
  /** JSON Schema of one authorization details object of this type. */
  schema: string;
  /** JSON: approvals/policy.ts ApprovalPolicy. */
  policy: string;
  created_at: string;
}

/** A CIBA request waiting for a person (OpenID CIBA Core 1.0). */
export interface ApprovalRequestsTable {
  id: string;
  org_id: string;
  /** SHA-256 of the auth_req_id handed to the client. */
  auth_req_hash: string;
  client_id: string;
  agent_id: string | null;
  /** The user the agent wants to act for. */
  member_id: string;
  resource: string;
  scope: string;
  /** JSON array (RFC 9396 §2), as validated. */
  authorization_details: string;
  binding_message: string | null;
  /** Ping mode: `{ auth_req_id, client_notification_token }` sealed with the master key; null in poll mode. */
  notification_ciphertext?: string | null;
  /** JSON: the policy in force when requested (approvers, separation of duties, N of M). */
  policy: string;
  status: 'pending' | 'approved' | 'denied' | 'expired' | 'consumed';
  interval_seconds: number;
  /** The client may not poll before this (CIBA §11 slow_down). */
  next_poll_at: string | null;
  expires_at: string;
  created_at: string;
  decided_at: string | null;
  /** When approvers were reminded of it (once, halfway to expiry). */
  reminded_at?: string | null;
  consumed_at: string | null;
}

export interface ApprovalVotesTable {
  request_id: string;
  member_id: string;
  decision: 'approve' | 'deny';
  at: string;
}

/** An organization's OAuth app at a third-party provider (token vault). */
export interface VaultConnectionsTable {
  id: string;
  org_id: string;
  /** Unique in the organization; what agents name (`connectionName`). */
  name: string;
  /** Catalog key (vault/providers/catalog.ts), or `generic`. */
  provider: string;
  client_id: string;
  /** The app's client secret, sealed with the master key (crypto/envelope.ts). */
  client_secret_ciphertext: string;
  /** Space-delimited: the scopes users may be asked for. */
  scopes: string;
  /** JSON: endpoint overrides (a self-hosted GitHub) or a generic provider's endpoints. */
  overrides: string | null;
  created_at: string;
  updated_at: string;
}

export type ConnectedAccountStatus = 'pending' | 'active' | 'expired' | 'revoked' | 'reauthorization_required';

/** One user's account at a provider, through one connection; tokens sealed with the master key. */
export interface ConnectedAccountsTable {
  id: string;
  org_id: string;
  connection_id: string;
  /** The user it belongs to (a member id). */
  identifier: string;
  status: ConnectedAccountStatus;
  scopes: string;
  access_token_ciphertext: string | null;
  refresh_token_ciphertext: string | null;
  expires_at: string | null;
  /** Which node refreshes now, and until when (one refresh at a time, cluster-wide). */
  refresh_lease_owner: string | null;
  refresh_lease_until: string | null;
  last_refreshed_at: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

/** An authorization link: single use, short-lived, stored by the SHA-256 of its token. */
export interface VaultAuthorizationLinksTable {
  id: string;
  org_id: string;
  connection_id: string;
  identifier: string;
  scopes: string;
  /** SHA-256 of the OAuth `state` sent to the provider, once the link was opened. */
  state_hash: string | null;
  code_verifier_ciphertext: string | null;
  /** SHA-256 of the cookie that binds the callback to the browser that opened the link. */
  browser_hash: string | null;
  expires_at: string;
  started_at: string | null;
  completed_at: string | null;
  created_at: string;
}

export interface PolicySetsTable {
  org_id: string;
  version: number;
  /** The Cedar text as uploaded. */
  source: string;
  /** JSON: policy id → policy text (ids from `@id("…")` annotations). */
  policies: string;
  created_at: string;
}

export interface ElevationsTable {
  id: string;
  org_id: string;
  principal_type: 'member' | 'agent';
  principal_id: string;
  /** The member who asked (for an agent: its owner). */
  requested_by: string;
  tool: string;
  action: string;
  justification: string;
  duration_seconds: number;
  /** JSON array of the environments the elevated permission applies in; null: all. */
  environments: string | null;
  /** The most sensitive data the elevated permission may touch; null: any. */
  max_classification: 'public' | 'internal' | 'confidential' | 'regulated' | null;
  status: 'pending' | 'approved' | 'denied';
  decided_by: string | null;
  decided_at: string | null;
  /** Set at approval: the elevation ends by itself then. */
  expires_at: string | null;
  created_at: string;
}

export interface RolesTable {
  id: string;
  org_id: string;
  name: string;
  description: string | null;
  created_at: string;
}

export interface RolePermissionsTable {
  id: string;
  role_id: string;
  tool: string;
  action: string;
  /** JSON array of environments, or null for all. */
  environments: string | null;
  max_classification: string | null;
  approval_required: number;
  /** JSON object of attribute constraints ("billing fields only"), carried into decisions. */
  constraints: string;
}

export interface RoleBindingsTable {
  role_id: string;
  org_id: string;
  principal_type: 'member' | 'agent';
  principal_id: string;
  created_at: string;
  /** 'manual': an administrator's; 'idp': follows the member's IdP groups (SSO claims, SCIM). */
  source?: 'manual' | 'idp';
}

export interface AgentsTable {
  id: string;
  org_id: string;
  name: string;
  purpose: string;
  /** The accountable member; required. */
  owner_member_id: string;
  technical_owner: string | null;
  environment: 'dev' | 'staging' | 'prod';
  version: string | null;
  /** active → suspended (kill switch) ↔ active; any → decommissioned, irreversibly. */
  status: 'active' | 'suspended' | 'decommissioned';
  status_reason: string | null;
  max_data_classification: 'public' | 'internal' | 'confidential' | 'regulated';
  /** JSON array of tool names. */
  allowed_tools: string;
  created_at: string;
  updated_at: string;
  last_access_at: string | null;
  /** Tokens issued to the agent's clients, counted in memory and flushed periodically. */
  tokens_issued: number;
  /**
   * Set by an anomaly response (anomaly/restrictions.ts): `read_only` keeps only read scopes in new
   * tokens, `approval_required` turns every allow into approval_required. Absent on insert: null.
   */
  restriction?: 'read_only' | 'approval_required' | null;
}

export interface OrganizationsTable {
  id: string;
  slug: string;
  name: string;
  /** JSON: allowed auth methods, sso_required, break-glass members, token lifetimes. */
  settings: string;
  created_at: string;
  updated_at: string;
}

export interface MembersTable {
  id: string;
  org_id: string;
  email: string;
  name: string | null;
  status: 'active' | 'invited' | 'suspended';
  created_at: string;
  updated_at: string;
  /** SCIM userName, when a SCIM client provisioned the member. */
  user_name?: string | null;
  /** SCIM externalId (the IdP's own id for the user). */
  external_id?: string | null;
  /** JSON: the SCIM user's other attributes as the IdP sent them. */
  scim_attributes?: string | null;
}

export interface AdminKeysTable {
  id: string;
  name: string;
  /** SHA-256 of the key; the key itself is shown once and never stored. */
  secret_hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  /** JSON public JWK, as published. */
  public_jwk: string;
  /** Private JWK sealed with the master key (crypto/envelope.ts). */
  private_jwk: string;
  state: 'next' | 'active' | 'retired';
  created_at: string;
  activated_at: string | null;
  retired_at: string | null;
}

export interface AuditEventsTable {
  /** The hash chain this event belongs to: the organization id, or `platform`. */
  chain_id: string;
  /** Position in the chain, from 1 with no gaps. */
  seq: number;
  id: string;
  org_id: string | null;
  at: string;
  kind: string;
  correlation_id: string | null;
  request_id: string | null;
  actor_id: string | null;
  agent_id: string | null;
  subject_id: string | null;
  tool: string | null;
  action: string | null;
  result: 'success' | 'failure';
  classification: string | null;
  jti: string | null;
  scope: string | null;
  grant_id: string | null;
  /** Canonical JSON of what changed. */
  detail: string;
  prev_hash: string;
  hash: string;
  // Extension fields (migration 0011): hashed only when set, so older events still verify.
  client_id?: string | null;
  agent_version?: string | null;
  agent_environment?: string | null;
  /** JSON of the RFC 8693 `act` delegation chain of the token exercised. */
  act?: string | null;
  error_code?: string | null;
  /** 1 when the grant the token came from stood when the event happened, 0 when it did not. */
  grant_valid?: number | null;
  started_at?: string | null;
  ended_at?: string | null;
  latency_ms?: number | null;
  /** On an outcome: the intent it completes. */
  intent_id?: string | null;
  run_id?: string | null;
  /** The address the request came from (migration 0016). */
  client_ip?: string | null;
}

export interface AuditChainHeadsTable {
  chain_id: string;
  seq: number;
  hash: string;
  /** After retention pruned a chain: the last pruned event (a signed checkpoint). 0 and the genesis hash otherwise. */
  base_seq: Generated<number>;
  base_hash: Generated<string>;
}

/** A signed statement of a chain's head, kept so a third party can hold copies. */
export interface AuditCheckpointsTable {
  chain_id: string;
  seq: number;
  hash: string;
  at: string;
  kid: string;
  /** Compact JWS (`typ: audit-checkpoint+jwt`) over { iss, chain_id, seq, hash, iat }. */
  jws: string;
}

/** A SIEM webhook receiving one chain's events, at least once, in order. */
export interface AuditSinksTable {
  id: string;
  chain_id: string;
  url: string;
  /** The HMAC secret, sealed with the master key (crypto/envelope.ts). */
  secret_ciphertext: string;
  status: 'active' | 'disabled';
  /** Last seq the receiver acknowledged. */
  delivered_seq: Generated<number>;
  attempts: Generated<number>;
  next_attempt_at: string | null;
  lease_owner: string | null;
  lease_until: string | null;
  dead_letters: Generated<number>;
  last_error: string | null;
  /** Last seq of the batch awaiting retry (migration 0012): a retry resends exactly that batch. */
  batch_to_seq: number | null;
  created_at: string;
  updated_at: string;
}

export interface AuditSinkDeadLettersTable {
  sink_id: string;
  from_seq: number;
  to_seq: number;
  attempts: number;
  error: string;
  at: string;
}

/** A resumable agent run: the last successful step and its state. */
export interface RunsTable {
  id: string;
  org_id: string;
  agent_id: string | null;
  member_id: string | null;
  client_id: string | null;
  grant_id: string | null;
  name: string;
  correlation_id: string;
  status: 'active' | 'completed' | 'failed';
  steps_completed: number;
  last_step: string | null;
  last_step_event_id: string | null;
  /** JSON of the state the last successful step checkpointed. */
  last_state: string | null;
  created_at: string;
  updated_at: string;
}

/** An API or MCP server that accepts Mandate access tokens (RFC 8707 resource indicator). */
export interface ResourcesTable {
  id: string;
  /** The resource indicator: an absolute URI without fragment; becomes the token's `aud`. */
  identifier: string;
  name: string;
  /** JSON: `[{ "name": "calendar.read", "description": "…" }]`. */
  scopes: string;
  access_token_ttl_seconds: number | null;
  /** JSON array of organization ids that may obtain tokens for it; null: every organization. */
  org_ids: string | null;
  /** The agent that serves this resource, which may exchange the tokens it receives (RFC 8693); null: none. */
  agent_id: string | null;
  created_at: string;
  updated_at: string;
}

/** A resource server's credential (`mnd_rs_`) for introspecting the tokens issued for it, stored as SHA-256. */
export interface ResourceCredentialsTable {
  id: string;
  resource_id: string;
  secret_hash: string;
  name: string;
  created_at: string;
  revoked_at: string | null;
}

/** An OAuth client. Its secrets live in client_secrets so they can rotate with an overlap. */
export interface ClientsTable {
  id: string;
  org_id: string | null;
  agent_id: string | null;
  name: string;
  type: 'confidential' | 'public';
  token_endpoint_auth_method: 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  /** JSON arrays. */
  redirect_uris: string;
  grant_types: string;
  /** Space-delimited scopes this client may ever receive. */
  scope: string;
  /** JSON array of resource identifiers this client may ask for. */
  resources: string;
  /** JSON JWK Set for private_key_jwt. */
  jwks: string | null;
  source: 'admin' | 'dcr' | 'cimd';
  status: 'active' | 'disabled';
  /** RFC 7592 registration access token digest (dynamically registered clients). */
  registration_token_hash: string | null;
  application_type: 'web' | 'native' | null;
  /** 1: this client must use pushed authorization requests (RFC 9126). */
  require_par: number;
  /** CIBA ping mode (OpenID CIBA Core §4): where Mandate pings when a request is decided. */
  backchannel_client_notification_endpoint?: string | null;
  created_at: string;
  updated_at: string;
}

export interface ClientSecretsTable {
  id: string;
  client_id: string;
  /** SHA-256 of the secret (crypto/secret-token.ts). */
  secret_hash: string;
  created_at: string;
  /** Set when rotated: the old secret keeps working until then (overlap window). */
  expires_at: string | null;
}

/** RFC 7009: a revoked access token's `jti`, refused until the token would have expired anyway. */
export interface RevokedAccessTokensTable {
  jti: string;
  expires_at: string;
  revoked_at: string;
}

/**
 * How an organization's own identity stack vouches for its users: Mandate accepts a JWT from
 * that issuer ("trusted auth token") in exchange for a session.
 */
export interface TrustedTokenProfilesTable {
  id: string;
  org_id: string;
  name: string;
  issuer: string;
  audience: string;
  jwks_url: string | null;
  public_key_pem: string | null;
  /** JSON: `{ subject, email, name?, roles? }` claim names. */
  claim_mapping: string;
  max_token_age_seconds: number;
  /** 1: create a member on first login; 0: only existing members may log in. */
  jit_provisioning: number;
  /** Where the authorization endpoint sends a user without a session (the customer's app). */
  login_url: string | null;
  created_at: string;
  updated_at: string;
}

/** A human session: the opaque token's SHA-256 is the key. */
export interface SessionsTable {
  id: string;
  token_hash: string;
  org_id: string;
  member_id: string;
  /** JSON array: how the human authenticated (trusted_token, sso, impersonation). */
  amr: string;
  impersonator_id: string | null;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  client_ip?: string | null;
  user_agent?: string | null;
  /** The SSO connection the session came through. */
  connection_id?: string | null;
}

/** One consent or authorization event: the root every delegated token references. */
export interface GrantsTable {
  id: string;
  org_id: string;
  member_id: string;
  client_id: string;
  agent_id: string | null;
  /** Space-delimited. */
  scope: string;
  resource: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
  revoked_reason: string | null;
}

/** A validated authorization request waiting for login or consent. */
export interface AuthorizationRequestsTable {
  id: string;
  client_id: string;
  /** JSON of the checked parameters. */
  params: string;
  /** SHA-256 of the CSRF token the consent form must echo. */
  csrf_hash: string;
  created_at: string;
  expires_at: string;
}

export interface AuthorizationCodesTable {
  code_hash: string;
  grant_id: string;
  client_id: string;
  redirect_uri: string;
  code_challenge: string;
  scope: string;
  resource: string;
  created_at: string;
  expires_at: string;
  consumed_at: string | null;
}

/** Opaque refresh tokens by SHA-256; rotated on every use (RFC 9700 §4.14.2). */
export interface RefreshTokensTable {
  token_hash: string;
  grant_id: string;
  client_id: string;
  scope: string;
  created_at: string;
  /** Sliding expiry: unused this long, it lapses. */
  expires_at: string;
  rotated_at: string | null;
  /** SHA-256 of the token that replaced this one. */
  successor_hash: string | null;
  /** The successor's token response, sealed, kept only for the reuse window while the successor is unused. */
  successor_ciphertext: string | null;
}

/** Columns Kysely fills itself are marked Generated; none yet, kept for later tables. */
export type MaybeGenerated<T> = Generated<T>;
