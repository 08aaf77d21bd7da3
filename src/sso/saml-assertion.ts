import { SsoRejected } from './protocol.js';
import { childElements, descendantElements, MAX_XML_CHARS, NS, parseXml, type XmlElement, XmlRefused } from './saml-metadata.js';

type ParsedXml = ReturnType<typeof parseXml>;

/** What a signature-verified assertion says, read from the signed bytes only. */
export interface VerifiedAssertion {
  id: string;
  issuer: string;
  issueInstant: number;
  nameId: string;
  nameIdFormat: string | null;
  sessionIndex: string | null;
  conditions: {
    notBefore: number | null;
    notOnOrAfter: number | null;
    /** One list per AudienceRestriction. */
    audiences: string[][];
  };
  bearerConfirmations: { recipient: string | null; notBefore: number | null; notOnOrAfter: number | null; inResponseTo: string | null }[];
  attributes: Map<string, string[]>;
}

const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';

/** The posted SAMLResponse as a DOM: strict base64, bounded size, no DTD. */
export function decodeResponse(encoded: string): ParsedXml {
  if (encoded.length > MAX_XML_CHARS * 1.4 || !/^[A-Za-z0-9+/\r\n]+={0,2}\s*$/.test(encoded))
    throw new SsoRejected('SAMLResponse is not base64');
  try {
    return parseXml(Buffer.from(encoded, 'base64').toString('utf8'));
  } catch (error) {
    if (error instanceof XmlRefused) throw new SsoRejected(`SAMLResponse: ${error.message}`);
    throw error;
  }
}

/**
 * Checks of the unsigned envelope and the raw document, before signatures: a Response (saml-core
 * §3.2.2) with status Success, Destination (if present) naming the ACS URL (saml-bindings §3.5.5.2),
 * InResponseTo (if present) naming this login's request, no SHA-1 in any signature, and no comment
 * inside a NameID, attribute value, audience or issuer (the comment-truncation class of CVE-2017-11427).
 */
export function checkEnvelope(doc: ParsedXml, acsUrl: string, requestId: string): void {
  const response = doc.documentElement;
  if (response.namespaceURI !== NS.protocol || response.localName !== 'Response') throw new SsoRejected('not a SAML Response');
  const destination = response.getAttribute('Destination');
  if (destination && destination !== acsUrl) throw new SsoRejected('the response is meant for another destination');
  const inResponseTo = response.getAttribute('InResponseTo');
  if (inResponseTo && inResponseTo !== requestId) throw new SsoRejected('the response answers another login request');
  const status = childElements(response, NS.protocol, 'Status')[0];
  const code = status ? childElements(status, NS.protocol, 'StatusCode')[0]?.getAttribute('Value') : null;
  if (code !== SUCCESS) throw new SsoRejected(`the identity provider refused the login (${code?.split(':').pop() ?? 'no status'})`);
  for (const method of [...descendantElements(doc, NS.dsig, 'SignatureMethod'), ...descendantElements(doc, NS.dsig, 'DigestMethod')]) {
    if (/sha1$/i.test(method.getAttribute('Algorithm') ?? '')) throw new SsoRejected('the response is signed with SHA-1');
  }
  for (const name of ['NameID', 'AttributeValue', 'Audience', 'Issuer']) {
    for (const element of descendantElements(doc, NS.assertion, name)) {
      for (let node = element.firstChild; node; node = node.nextSibling)
        if (node.nodeType === 8) throw new SsoRejected(`an XML comment inside ${name}`);
    }
  }
}

function time(value: string | null, what: string): number | null {
  if (value === null || value === '') return null;
  // xs:dateTime in UTC (saml-core §1.3.3).
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(value)) throw new SsoRejected(`${what} is not a UTC time`);
  return Date.parse(value);
}

function onlyChild(parent: XmlElement, ns: string, name: string, what: string): XmlElement | undefined {
  const found = childElements(parent, ns, name);
  if (found.length > 1) throw new SsoRejected(`the assertion has more than one ${what}`);
  return found[0];
}

/** Reads the assertion node-saml verified (its signed bytes, as canonicalized by xml-crypto). */
export function readVerifiedAssertion(xml: string): VerifiedAssertion {
  let doc: ParsedXml;
  try {
    doc = parseXml(xml);
  } catch {
    throw new SsoRejected('the signed assertion cannot be read');
  }
  const assertion = doc.documentElement;
  if (assertion.namespaceURI !== NS.assertion || assertion.localName !== 'Assertion')
    throw new SsoRejected('the signed element is not an assertion');
  const id = assertion.getAttribute('ID');
  if (!id) throw new SsoRejected('the assertion has no ID');
  const issuer = onlyChild(assertion, NS.assertion, 'Issuer', 'Issuer')?.textContent?.trim();
  if (!issuer) throw new SsoRejected('the assertion has no Issuer');
  const issueInstant = time(assertion.getAttribute('IssueInstant'), 'IssueInstant');
  if (issueInstant === null) throw new SsoRejected('the assertion has no IssueInstant');

  const subject = onlyChild(assertion, NS.assertion, 'Subject', 'Subject');
  if (!subject) throw new SsoRejected('the assertion has no Subject');
  const nameIdElement = onlyChild(subject, NS.assertion, 'NameID', 'NameID');
  const nameId = nameIdElement?.textContent ?? '';
  if (!nameIdElement || nameId.trim() === '' || nameId.length > 512) throw new SsoRejected('the assertion has no usable NameID');
  const bearerConfirmations = childElements(subject, NS.assertion, 'SubjectConfirmation')
    .filter((confirmation) => confirmation.getAttribute('Method') === BEARER)
    .map((confirmation) => {
      const data = onlyChild(confirmation, NS.assertion, 'SubjectConfirmationData', 'SubjectConfirmationData');
      return {
        recipient: data?.getAttribute('Recipient') || null,
        notBefore: time(data?.getAttribute('NotBefore') ?? null, 'NotBefore'),
        notOnOrAfter: time(data?.getAttribute('NotOnOrAfter') ?? null, 'NotOnOrAfter'),
        inResponseTo: data?.getAttribute('InResponseTo') || null,
      };
    });

  const conditions = onlyChild(assertion, NS.assertion, 'Conditions', 'Conditions');
  const audiences = conditions
    ? childElements(conditions, NS.assertion, 'AudienceRestriction').map((restriction) =>
        childElements(restriction, NS.assertion, 'Audience').map((audience) => (audience.textContent ?? '').trim()),
      )
    : [];

  const authn = childElements(assertion, NS.assertion, 'AuthnStatement')[0];
  const attributes = new Map<string, string[]>();
  for (const statement of childElements(assertion, NS.assertion, 'AttributeStatement')) {
    for (const element of childElements(statement, NS.assertion, 'Attribute')) {
      const name = element.getAttribute('Name');
      if (!name) continue;
      const values = childElements(element, NS.assertion, 'AttributeValue').map((value) => (value.textContent ?? '').trim());
      attributes.set(name, [...(attributes.get(name) ?? []), ...values.filter((value) => value !== '')]);
    }
  }

  return {
    id,
    issuer,
    issueInstant,
    nameId,
    nameIdFormat: nameIdElement.getAttribute('Format') || null,
    sessionIndex: authn?.getAttribute('SessionIndex') || null,
    conditions: {
      notBefore: time(conditions?.getAttribute('NotBefore') ?? null, 'NotBefore'),
      notOnOrAfter: time(conditions?.getAttribute('NotOnOrAfter') ?? null, 'NotOnOrAfter'),
      audiences,
    },
    bearerConfirmations,
    attributes,
  };
}
