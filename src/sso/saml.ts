import { randomBytes } from 'node:crypto';
import { type CacheProvider, type Profile, SAML, type SamlConfig, ValidateInResponseTo } from '@node-saml/node-saml';
import type { Clock } from '../clock.js';
import { ReplayCache } from '../crypto/replay-cache.js';
import { InvalidRequestError, NotFoundError } from '../errors.js';
import { isLoopbackHostname } from '../outbound/address-guard.js';
import type { Store } from '../store/store.js';
import type { PendingSsoLogin, SsoBegun, SsoCallback, SsoConnection, SsoIdentity, SsoProtocol } from './protocol.js';
import { SsoRejected } from './protocol.js';
import { checkEnvelope, decodeResponse, readVerifiedAssertion, type VerifiedAssertion } from './saml-assertion.js';
import {
  describeCertificate,
  MAX_XML_CHARS,
  normalizeCertificate,
  parseIdpMetadata,
  type SsoBinding,
  serviceProviderEndpoints,
  serviceProviderMetadata,
} from './saml-metadata.js';

/** A SAML connection's settings as stored (sso_connections.settings). */
export type SamlSettings = {
  idp_entity_id: string;
  idp_sso_url: string;
  idp_sso_binding: SsoBinding;
  /** PEM certificates whose keys may sign assertions (more than one during an IdP key rollover). */
  idp_certificates: string[];
  /** NameIDPolicy Format asked of the IdP; null lets the IdP choose. */
  name_id_format: string | null;
  email_attribute: string | null;
  name_attribute: string | null;
  groups_attribute: string | null;
};

/** What an administrator sends: IdP metadata, or the three values by hand; attribute names optional. */
export interface SamlSettingsInput {
  metadata_xml?: string;
  idp_entity_id?: string;
  idp_sso_url?: string;
  idp_sso_binding?: SsoBinding;
  idp_certificates?: string[];
  name_id_format?: string | null;
  email_attribute?: string | null;
  name_attribute?: string | null;
  groups_attribute?: string | null;
}

export interface SamlProtocolDeps {
  store: Store;
  clock: Clock;
  /** Mandate's public issuer URL: the SP entity id and ACS URL hang off it. */
  issuer: string;
  /** Development only (config.devAllowLoopbackFetch): accept an http IdP SSO URL on a loopback host. */
  allowLoopback: boolean;
}

/** Clocks of Mandate and the IdP may differ by this much, in either direction. */
export const CLOCK_SKEW_MS = 60_000;

const TRANSIENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient';
const INPUT_KEYS = new Set<string>([
  'metadata_xml',
  'idp_entity_id',
  'idp_sso_url',
  'idp_sso_binding',
  'idp_certificates',
  'name_id_format',
  'email_attribute',
  'name_attribute',
  'groups_attribute',
]);

