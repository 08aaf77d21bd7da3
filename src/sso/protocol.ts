import type { Clock } from '../clock.js';
import type { Envelope } from '../crypto/envelope.js';
import { MandateError } from '../errors.js';
import type { SsoConnectionsTable } from '../store/schema.js';
import type { Store } from '../store/store.js';

/**
 * One SSO protocol (OIDC, SAML) behind one interface: the SSO login service (sso-login.ts)
 * owns connections, login states, browser binding, provisioning, policy and sessions, and asks
 * the protocol only to start a login and to verify the identity provider's answer.
 */

/** What the identity provider asserted about the person, after every check of the protocol passed. */
export interface SsoIdentity {
  /** OIDC `sub` or SAML NameID: the stable key of the person at this connection. */
  subject: string;
  email: string;
  name?: string;
  /** Group names from the IdP (a groups claim or attribute); mapped to roles by GroupRoles. */
  groups: string[];
  /**
   * False when the IdP sent no groups claim or attribute at all: the member's `idp` role bindings
   * are then left as they are. Unset counts as sent (an empty `groups` then removes them).
   */
  groupsAsserted?: boolean;
  /** Audited with the login (never a token or assertion): e.g. the SAML assertion id, the OIDC `acr`. */
  detail?: Record<string, unknown>;
}

/** A connection as a protocol sees it: its row, its parsed settings and, for OIDC, its unsealed secret. */
export interface SsoConnection<Settings = Record<string, unknown>> {
  row: SsoConnectionsTable;
  settings: Settings;
  /** The OIDC client secret, unsealed only for the call; never logged. */
  secret?: string;
}

/** How the protocol wants the browser sent to the identity provider. */
export type SsoRedirect = { kind: 'redirect'; location: string } | { kind: 'post'; action: string; fields: Record<string, string> };

/** What `begin` asks the login service to remember with the login state, for `complete`. */
export interface SsoBegun {
  send: SsoRedirect;
  nonce?: string;
  codeVerifier?: string;
  /** SAML: the AuthnRequest ID, checked against the response's InResponseTo. */
  requestId?: string;
}

/** The login state `complete` receives back (already looked up by state, unexpired, unconsumed, browser-bound). */
export interface PendingSsoLogin {
  state: string;
  nonce: string | null;
  codeVerifier: string | null;
  requestId: string | null;
}

/** The identity provider's answer as it reached Mandate: the callback's query (OIDC) or form body (SAML). */
export interface SsoCallback {
  /** The full callback URL as Mandate's public issuer names it (for OIDC's redirect_uri and `iss` checks). */
  url: URL;
  query: Record<string, string>;
  body: Record<string, string>;
}

export interface SsoProtocol<Settings = Record<string, unknown>, Input = unknown> {
  readonly protocol: SsoConnectionsTable['protocol'];
  /**
   * Checks an administrator's settings and returns what to store (OIDC: discovery fetched and its
   * issuer matched; SAML: IdP metadata parsed into entity id, SSO URL and certificates).
   * Throws InvalidRequestError with a clear reason.
   */
  prepareSettings(input: Input): Promise<Settings>;
  /** The settings as the admin API shows them (no secrets). */
  publicSettings(settings: Settings, connectionId: string): Record<string, unknown>;
  /** Where to send the browser, for a login whose opaque `state` (OIDC state, SAML RelayState) is given. */
  begin(connection: SsoConnection<Settings>, state: string): Promise<SsoBegun>;
  /**
   * Verifies the answer against the pending login; throws {@link SsoRejected} with the failed check.
   * Called outside any transaction (after the login state was consumed), so it may use the store
   * itself, e.g. for SAML's replay cache.
   */
  complete(connection: SsoConnection<Settings>, callback: SsoCallback, pending: PendingSsoLogin): Promise<SsoIdentity>;
}

/** The identity provider's answer failed a check; the reason names the check, never the assertion. */
export class SsoRejected extends MandateError {
  constructor(readonly reason: string) {
    super('unauthorized', `SSO login rejected: ${reason}`);
  }
}

/**
 * The one callback of a connection, for both protocols: OIDC's redirect_uri (GET, query) and
 * SAML's Assertion Consumer Service URL (POST, form body).
 */
export function ssoCallbackUrl(issuer: string, connectionId: string): string {
  return `${issuer}/sso/callback/${encodeURIComponent(connectionId)}`;
}

/** What every SSO protocol may be built from. */
export interface SsoProtocolDeps {
  store: Store;
  clock: Clock;
  envelope: Envelope;
  /** Mandate's public issuer: callback URLs (ssoCallbackUrl) and SAML's SP entity id derive from it. */
  issuer: string;
  /** Development only: identity providers over http:// and on loopback. */
  allowLoopback: boolean;
}
