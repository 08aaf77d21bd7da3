import { createHash, X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import { generateServiceProviderMetadata } from '@node-saml/node-saml';
import { InvalidRequestError } from '../errors.js';
import { ssoCallbackUrl } from './protocol.js';

/** The part of the DOM (xmldom, the parser node-saml and xml-crypto use) that Mandate reads. */
export interface XmlNode {
  readonly nodeType: number;
  readonly firstChild: XmlNode | null;
  readonly nextSibling: XmlNode | null;
  readonly textContent: string | null;
}
export interface XmlElement extends XmlNode {
  readonly namespaceURI: string | null;
  readonly localName: string;
  getAttribute(name: string): string | null;
  getElementsByTagNameNS(namespace: string, localName: string): ArrayLike<XmlElement>;
}
export interface XmlDocument extends XmlNode {
  readonly documentElement: XmlElement | null;
  getElementsByTagNameNS(namespace: string, localName: string): ArrayLike<XmlElement>;
}
interface XmlParser {
  parseFromString(xml: string, mimeType: string): XmlDocument | undefined;
}
type XmlErrorHandler = { warning: (message: unknown) => void; error: (message: unknown) => void; fatalError: (message: unknown) => void };

// Loaded without its type declarations: they pull the browser DOM library into the whole program.
const { DOMParser } = createRequire(import.meta.url)('@xmldom/xmldom') as {
  DOMParser: new (options: { errorHandler: XmlErrorHandler }) => XmlParser;
};

/** XML namespaces of SAML 2.0 (saml-core §1.2, saml-metadata §1.1) and XML Signature. */
export const NS = {
  metadata: 'urn:oasis:names:tc:SAML:2.0:metadata',
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
} as const;

export const BINDINGS = {
  redirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
  post: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
} as const;

export type SsoBinding = keyof typeof BINDINGS;

/** What Mandate needs from an identity provider's metadata. */
export interface IdpMetadata {
  entityId: string;
  ssoUrl: string;
  ssoBinding: SsoBinding;
  /** PEM certificates the IdP signs with. */
  certificates: string[];
}

/** Metadata documents and SAML messages are small; a larger one is refused before parsing. */
export const MAX_XML_CHARS = 512 * 1024;
const MAX_CERTIFICATES = 10;

/** The XML was malformed, too large or carried a DTD; the message is safe to show. */
export class XmlRefused extends Error {
  override name = 'XmlRefused';
}

/**
 * Parses XML into a namespace-aware DOM. A DTD is refused outright: SAML has no use for one and
 * it is the vehicle of entity-expansion and external-entity attacks.
 */
export function parseXml(xml: string): XmlDocument & { documentElement: XmlElement } {
  if (xml.length > MAX_XML_CHARS) throw new XmlRefused('the XML document is too large');
  if (/<!DOCTYPE/i.test(xml)) throw new XmlRefused('the XML document carries a DTD');
  const fail = (message: unknown) => {
    throw new XmlRefused(`the XML document is malformed (${String(message).split('\n')[0]?.slice(0, 200)})`);
  };
  let doc: XmlDocument | undefined;
  try {
    doc = new DOMParser({ errorHandler: { warning: () => {}, error: fail, fatalError: fail } }).parseFromString(xml, 'text/xml');
  } catch (error) {
    if (error instanceof XmlRefused) throw error;
    throw new XmlRefused('the XML document is malformed');
  }
  const root = doc?.documentElement;
  if (!doc || !root) throw new XmlRefused('the XML document has no root element');
  return Object.assign(doc, { documentElement: root });
}

/** Child elements of `parent` with this namespace and local name (direct children only). */
export function childElements(parent: XmlElement, ns: string, localName: string): XmlElement[] {
  const found: XmlElement[] = [];
  for (let node = parent.firstChild; node; node = node.nextSibling) {
    if (node.nodeType !== 1) continue;
    const element = node as XmlElement;
    if (element.namespaceURI === ns && element.localName === localName) found.push(element);
  }
  return found;
}

/** Descendant elements of `parent` with this namespace and local name. */
export function descendantElements(parent: XmlElement | XmlDocument, ns: string, localName: string): XmlElement[] {
  return Array.from(parent.getElementsByTagNameNS(ns, localName));
}

/**
 * A certificate as the administrator or the metadata gave it (PEM, or the bare base64 of a
 * ds:X509Certificate) as normalized PEM. Only RSA keys: XML Signature in xml-crypto verifies RSA.
 */
export function normalizeCertificate(input: string, where: string): string {
  const body = input
    .replace(/-----(BEGIN|END) CERTIFICATE-----/g, '')
    .replace(/\s+/g, '')
    .trim();
  if (!body || body.length > 16_384 || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw new InvalidRequestError(`${where} is not a certificate`);
  const pem = `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)?.join('\n')}\n-----END CERTIFICATE-----\n`;
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pem);
  } catch {
    throw new InvalidRequestError(`${where} is not a valid X.509 certificate`);
  }
  if (certificate.publicKey.asymmetricKeyType !== 'rsa')
    throw new InvalidRequestError(`${where} must hold an RSA key (the IdP's signing key)`);
  return pem;
}

