import { generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateRawSync } from 'node:zlib';
import { SignedXml } from 'xml-crypto';

/**
 * A SAML 2.0 identity provider for tests: it builds Response and Assertion XML by hand and signs
 * it with xml-crypto, like a real IdP. Its RSA key and self-signed certificate are made in memory
 * when the test starts (test-only material: nothing is written to disk or committed).
 */

const PROTOCOL = 'urn:oasis:names:tc:SAML:2.0:protocol';
const ASSERTION = 'urn:oasis:names:tc:SAML:2.0:assertion';
const METADATA = 'urn:oasis:names:tc:SAML:2.0:metadata';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
export const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

/** A signing key and its self-signed certificate (PEM). */
export interface SigningIdentity {
  privateKey: KeyObject;
  certificatePem: string;
}

function der(tag: number, content: Buffer): Buffer {
  const length = content.length;
  if (length < 0x80) return Buffer.concat([Buffer.from([tag, length]), content]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
  return Buffer.concat([Buffer.from([tag, 0x80 | bytes.length, ...bytes]), content]);
}
const sequence = (...items: Buffer[]) => der(0x30, Buffer.concat(items));
const integer = (value: Buffer) => der(0x02, (value[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), value]) : value);
function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const part of rest) {
    const chunk = [part & 0x7f];
    for (let n = part >> 7; n > 0; n >>= 7) chunk.unshift((n & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}
const utcTime = (date: Date) => der(0x17, Buffer.from(`${date.toISOString().slice(2, 19).replace(/[-:T]/g, '')}Z`));
const commonName = (cn: string) => sequence(der(0x31, sequence(oid('2.5.4.3'), der(0x0c, Buffer.from(cn)))));

/** A fresh key (RSA unless asked for EC) and an X.509 v3 certificate it signs itself. */
export function createSigningIdentity(cn: string, options: { keyType?: 'rsa' | 'ec' } = {}): SigningIdentity {
  const { privateKey, publicKey } =
    options.keyType === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const algorithm =
    options.keyType === 'ec' ? sequence(oid('1.2.840.10045.4.3.2')) : sequence(oid('1.2.840.113549.1.1.11'), der(0x05, Buffer.alloc(0)));
  const now = Date.now();
  const tbs = sequence(
    der(0xa0, integer(Buffer.from([2]))),
    integer(randomBytes(8)),
    algorithm,
    commonName(cn),
    sequence(utcTime(new Date(now - 86_400_000)), utcTime(new Date(now + 10 * 365 * 86_400_000))),
    commonName(cn),
    publicKey.export({ type: 'spki', format: 'der' }),
  );
  const signature = sign('sha256', tbs, privateKey);
  const certificate = sequence(tbs, algorithm, der(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const body = certificate
    .toString('base64')
    .match(/.{1,64}/g)
    ?.join('\n');
  return { privateKey, certificatePem: `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n` };
}

const xmlEscape = (value: string) => value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const iso = (ms: number) => new Date(ms).toISOString();

export interface AssertionOptions {
  /** Recipient of the bearer confirmation (and the Response's Destination). */
  acsUrl: string;
  audience: string;
  inResponseTo: string;
  nameId: string;
  nameIdFormat?: string;
  attributes?: Record<string, string[]>;
  /** IssueInstant (ms); defaults to now. */
  now?: number;
  /** Lifetime of Conditions and of the bearer confirmation, in seconds (default 300). */
  lifetimeSeconds?: number;
  id?: string;
  issuer?: string;
}

export interface SignOptions {
  /** Signs with this identity instead of the IdP's own (an impostor). */
  signer?: SigningIdentity;
  algorithm?: 'sha256' | 'sha1';
}

export interface TestIdp extends SigningIdentity {
  entityId: string;
  ssoUrl: string;
  /** The IdP's metadata (EntityDescriptor with an IDPSSODescriptor). */
  metadataXml(options?: { binding?: 'redirect' | 'post' }): string;
  /** An Assertion element, unsigned: sign it with {@link TestIdp.sign}. */
  assertionXml(options: AssertionOptions): string;
  /** Signs the root element of `xml` (enveloped, exclusive C14N), the signature after its Issuer. */
  sign(xml: string, options?: SignOptions): string;
  /** A Response with status Success around the given assertion elements. */
  responseXml(options: { acsUrl: string; inResponseTo: string; now?: number; destination?: string | null }, assertions: string[]): string;
  /** The usual answer: a Response with one signed assertion, base64 as posted. */
  response(options: AssertionOptions): string;
}

export function encodeResponse(xml: string): string {
  return Buffer.from(xml, 'utf8').toString('base64');
}

export function createTestIdp(options: { entityId: string; ssoUrl: string }): TestIdp {
  const identity = createSigningIdentity('Mandate test IdP');
  const idp: TestIdp = {
    ...identity,
    ...options,
    metadataXml: ({ binding = 'redirect' } = {}) => {
      const body = identity.certificatePem.replace(/-----[A-Z ]+-----|\s/g, '');
      const bindingUri = `urn:oasis:names:tc:SAML:2.0:bindings:${binding === 'post' ? 'HTTP-POST' : 'HTTP-Redirect'}`;
      return `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="${METADATA}" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${xmlEscape(options.entityId)}">
  <md:IDPSSODescriptor protocolSupportEnumeration="${PROTOCOL}">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>${EMAIL_FORMAT}</md:NameIDFormat>
    <md:SingleSignOnService Binding="${bindingUri}" Location="${xmlEscape(options.ssoUrl)}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`;
    },
    assertionXml: (a) => {
      const now = a.now ?? Date.now();
      const until = iso(now + (a.lifetimeSeconds ?? 300) * 1000);
      const attributes = Object.entries(a.attributes ?? {})
        .map(
          ([name, values]) =>
            `<saml:Attribute Name="${xmlEscape(name)}">${values.map((v) => `<saml:AttributeValue>${xmlEscape(v)}</saml:AttributeValue>`).join('')}</saml:Attribute>`,
        )
        .join('');
      return (
        `<saml:Assertion xmlns:saml="${ASSERTION}" ID="${a.id ?? `_a${randomBytes(16).toString('hex')}`}" Version="2.0" IssueInstant="${iso(now)}">` +
        `<saml:Issuer>${xmlEscape(a.issuer ?? options.entityId)}</saml:Issuer>` +
        `<saml:Subject><saml:NameID Format="${a.nameIdFormat ?? EMAIL_FORMAT}">${xmlEscape(a.nameId)}</saml:NameID>` +
        `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">` +
        `<saml:SubjectConfirmationData NotOnOrAfter="${until}" Recipient="${xmlEscape(a.acsUrl)}" InResponseTo="${xmlEscape(a.inResponseTo)}"/>` +
        `</saml:SubjectConfirmation></saml:Subject>` +
        `<saml:Conditions NotBefore="${iso(now - 5000)}" NotOnOrAfter="${until}">` +
        `<saml:AudienceRestriction><saml:Audience>${xmlEscape(a.audience)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
        `<saml:AuthnStatement AuthnInstant="${iso(now)}" SessionIndex="_s${randomBytes(8).toString('hex')}">` +
        `<saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext>` +
        `</saml:AuthnStatement>` +
        (attributes ? `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` : '') +
        `</saml:Assertion>`
      );
    },
    sign: (xml, { signer = identity, algorithm = 'sha256' } = {}) => {
      const signature = new SignedXml({
        privateKey: signer.privateKey.export({ type: 'pkcs8', format: 'pem' }),
        publicCert: signer.certificatePem,
        signatureAlgorithm: `http://www.w3.org/${algorithm === 'sha1' ? '2000/09/xmldsig#rsa-sha1' : '2001/04/xmldsig-more#rsa-sha256'}`,
        canonicalizationAlgorithm: EXC_C14N,
      });
      signature.addReference({
        xpath: '/*',
        transforms: [ENVELOPED, EXC_C14N],
        digestAlgorithm: algorithm === 'sha1' ? 'http://www.w3.org/2000/09/xmldsig#sha1' : 'http://www.w3.org/2001/04/xmlenc#sha256',
      });
      signature.computeSignature(xml, { prefix: 'ds', location: { reference: "/*/*[local-name(.)='Issuer']", action: 'after' } });
      return signature.getSignedXml();
    },
    responseXml: ({ acsUrl, inResponseTo, now = Date.now(), destination }, assertions) =>
      `<samlp:Response xmlns:samlp="${PROTOCOL}" xmlns:saml="${ASSERTION}" ID="_r${randomBytes(16).toString('hex')}" Version="2.0" ` +
      `IssueInstant="${iso(now)}"${destination === null ? '' : ` Destination="${xmlEscape(destination ?? acsUrl)}"`} InResponseTo="${xmlEscape(inResponseTo)}">` +
      `<saml:Issuer>${xmlEscape(options.entityId)}</saml:Issuer>` +
      `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
      assertions.join('') +
      `</samlp:Response>`,
    response: (a) => encodeResponse(idp.responseXml(a, [idp.sign(idp.assertionXml(a))])),
  };
  return idp;
}

/** The AuthnRequest a service provider sent with the HTTP-Redirect binding (saml-bindings §3.4.4.1). */
export function readRedirectRequest(location: string): {
  id: string;
  acsUrl: string | null;
  issuer: string | null;
  relayState: string | null;
  xml: string;
} {
  const url = new URL(location);
  const encoded = url.searchParams.get('SAMLRequest');
  if (!encoded) throw new Error('no SAMLRequest in the redirect');
  const xml = inflateRawSync(Buffer.from(encoded, 'base64')).toString('utf8');
  return { ...readRequest(xml), relayState: url.searchParams.get('RelayState'), xml };
}

/** The AuthnRequest's ID and AssertionConsumerServiceURL. */
export function readRequest(xml: string): { id: string; acsUrl: string | null; issuer: string | null } {
  const id = /\sID="([^"]+)"/.exec(xml)?.[1];
  if (!id) throw new Error('the AuthnRequest has no ID');
  return {
    id,
    acsUrl: /AssertionConsumerServiceURL="([^"]+)"/.exec(xml)?.[1] ?? null,
    issuer: /<saml:Issuer[^>]*>([^<]+)<\/saml:Issuer>/.exec(xml)?.[1] ?? null,
  };
}

/**
 * The IdP's SSO endpoint over HTTP for a browser: it "authenticates" the configured person at
 * once and answers with an auto-submitting form that posts the signed response to the ACS URL
 * named in the AuthnRequest, with the RelayState it was given.
 */
export async function startIdpServer(
  build: (ssoUrl: string) => TestIdp,
  person: { nameId: string; attributes?: Record<string, string[]>; audience: (request: { issuer: string | null }) => string },
): Promise<{ idp: TestIdp; close(): Promise<void> }> {
  let idp: TestIdp | undefined;
  const server = http.createServer((req, res) => {
    try {
      if (!idp) throw new Error('not ready');
      const request = readRedirectRequest(new URL(req.url ?? '/', idp.ssoUrl).toString());
      if (!request.acsUrl) throw new Error('no ACS URL');
      const response = idp.response({
        acsUrl: request.acsUrl,
        audience: person.audience(request),
        inResponseTo: request.id,
        nameId: person.nameId,
        ...(person.attributes && { attributes: person.attributes }),
      });
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        `<!doctype html><html><body onload="document.forms[0].submit()"><form method="post" action="${xmlEscape(request.acsUrl)}">` +
          `<input type="hidden" name="SAMLResponse" value="${xmlEscape(response)}"><input type="hidden" name="RelayState" value="${xmlEscape(request.relayState ?? '')}">` +
          `<noscript><button>Continue</button></noscript></form></body></html>`,
      );
    } catch (error) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  idp = build(`http://127.0.0.1:${port}/sso`);
  return { idp, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