/** Attribute names IdPs commonly use, tried in order when the connection names none. */
const DEFAULT_ATTRIBUTES = {
  email: [
    'email',
    'mail',
    'emailAddress',
    'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
    'urn:oid:0.9.2342.19200300.100.1.3',
  ],
  name: ['name', 'displayName', 'http://schemas.microsoft.com/identity/claims/displayname', 'urn:oid:2.16.840.1.113730.3.1.241', 'cn'],
  groups: ['groups', 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups', 'memberOf'],
};
const MAX_GROUPS = 500;

/** node-saml keeps request ids in process memory by default; Mandate checks InResponseTo against the login state. */
const noRequestCache: CacheProvider = {
  saveAsync: async () => {
    throw new Error('SAML request ids are kept in the login state, not in node-saml');
  },
  getAsync: async () => null,
  removeAsync: async () => null,
};

/** The replay-cache namespace of a connection's assertion ids. */
export function samlReplayNamespace(connectionId: string): string {
  return `saml_assertion ${connectionId}`;
}

/** SAML 2.0 Web Browser SSO (saml-profiles §4.1) with Mandate as service provider. */
export class SamlProtocol implements SsoProtocol<SamlSettings, unknown> {
  readonly protocol = 'saml' as const;

  private readonly replays: ReplayCache;

  constructor(private readonly deps: SamlProtocolDeps) {
    this.replays = new ReplayCache(deps.store.db);
  }

  async prepareSettings(input: unknown): Promise<SamlSettings> {
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      throw new InvalidRequestError('SAML settings must be an object');
    const given = input as Record<string, unknown>;
    for (const key of Object.keys(given)) if (!INPUT_KEYS.has(key)) throw new InvalidRequestError(`unknown SAML setting "${key}"`);
    const optional = (key: keyof SamlSettingsInput, max: number): string | null => {
      const value = given[key];
      if (value === undefined || value === null) return null;
      if (typeof value !== 'string' || value.trim() === '' || value.length > max || hasControl(value))
        throw new InvalidRequestError(`${key} must be a non-empty string of at most ${max} characters`);
      return value.trim();
    };
    const common = {
      name_id_format: optional('name_id_format', 256),
      email_attribute: optional('email_attribute', 256),
      name_attribute: optional('name_attribute', 256),
      groups_attribute: optional('groups_attribute', 256),
    };
    const manual = ['idp_entity_id', 'idp_sso_url', 'idp_sso_binding', 'idp_certificates'].filter((key) => given[key] !== undefined);
    if (given.metadata_xml !== undefined) {
      if (manual.length > 0) throw new InvalidRequestError(`give metadata_xml or ${manual.join(', ')}, not both`);
      if (typeof given.metadata_xml !== 'string' || given.metadata_xml.length > MAX_XML_CHARS)
        throw new InvalidRequestError('metadata_xml must be the IdP metadata XML as a string');
      const metadata = parseIdpMetadata(given.metadata_xml);
      return {
        idp_entity_id: checkEntityId(metadata.entityId, 'the metadata entityID'),
        idp_sso_url: this.checkSsoUrl(metadata.ssoUrl),
        idp_sso_binding: metadata.ssoBinding,
        idp_certificates: metadata.certificates,
        ...common,
      };
    }
    const certificates = given.idp_certificates;
    if (!Array.isArray(certificates) || certificates.length === 0 || certificates.length > 10)
      throw new InvalidRequestError(
        'give metadata_xml, or idp_entity_id, idp_sso_url and idp_certificates (1 to 10 PEM signing certificates)',
      );
    const binding = given.idp_sso_binding ?? 'redirect';
    if (binding !== 'redirect' && binding !== 'post') throw new InvalidRequestError('idp_sso_binding must be "redirect" or "post"');
    return {
      idp_entity_id: checkEntityId(given.idp_entity_id, 'idp_entity_id'),
      idp_sso_url: this.checkSsoUrl(given.idp_sso_url),
      idp_sso_binding: binding,
      idp_certificates: [
        ...new Set(
          certificates.map((pem, i) => {
            if (typeof pem !== 'string') throw new InvalidRequestError(`idp_certificates[${i}] must be a PEM string`);
            return normalizeCertificate(pem, `idp_certificates[${i}]`);
          }),
        ),
      ],
      ...common,
    };
  }

  publicSettings(settings: SamlSettings, connectionId: string): Record<string, unknown> {
    const sp = serviceProviderEndpoints(this.deps.issuer, connectionId);
    return {
      idp_entity_id: settings.idp_entity_id,
      idp_sso_url: settings.idp_sso_url,
      idp_sso_binding: settings.idp_sso_binding,
      idp_certificates: settings.idp_certificates.map(describeCertificate),
      name_id_format: settings.name_id_format,
      email_attribute: settings.email_attribute,
      name_attribute: settings.name_attribute,
      groups_attribute: settings.groups_attribute,
      sp_entity_id: sp.entityId,
      acs_url: sp.acsUrl,
      sp_metadata_url: sp.metadataUrl,
    };
  }

  async begin(connection: SsoConnection<SamlSettings>, state: string): Promise<SsoBegun> {
    // saml-bindings §3.4.3 / §3.5.3: RelayState MUST NOT exceed 80 bytes.
    if (Buffer.byteLength(state) > 80) throw new Error('SAML RelayState exceeds 80 bytes');
    // An xs:ID must be an NCName: it may not start with a digit.
    const requestId = `_${randomBytes(20).toString('hex')}`;
    const saml = this.samlFor(connection, () => requestId);
    if (connection.settings.idp_sso_binding === 'post') {
      const message = await saml.getAuthorizeMessageAsync(state);
      const fields = Object.fromEntries(Object.entries(message).map(([k, v]) => [k, String(v)]));
      return { send: { kind: 'post', action: connection.settings.idp_sso_url, fields }, requestId };
    }
    return { send: { kind: 'redirect', location: await saml.getAuthorizeUrlAsync(state, undefined, {}) }, requestId };
  }

  async complete(connection: SsoConnection<SamlSettings>, callback: SsoCallback, pending: PendingSsoLogin): Promise<SsoIdentity> {
    const sp = serviceProviderEndpoints(this.deps.issuer, connection.row.id);
    if (!pending.requestId) throw new SsoRejected('the login has no SAML request to answer');
    const encoded = callback.body.SAMLResponse;
    if (!encoded) throw new SsoRejected('no SAMLResponse was posted');
    if (callback.body.RelayState !== pending.state) throw new SsoRejected('RelayState does not name this login');
    const document = decodeResponse(encoded);
    checkEnvelope(document, sp.acsUrl, pending.requestId);

    let profile: Profile;
    try {
      const result = await this.samlFor(connection).validatePostResponseAsync({ SAMLResponse: encoded });
      if (!result.profile) throw new SsoRejected('the response carries no assertion');
      profile = result.profile;
    } catch (error) {
      if (error instanceof SsoRejected) throw error;
      throw new SsoRejected(rejectionOf(error));
    }
    const verifiedXml = profile.getAssertionXml?.();
    if (!verifiedXml) throw new SsoRejected('no signed assertion');
    const assertion = readVerifiedAssertion(verifiedXml);
    // The NameID read from the signed bytes must be what node-saml read: a comment or a second
    // text node inside it (CVE-2017-11427 class) would otherwise log in as a truncated name.
    if (profile.nameID !== assertion.nameId) throw new SsoRejected('NameID is ambiguous');
    const expiresAt = this.checkAssertion(assertion, { sp, idpEntityId: connection.settings.idp_entity_id, requestId: pending.requestId });
    const identity = identityOf(assertion, connection.settings);
    await this.recordAssertion(connection.row.id, assertion.id, expiresAt);
    return identity;
  }

  /** The SP metadata of one SAML connection, for the IdP administrator; NotFound for anything else. */
  async serviceProviderMetadata(connectionId: string): Promise<string> {
    const row = await this.deps.store.db
      .selectFrom('sso_connections')
      .select(['id', 'protocol', 'settings'])
      .where('id', '=', connectionId)
      .executeTakeFirst();
    if (row?.protocol !== 'saml') throw new NotFoundError('SAML connection');
    const settings = JSON.parse(row.settings) as Partial<SamlSettings>;
    return serviceProviderMetadata(serviceProviderEndpoints(this.deps.issuer, row.id), settings.name_id_format ?? null);
  }

  private samlFor(connection: SsoConnection<SamlSettings>, generateUniqueId?: () => string): SAML {
    const sp = serviceProviderEndpoints(this.deps.issuer, connection.row.id);
    const { settings } = connection;
    const config: SamlConfig = {
      idpCert: settings.idp_certificates,
      issuer: sp.entityId,
      callbackUrl: sp.acsUrl,
      audience: sp.entityId,
      idpIssuer: settings.idp_entity_id,
      entryPoint: settings.idp_sso_url,
      authnRequestBinding: settings.idp_sso_binding === 'post' ? 'HTTP-POST' : 'HTTP-Redirect',
      // saml-bindings §3.5.4: HTTP-POST carries the request base64-encoded, not DEFLATEd.
      skipRequestCompression: settings.idp_sso_binding === 'post',
      identifierFormat: settings.name_id_format,
      disableRequestedAuthnContext: true,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      // Times are checked against Mandate's clock in checkAssertion, InResponseTo against the login state.
      acceptedClockSkewMs: -1,
      validateInResponseTo: ValidateInResponseTo.never,
      cacheProvider: noRequestCache,
      signatureAlgorithm: 'sha256',
      ...(generateUniqueId && { generateUniqueId }),
    };
    return new SAML(config);
  }

  /**
   * saml-profiles §4.1.4.3: the issuer is the IdP, the audience is Mandate, the assertion is
   * within its validity window, and one bearer SubjectConfirmation names Mandate's ACS URL as
   * Recipient and this login's AuthnRequest as InResponseTo. Returns until when to remember its id.
   */
  private checkAssertion(
    assertion: VerifiedAssertion,
    expected: { sp: { entityId: string; acsUrl: string }; idpEntityId: string; requestId: string },
  ): number {
    const now = this.deps.clock.now();
    if (assertion.issuer !== expected.idpEntityId) throw new SsoRejected('the assertion was issued by another identity provider');
    if (assertion.issueInstant > now + CLOCK_SKEW_MS) throw new SsoRejected('the assertion was issued in the future');
    const { conditions } = assertion;
    if (conditions.notBefore !== null && now + CLOCK_SKEW_MS < conditions.notBefore)
      throw new SsoRejected('the assertion is not yet valid');
    if (conditions.notOnOrAfter !== null && now - CLOCK_SKEW_MS >= conditions.notOnOrAfter)
      throw new SsoRejected('the assertion has expired');
    // saml-core §2.5.1.4: every AudienceRestriction must name Mandate.
    if (conditions.audiences.length === 0 || !conditions.audiences.every((list) => list.includes(expected.sp.entityId)))
      throw new SsoRejected('the assertion is meant for another audience');
    const bearers = assertion.bearerConfirmations;
    if (bearers.length === 0) throw new SsoRejected('the assertion has no bearer subject confirmation');
    const confirmation = bearers.find((c) => c.recipient === expected.sp.acsUrl);
    if (!confirmation) throw new SsoRejected('the assertion is meant for another recipient');
    if (confirmation.notOnOrAfter === null) throw new SsoRejected('the subject confirmation has no NotOnOrAfter');
    if (now - CLOCK_SKEW_MS >= confirmation.notOnOrAfter) throw new SsoRejected('the assertion has expired');
    if (confirmation.notBefore !== null && now + CLOCK_SKEW_MS < confirmation.notBefore)
      throw new SsoRejected('the assertion is not yet valid');
    if (confirmation.inResponseTo !== expected.requestId) throw new SsoRejected('the assertion answers another login request');
    const until = Math.min(confirmation.notOnOrAfter, conditions.notOnOrAfter ?? Number.POSITIVE_INFINITY);
    return until + CLOCK_SKEW_MS;
  }

  /**
   * saml-profiles §4.1.4.5: a bearer assertion is used once. The id goes into the replay cache shared by
   * every node, so a second use fails on its primary key whichever node it reaches.
   */
  private async recordAssertion(connectionId: string, assertionId: string, expiresAt: number): Promise<void> {
    await this.replays.prune(new Date(this.deps.clock.now()));
    if (!(await this.replays.firstUse(samlReplayNamespace(connectionId), assertionId, new Date(expiresAt)))) {
      throw new SsoRejected('the assertion was already used');
    }
  }

  private checkSsoUrl(value: unknown): string {
    if (typeof value !== 'string' || value.length > 2000) throw new InvalidRequestError('idp_sso_url must be a URL');
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new InvalidRequestError('idp_sso_url must be a URL');
    }
    const loopbackHttp = url.protocol === 'http:' && this.deps.allowLoopback && isLoopbackHostname(url.hostname);
    if (url.protocol !== 'https:' && !loopbackHttp) throw new InvalidRequestError('idp_sso_url must be an https URL');
    if (url.username || url.password || url.hash) throw new InvalidRequestError('idp_sso_url must not carry credentials or a fragment');
    return value;
  }
}