/** What the admin API shows of a certificate: enough to compare with the IdP's console, nothing to paste. */
export function describeCertificate(pem: string): { sha256_fingerprint: string; subject: string; not_after: string } {
  const certificate = new X509Certificate(pem);
  return {
    sha256_fingerprint: createHash('sha256').update(certificate.raw).digest('hex').toUpperCase().match(/../g)?.join(':') ?? '',
    subject: certificate.subject,
    not_after: new Date(certificate.validTo).toISOString(),
  };
}

/** The single EntityDescriptor with an IDPSSODescriptor, from an EntityDescriptor or an EntitiesDescriptor. */
function identityProviderEntity(doc: ReturnType<typeof parseXml>): { entity: XmlElement; idp: XmlElement } {
  const root = doc.documentElement;
  if (root.namespaceURI !== NS.metadata || !['EntityDescriptor', 'EntitiesDescriptor'].includes(root.localName))
    throw new InvalidRequestError('metadata_xml is not SAML 2.0 metadata (an md:EntityDescriptor)');
  const entities = root.localName === 'EntityDescriptor' ? [root] : descendantElements(root, NS.metadata, 'EntityDescriptor');
  const idps = entities.flatMap((entity) =>
    childElements(entity, NS.metadata, 'IDPSSODescriptor')
      .filter((idp) => (idp.getAttribute('protocolSupportEnumeration') ?? '').split(/\s+/).includes(NS.protocol))
      .map((idp) => ({ entity, idp })),
  );
  const [only, ...more] = idps;
  if (!only) throw new InvalidRequestError('metadata_xml describes no SAML 2.0 identity provider (IDPSSODescriptor)');
  if (more.length > 0)
    throw new InvalidRequestError('metadata_xml describes several identity providers; give the metadata of the one to use');
  return only;
}

/**
 * Reads an IdP's metadata (saml-metadata §2.4.3): its entity id, its SingleSignOnService (HTTP-Redirect
 * preferred, else HTTP-POST) and its signing certificates (KeyDescriptor use="signing" or without use).
 * The metadata's own signature is not checked: the administrator vouches for what they paste.
 */
export function parseIdpMetadata(xml: string): IdpMetadata {
  let doc: ReturnType<typeof parseXml>;
  try {
    doc = parseXml(xml);
  } catch (error) {
    if (error instanceof XmlRefused) throw new InvalidRequestError(`metadata_xml: ${error.message}`);
    throw error;
  }
  const { entity, idp } = identityProviderEntity(doc);
  const entityId = entity.getAttribute('entityID')?.trim();
  if (!entityId) throw new InvalidRequestError('metadata_xml: the EntityDescriptor has no entityID');

  const services = childElements(idp, NS.metadata, 'SingleSignOnService');
  const pick = (binding: SsoBinding) =>
    services
      .find((s) => s.getAttribute('Binding') === BINDINGS[binding])
      ?.getAttribute('Location')
      ?.trim();
  const redirect = pick('redirect');
  const post = pick('post');
  const ssoBinding: SsoBinding | undefined = redirect ? 'redirect' : post ? 'post' : undefined;
  const ssoUrl = redirect ?? post;
  if (!ssoBinding || !ssoUrl)
    throw new InvalidRequestError('metadata_xml: the IdP offers no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding');

  const certificates = new Set<string>();
  for (const key of childElements(idp, NS.metadata, 'KeyDescriptor')) {
    const use = key.getAttribute('use');
    if (use && use !== 'signing') continue;
    for (const element of descendantElements(key, NS.dsig, 'X509Certificate'))
      certificates.add(normalizeCertificate(element.textContent ?? '', 'a signing certificate in metadata_xml'));
  }
  if (certificates.size === 0) throw new InvalidRequestError('metadata_xml: the IdP names no signing certificate');
  if (certificates.size > MAX_CERTIFICATES)
    throw new InvalidRequestError(`metadata_xml: more than ${MAX_CERTIFICATES} signing certificates`);
  return { entityId, ssoUrl, ssoBinding, certificates: [...certificates] };
}

/** Where Mandate stands as service provider for one connection. */
export interface ServiceProviderEndpoints {
  /** The SP entity id: the audience every assertion must name. */
  entityId: string;
  /** The AssertionConsumerService URL: the SSO core's one callback route. */
  acsUrl: string;
  metadataUrl: string;
}

export function serviceProviderEndpoints(issuer: string, connectionId: string): ServiceProviderEndpoints {
  return {
    entityId: `${issuer}/sso/saml/${connectionId}`,
    acsUrl: ssoCallbackUrl(issuer, connectionId),
    metadataUrl: `${issuer}/sso/saml/${connectionId}/metadata`,
  };
}

/**
 * The SP's metadata (saml-metadata §2.4.4) for the IdP administrator to import: entity id, the
 * HTTP-POST AssertionConsumerService, WantAssertionsSigned. AuthnRequests are not signed.
 */
export function serviceProviderMetadata(sp: ServiceProviderEndpoints, nameIdFormat: string | null): string {
  return generateServiceProviderMetadata({
    issuer: sp.entityId,
    callbackUrl: sp.acsUrl,
    identifierFormat: nameIdFormat,
    wantAssertionsSigned: true,
  });
}
