import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FrozenClock } from '../../test/support/clock.js';
import { dialects } from '../../test/support/databases.js';
import { createTestDatabase, type TestDatabase } from '../../test/support/nodes.js';
import {
  type AssertionOptions,
  createSigningIdentity,
  createTestIdp,
  encodeResponse,
  readRedirectRequest,
  readRequest,
  type TestIdp,
} from '../../test/support/saml-idp.js';
import { ReplayCache } from '../crypto/replay-cache.js';
import { InvalidRequestError } from '../errors.js';
import { migrateToLatest } from '../store/migrate.js';
import type { SsoConnectionsTable } from '../store/schema.js';
import { openStore, type Store } from '../store/store.js';
import { type PendingSsoLogin, type SsoConnection, SsoRejected } from './protocol.js';
import { SamlProtocol, type SamlSettings, samlReplayNamespace } from './saml.js';
import { serviceProviderEndpoints } from './saml-metadata.js';

const ISSUER = 'https://mandate.example';
const CONNECTION_ID = 'sso_01jsaml0000000000000000000';
const SP = serviceProviderEndpoints(ISSUER, CONNECTION_ID);

describe.each(dialects)('SAML protocol on %s', (dialect) => {
  let db: TestDatabase;
  let store: Store;
  let clock: FrozenClock;
  let idp: TestIdp;
  let protocol: SamlProtocol;
  let connection: SsoConnection<SamlSettings>;
  let state = 0;

  const storedIds = async () => (await store.db.selectFrom('replay_cache').selectAll().execute()).length;

  async function started(on: SsoConnection<SamlSettings> = connection, by: SamlProtocol = protocol): Promise<PendingSsoLogin> {
    const relayState = `state-${++state}`;
    const begun = await by.begin(on, relayState);
    return { state: relayState, nonce: null, codeVerifier: null, requestId: begun.requestId ?? null };
  }
  const complete = (samlResponse: string, pending: PendingSsoLogin, by: SamlProtocol = protocol) =>
    by.complete(
      connection,
      { url: new URL(SP.acsUrl), query: {}, body: { SAMLResponse: samlResponse, RelayState: pending.state } },
      pending,
    );
  const answer = (pending: PendingSsoLogin, overrides: Partial<AssertionOptions> = {}): AssertionOptions => ({
    acsUrl: SP.acsUrl,
    audience: SP.entityId,
    inResponseTo: pending.requestId ?? '',
    nameId: 'john@xcorp.test',
    attributes: { displayName: ['John Doe'], groups: ['engineering', 'admins'] },
    now: clock.now(),
    ...overrides,
  });
  async function refused(samlResponse: string, pending: PendingSsoLogin, reason: RegExp): Promise<void> {
    const before = await storedIds();
    const error = await complete(samlResponse, pending).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SsoRejected);
    expect((error as SsoRejected).reason).toMatch(reason);
    expect((error as SsoRejected).code).toBe('unauthorized');
    expect(await storedIds()).toBe(before);
  }
  const signatureOf = (signed: string) => {
    const signature = /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(signed)?.[0];
    if (!signature) throw new Error('no signature');
    return { signature, without: signed.replace(signature, '') };
  };

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    store = openStore({ databaseUrl: db.databaseUrl, sqliteFile: path.join(db.dataDir, 'saml.db') });
    await migrateToLatest(store);
    clock = new FrozenClock();
    const at = new Date(clock.now()).toISOString();
    await store.db
      .insertInto('organizations')
      .values({ id: 'org_01jsaml0000000000000000000', slug: 'xcorp', name: 'XCorp', settings: '{}', created_at: at, updated_at: at })
      .execute();
    idp = createTestIdp({ entityId: 'https://idp.xcorp.test/saml', ssoUrl: 'https://idp.xcorp.test/sso' });
    protocol = new SamlProtocol({ store, clock, issuer: ISSUER, allowLoopback: false });
    const settings = await protocol.prepareSettings({ metadata_xml: idp.metadataXml() });
    const row: SsoConnectionsTable = {
      id: CONNECTION_ID,
      org_id: 'org_01jsaml0000000000000000000',
      protocol: 'saml',
      name: 'XCorp IdP',
      status: 'active',
      domains: '["xcorp.test"]',
      settings: JSON.stringify(settings),
      secret_ciphertext: null,
      jit_provisioning: 1,
      created_at: at,
      updated_at: at,
    };
    await store.db.insertInto('sso_connections').values(row).execute();
    connection = { row, settings };
  });
  afterAll(async () => {
    await store?.close();
    await db?.dispose();
  });
  beforeEach(() => {
    clock.advance(1);
  });

  describe('settings', () => {
    it('imports IdP metadata: entity id, SSO URL and binding, signing certificates only', async () => {
      expect(connection.settings).toMatchObject({
        idp_entity_id: 'https://idp.xcorp.test/saml',
        idp_sso_url: 'https://idp.xcorp.test/sso',
        idp_sso_binding: 'redirect',
        email_attribute: null,
      });
      expect(connection.settings.idp_certificates).toEqual([idp.certificatePem]);
      const shown = protocol.publicSettings(connection.settings, CONNECTION_ID);
      expect(shown).toMatchObject({ sp_entity_id: SP.entityId, acs_url: `${ISSUER}/sso/callback/${CONNECTION_ID}` });
      expect(shown.idp_certificates).toEqual([
        expect.objectContaining({ sha256_fingerprint: expect.stringMatching(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/) }),
      ]);
      expect(JSON.stringify(shown)).not.toContain('BEGIN CERTIFICATE');
    });

    it('takes the three values by hand, and attribute names', async () => {
      const settings = await protocol.prepareSettings({
        idp_entity_id: 'urn:idp',
        idp_sso_url: 'https://idp.example/sso',
        idp_certificates: [idp.certificatePem, idp.certificatePem.replace(/-----[A-Z ]+-----|\n/g, '')],
        idp_sso_binding: 'post',
        email_attribute: 'mail',
        groups_attribute: 'roles',
      });
      expect(settings).toMatchObject({ idp_sso_binding: 'post', email_attribute: 'mail', groups_attribute: 'roles', name_attribute: null });
      expect(settings.idp_certificates).toEqual([idp.certificatePem]);
    });

    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const onlyEncryption = () => idp.metadataXml().replace('use="signing"', 'use="encryption"');
    it.each<[string, () => unknown, RegExp]>([
      ['not an object', () => 'metadata', /must be an object/],
      ['not XML', () => ({ metadata_xml: 'hello' }), /metadata_xml/],
      [
        'malformed XML',
        () => ({ metadata_xml: '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">' }),
        /malformed|no SAML 2.0/,
      ],
      ['a DTD', () => ({ metadata_xml: `<!DOCTYPE x [<!ENTITY a "b">]>${idp.metadataXml().replace(/^<\?xml[^>]*>/, '')}` }), /DTD/],
      ['other XML', () => ({ metadata_xml: '<feed xmlns="http://www.w3.org/2005/Atom"/>' }), /not SAML 2.0 metadata/],
      ['no signing certificate', () => ({ metadata_xml: onlyEncryption() }), /no signing certificate/],
      [
        'an http SSO URL',
        () => ({ metadata_xml: idp.metadataXml().replace('https://idp.xcorp.test/sso', 'http://idp.xcorp.test/sso') }),
        /https/,
      ],
      ['an http loopback SSO URL without the development setting', () => ({ ...manual(), idp_sso_url: 'http://127.0.0.1:9/sso' }), /https/],
      ['both metadata and values', () => ({ metadata_xml: idp.metadataXml(), idp_entity_id: 'urn:x' }), /not both/],
      ['an unknown setting', () => ({ ...manual(), client_secret: 'x' }), /unknown SAML setting/],
      ['no certificates', () => ({ ...manual(), idp_certificates: [] }), /idp_certificates/],
      [
        'garbage for a certificate',
        () => ({ ...manual(), idp_certificates: ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'] }),
        /not a valid X.509/,
      ],
      [
        'a public key instead of a certificate',
        () => ({ ...manual(), idp_certificates: [ec.publicKey.export({ type: 'spki', format: 'pem' })] }),
        /certificate/,
      ],
      ['an entity id with a control character', () => ({ ...manual(), idp_entity_id: 'urn:a\nb' }), /idp_entity_id/],
      ['an unknown binding', () => ({ ...manual(), idp_sso_binding: 'artifact' }), /idp_sso_binding/],
    ])('refuses %s', async (_name, input, message) => {
      const error = await protocol.prepareSettings(input()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidRequestError);
      expect((error as InvalidRequestError).description).toMatch(message);
    });
    function manual() {
      return { idp_entity_id: 'urn:idp', idp_sso_url: 'https://idp.example/sso', idp_certificates: [idp.certificatePem] };
    }

    it('accepts an http loopback SSO URL only with the development setting', async () => {
      const dev = new SamlProtocol({ store, clock, issuer: ISSUER, allowLoopback: true });
      await expect(dev.prepareSettings({ ...manual(), idp_sso_url: 'http://127.0.0.1:9/sso' })).resolves.toMatchObject({
        idp_sso_url: 'http://127.0.0.1:9/sso',
      });
      await expect(dev.prepareSettings({ ...manual(), idp_sso_url: 'http://idp.example/sso' })).rejects.toThrow(/https/);
    });

    it('refuses a certificate that does not hold an RSA key', async () => {
      const error = await protocol
        .prepareSettings({ ...manual(), idp_certificates: [createSigningIdentity('ec', { keyType: 'ec' }).certificatePem] })
        .catch((e: unknown) => e);
      expect((error as InvalidRequestError).description).toMatch(/RSA/);
    });
  });

  describe('begin', () => {
    it('sends the browser to the IdP with an AuthnRequest (HTTP-Redirect) and RelayState, and remembers its ID', async () => {
      const begun = await protocol.begin(connection, 'the-state');
      if (begun.send.kind !== 'redirect') throw new Error('expected a redirect');
      expect(begun.send.location.startsWith('https://idp.xcorp.test/sso?SAMLRequest=')).toBe(true);
      const request = readRedirectRequest(begun.send.location);
      expect(request).toMatchObject({ id: begun.requestId, acsUrl: SP.acsUrl, issuer: SP.entityId, relayState: 'the-state' });
      expect(request.id).toMatch(/^_[0-9a-f]{40}$/);
      expect(request.xml).toContain('Destination="https://idp.xcorp.test/sso"');
      const again = await protocol.begin(connection, 'the-state');
      expect(again.requestId).not.toBe(begun.requestId);
    });

    it('posts the AuthnRequest, base64 without DEFLATE, when the IdP offers only HTTP-POST', async () => {
      const settings = await protocol.prepareSettings({ metadata_xml: idp.metadataXml({ binding: 'post' }) });
      const begun = await protocol.begin({ ...connection, settings }, 'the-state');
      if (begun.send.kind !== 'post') throw new Error('expected a form post');
      expect(begun.send.action).toBe('https://idp.xcorp.test/sso');
      expect(begun.send.fields.RelayState).toBe('the-state');
      const xml = Buffer.from(begun.send.fields.SAMLRequest ?? '', 'base64').toString('utf8');
      expect(readRequest(xml)).toMatchObject({ id: begun.requestId, acsUrl: SP.acsUrl, issuer: SP.entityId });
    });
  });

  describe('complete', () => {
    it('accepts a signed assertion and returns the person, their groups and the assertion id', async () => {
      const pending = await started();
      const before = await storedIds();
      const identity = await complete(idp.response(answer(pending)), pending);
      expect(identity).toEqual({
        subject: 'john@xcorp.test',
        email: 'john@xcorp.test',
        name: 'John Doe',
        groups: ['engineering', 'admins'],
        groupsAsserted: true,
        detail: { assertion_id: expect.stringMatching(/^_a/), session_index: expect.stringMatching(/^_s/) },
      });
      expect(await storedIds()).toBe(before + 1);
    });

    it('reads email, name and groups from the attributes the connection names', async () => {
      const pending = await started();
      const settings: SamlSettings = { ...connection.settings, email_attribute: 'mail', name_attribute: 'cn', groups_attribute: 'roles' };
      const response = idp.response(
        answer(pending, {
          nameId: 'u-12345',
          nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
          attributes: { mail: ['Jane@XCorp.test'], cn: ['Jane'], roles: ['ops', 'ops'], email: ['other@xcorp.test'] },
        }),
      );
      const identity = await protocol.complete(
        { ...connection, settings },
        { url: new URL(SP.acsUrl), query: {}, body: { SAMLResponse: response, RelayState: pending.state } },
        pending,
      );
      expect(identity).toMatchObject({ subject: 'u-12345', email: 'Jane@XCorp.test', name: 'Jane', groups: ['ops'] });
    });

    it('falls back on common attribute names when the NameID is not an email', async () => {
      const pending = await started();
      const identity = await complete(
        idp.response(
          answer(pending, {
            nameId: 'u-777',
            nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
            attributes: {
              'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress': ['sam@xcorp.test'],
              'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups': ['g-1', 'g-2'],
            },
          }),
        ),
        pending,
      );
      expect(identity).toMatchObject({ subject: 'u-777', email: 'sam@xcorp.test', groups: ['g-1', 'g-2'] });
      expect(identity.name).toBeUndefined();
    });

    it('takes a pretty-printed NameID without its surrounding whitespace', async () => {
      const pending = await started();
      const a = answer(pending);
      const signed = idp.sign(idp.assertionXml(a).replace('>john@xcorp.test<', '>\n    john@xcorp.test\n  <'));
      await expect(complete(encodeResponse(idp.responseXml(a, [signed])), pending)).resolves.toMatchObject({
        subject: 'john@xcorp.test',
        email: 'john@xcorp.test',
      });
    });

    it('says whether the IdP sent groups at all, so absent groups leave role bindings alone', async () => {
      const without = await started();
      const none = await complete(idp.response(answer(without, { attributes: { displayName: ['John'] } })), without);
      expect(none).toMatchObject({ groups: [], groupsAsserted: false });
      const empty = await started();
      const cleared = await complete(idp.response(answer(empty, { attributes: { groups: [] } })), empty);
      expect(cleared).toMatchObject({ groups: [], groupsAsserted: true });
    });

    it('refuses an assertion used twice, also when the second use reaches another node', async () => {
      const pending = await started();
      const response = idp.response(answer(pending));
      await complete(response, pending);
      await refused(response, pending, /already used/);
      const otherNode = new SamlProtocol({ store, clock, issuer: ISSUER, allowLoopback: false });
      await expect(complete(response, pending, otherNode)).rejects.toThrow(/already used/);
    });

    it('forgets used assertion ids once they have expired anyway', async () => {
      const pending = await started();
      const { detail } = await complete(idp.response(answer(pending, { lifetimeSeconds: 60 })), pending);
      const row = await store.db
        .selectFrom('replay_cache')
        .selectAll()
        .where('key_hash', '=', ReplayCache.keyOf(samlReplayNamespace(CONNECTION_ID), String(detail?.assertion_id)))
        .executeTakeFirstOrThrow();
      expect(Date.parse(row.expires_at)).toBe(clock.now() + 60_000 + 60_000);
      clock.advance(24 * 3600);
      const next = await started();
      await complete(idp.response(answer(next)), next);
      expect(await storedIds()).toBe(1);
    });

    it('accepts an assertion within the 60-second clock skew and refuses it beyond', async () => {
      const late = await started();
      const response = idp.response(answer(late, { lifetimeSeconds: 120 }));
      clock.advance(120 + 30);
      await expect(complete(response, late)).resolves.toMatchObject({ subject: 'john@xcorp.test' });
      const expired = await started();
      const old = idp.response(answer(expired, { lifetimeSeconds: 120 }));
      clock.advance(120 + 61);
      await refused(old, expired, /expired/);
    });

    it('refuses an assertion from the future', async () => {
      const pending = await started();
      await refused(idp.response(answer(pending, { now: clock.now() + 5 * 60_000 })), pending, /future|not yet valid/);
    });

    it('refuses an unsigned assertion', async () => {
      const pending = await started();
      const a = answer(pending);
      await refused(encodeResponse(idp.responseXml(a, [idp.assertionXml(a)])), pending, /not validly signed/);
    });

    it('refuses an assertion whose only signature is on the Response', async () => {
      const pending = await started();
      const a = answer(pending);
      await refused(encodeResponse(idp.sign(idp.responseXml(a, [idp.assertionXml(a)]))), pending, /not validly signed/);
    });

    it('refuses an assertion signed by another key', async () => {
      const pending = await started();
      const a = answer(pending);
      const impostor = createSigningIdentity('impostor');
      await refused(
        encodeResponse(idp.responseXml(a, [idp.sign(idp.assertionXml(a), { signer: impostor })])),
        pending,
        /not validly signed/,
      );
    });

    it('refuses an assertion changed after signing', async () => {
      const pending = await started();
      const a = answer(pending);
      const signed = idp.sign(idp.assertionXml(a)).replace('>john@xcorp.test<', '>admin@xcorp.test<');
      await refused(encodeResponse(idp.responseXml(a, [signed])), pending, /not validly signed/);
    });

    it('refuses SHA-1 signatures', async () => {
      const pending = await started();
      const a = answer(pending);
      await refused(encodeResponse(idp.responseXml(a, [idp.sign(idp.assertionXml(a), { algorithm: 'sha1' })])), pending, /SHA-1/);
    });

    describe('signature wrapping', () => {
      it('refuses an unsigned assertion next to the signed one, before or after it', async () => {
        const pending = await started();
        const a = answer(pending);
        const signed = idp.sign(idp.assertionXml(a));
        const evil = idp.assertionXml({ ...a, nameId: 'admin@xcorp.test' });
        await refused(encodeResponse(idp.responseXml(a, [evil, signed])), pending, /not validly signed/);
        await refused(encodeResponse(idp.responseXml(a, [signed, evil])), pending, /not validly signed/);
      });

      it('refuses an unsigned assertion wrapped around the signed one', async () => {
        const pending = await started();
        const a = answer(pending);
        const signed = idp.sign(idp.assertionXml(a));
        const evil = idp
          .assertionXml({ ...a, nameId: 'admin@xcorp.test' })
          .replace('</saml:Issuer>', `</saml:Issuer><saml:Advice>${signed}</saml:Advice>`);
        await refused(encodeResponse(idp.responseXml(a, [evil])), pending, /not validly signed/);
      });

      it('refuses an assertion carrying the signature moved from the genuine one', async () => {
        const pending = await started();
        const a = answer(pending);
        const { signature, without } = signatureOf(idp.sign(idp.assertionXml(a)));
        const evil = idp
          .assertionXml({ ...a, nameId: 'admin@xcorp.test' })
          .replace('</saml:Issuer>', `</saml:Issuer>${signature}<saml:Advice>${without}</saml:Advice>`);
        await refused(encodeResponse(idp.responseXml(a, [evil])), pending, /not validly signed/);
      });

      it('refuses an assertion that copies the genuine one’s ID while the genuine one hides elsewhere', async () => {
        const pending = await started();
        const a = answer(pending);
        const id = '_genuine0000000000000000000000';
        const { signature, without } = signatureOf(idp.sign(idp.assertionXml({ ...a, id })));
        const evil = idp.assertionXml({ ...a, id, nameId: 'admin@xcorp.test' }).replace('</saml:Issuer>', `</saml:Issuer>${signature}`);
        const xml = idp.responseXml(a, [evil]).replace('</samlp:Status>', `</samlp:Status><samlp:Extensions>${without}</samlp:Extensions>`);
        await refused(encodeResponse(xml), pending, /not validly signed/);
      });
    });

    describe('XML comment injection', () => {
      it('refuses a NameID split by a comment instead of logging in as its first half', async () => {
        const pending = await started();
        const a = answer(pending, { nameId: 'john@xcorp.test.evil.test' });
        const signed = idp.sign(idp.assertionXml(a)).replace('>john@xcorp.test.evil.test<', '>john@xcorp.test<!---->.evil.test<');
        // Exclusive C14N drops comments, so the signature still verifies: only the comment check stands in the way.
        await refused(encodeResponse(idp.responseXml(a, [signed])), pending, /comment inside NameID/);
      });

      it('refuses an email attribute split by a comment', async () => {
        const pending = await started();
        const a = answer(pending, { nameId: 'u-1', attributes: { email: ['john@xcorp.test.evil.test'] } });
        const signed = idp.sign(idp.assertionXml(a)).replace('>john@xcorp.test.evil.test<', '>john@xcorp.test<!---->.evil.test<');
        await refused(encodeResponse(idp.responseXml(a, [signed])), pending, /comment inside AttributeValue/);
      });
    });

    it.each<[string, (pending: PendingSsoLogin) => Partial<AssertionOptions>, RegExp]>([
      ['for another audience', () => ({ audience: 'https://other-sp.example/saml' }), /another audience/],
      [
        'for another recipient',
        () => ({ acsUrl: `${ISSUER}/sso/callback/sso_01jother000000000000000000` }),
        /another (recipient|destination)/,
      ],
      ['answering another request', () => ({ inResponseTo: '_someotherrequest' }), /another login request/],
      ['from another issuer', () => ({ issuer: 'https://evil.example/saml' }), /another identity provider/],
      ['with a transient NameID', () => ({ nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient' }), /transient/],
      ['without an email', () => ({ nameId: 'u-1', attributes: {} }), /no email/],
    ])('refuses an assertion %s', async (_name, change, reason) => {
      const pending = await started();
      await refused(idp.response(answer(pending, change(pending))), pending, reason);
    });

    it('refuses a signed assertion whose Recipient is wrong even when the Response names Mandate', async () => {
      const pending = await started();
      const a = answer(pending, { acsUrl: 'https://other-sp.example/acs' });
      await refused(
        encodeResponse(idp.responseXml({ ...a, acsUrl: SP.acsUrl }, [idp.sign(idp.assertionXml(a))])),
        pending,
        /another recipient/,
      );
    });

    it('refuses a response to another Destination or request, a failed status, a DTD, garbage and a missing RelayState match', async () => {
      const pending = await started();
      const a = answer(pending);
      const assertion = idp.sign(idp.assertionXml(a));
      await refused(
        encodeResponse(idp.responseXml({ ...a, destination: 'https://other-sp.example/acs' }, [assertion])),
        pending,
        /destination/,
      );
      await refused(encodeResponse(idp.responseXml({ ...a, inResponseTo: '_other' }, [assertion])), pending, /another login request/);
      const failed = idp.responseXml(a, []).replace('status:Success', 'status:Responder');
      await refused(encodeResponse(failed), pending, /refused the login \(Responder\)/);
      await refused(encodeResponse(`<!DOCTYPE r [<!ENTITY x "y">]>${idp.responseXml(a, [assertion])}`), pending, /DTD/);
      await refused('not base64!', pending, /not base64/);
      await refused(encodeResponse('<oops'), pending, /malformed|root/);
      await expect(
        protocol.complete(
          connection,
          { url: new URL(SP.acsUrl), query: {}, body: { SAMLResponse: idp.response(a), RelayState: 'other' } },
          pending,
        ),
      ).rejects.toThrow(/RelayState/);
      await expect(protocol.complete(connection, { url: new URL(SP.acsUrl), query: {}, body: {} }, pending)).rejects.toThrow(
        /no SAMLResponse/,
      );
      await expect(complete(idp.response(a), { ...pending, requestId: null })).rejects.toThrow(/no SAML request/);
      await expect(complete(idp.response(a), pending)).resolves.toMatchObject({ subject: 'john@xcorp.test' });
    });
  });

  it('serves SP metadata naming the entity id, the ACS URL and signed assertions', async () => {
    const xml = await protocol.serviceProviderMetadata(CONNECTION_ID);
    expect(xml).toContain(`entityID="${SP.entityId}"`);
    expect(xml).toContain(`Location="${SP.acsUrl}"`);
    expect(xml).toContain('WantAssertionsSigned="true"');
    expect(xml).toContain('urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST');
    await expect(protocol.serviceProviderMetadata('sso_01junknown0000000000000000')).rejects.toThrow(/not found/);
  });
});