function hasControl(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function checkEntityId(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > 1024 || hasControl(value))
    throw new InvalidRequestError(`${what} must be the IdP's entity id (at most 1024 characters)`);
  return value.trim();
}

/** node-saml's refusal as a reason that names the failed check, never the assertion's content. */
function rejectionOf(error: unknown): string {
  const message = error instanceof Error ? error.message : '';
  if (/signature|signed/i.test(message)) return 'the assertion is not validly signed by the identity provider';
  if (/audience/i.test(message)) return 'the assertion is meant for another audience';
  if (/decryption|encrypted/i.test(message)) return 'encrypted assertions are not supported';
  if (/SAML provider returned/i.test(message)) return 'the identity provider refused the login';
  if (/missing SAML assertion/i.test(message)) return 'the response carries no assertion';
  return 'the SAML response is invalid';
}

/** The names to read an attribute under: the connection's, else the common ones in order. */
function namesOf(configured: string | null, defaults: string[]): string[] {
  return configured ? [configured] : defaults;
}

function attribute(assertion: VerifiedAssertion, names: string[]): string[] {
  for (const name of names) {
    const values = assertion.attributes.get(name);
    if (values && values.length > 0) return values;
  }
  return [];
}

function looksLikeEmail(value: string): boolean {
  return value.length <= 320 && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value);
}

/** The person as the connection's attribute names read them (defaults: NameID as email, common attribute names). */
function identityOf(assertion: VerifiedAssertion, settings: SamlSettings): SsoIdentity {
  if (assertion.nameIdFormat === TRANSIENT) throw new SsoRejected('a transient NameID cannot identify a member');
  const byAttribute = attribute(assertion, namesOf(settings.email_attribute, DEFAULT_ATTRIBUTES.email))[0];
  const nameId = assertion.nameId.trim();
  const email = settings.email_attribute || !looksLikeEmail(nameId) ? byAttribute : nameId;
  if (!email || !looksLikeEmail(email)) throw new SsoRejected('the assertion names no email address');
  const name = attribute(assertion, namesOf(settings.name_attribute, DEFAULT_ATTRIBUTES.name))[0];
  const groupNames = namesOf(settings.groups_attribute, DEFAULT_ATTRIBUTES.groups);
  const groups = [...new Set(attribute(assertion, groupNames))].filter((group) => group.length > 0 && group.length <= 256);
  if (groups.length > MAX_GROUPS) throw new SsoRejected(`the assertion names more than ${MAX_GROUPS} groups`);
  return {
    subject: nameId,
    email,
    ...(name && { name: name.slice(0, 200) }),
    groups,
    // No groups attribute at all leaves the member's IdP role bindings as they are.
    groupsAsserted: groupNames.some((groupName) => assertion.attributes.has(groupName)),
    detail: { assertion_id: assertion.id, ...(assertion.sessionIndex && { session_index: assertion.sessionIndex }) },
  };
}
