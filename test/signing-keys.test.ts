import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signCompactJws } from '../src/crypto/signing-key.js';
import type { MandateNode } from '../src/node.js';
import { FrozenClock } from './support/clock.js';
import { dialects } from './support/databases.js';
import { createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';

const ISSUER = 'http://localhost:4000';

function mint(node: MandateNode, clock: FrozenClock): string {
  const iat = Math.floor(clock.now() / 1000);
  return signCompactJws(
    node.keyRing.activeKey(),
    { typ: 'at+jwt' },
    { iss: ISSUER, sub: 'mbr_test', aud: 'https://api.test', iat, exp: iat + 600 },
  );
}

async function jwks(node: MandateNode) {
  return (await node.app.inject({ method: 'GET', url: '/oauth2/jwks' })).json() as { keys: { kid: string; alg: string; d?: string }[] };
}

describe.each(dialects)('signing keys on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  const clock = new FrozenClock();

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db, { clock });
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it('generates an active key and publishes the next one before it signs', async () => {
    const keys = await node.keyRing.list();
    expect(keys.map((k) => k.state).sort()).toEqual(['active', 'next']);
    const published = await jwks(node);
    expect(published.keys.map((k) => k.kid).sort()).toEqual(keys.map((k) => k.kid).sort());
    expect(published.keys.every((k) => k.alg === 'ES256' && k.d === undefined)).toBe(true);
  });

  it('keeps private keys sealed at rest', async () => {
    const rows = await node.runtime.store.db.selectFrom('signing_keys').selectAll().execute();
    for (const row of rows) {
      expect(row.private_jwk).toMatch(/^v1\./);
      expect(row.private_jwk).not.toContain('"d"');
    }
  });

  it('signs JWTs that jose verifies against the published JWKS', async () => {
    const token = mint(node, clock);
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(await jwks(node)), {
      issuer: ISSUER,
      audience: 'https://api.test',
      currentDate: new Date(clock.now()),
    });
    expect(protectedHeader).toMatchObject({ alg: 'ES256', typ: 'at+jwt', kid: node.keyRing.activeKey().kid });
    expect(payload.sub).toBe('mbr_test');
  });

  it('rotates: next becomes active, old tokens still verify until they expire, then the old key leaves the JWKS', async () => {
    const before = await node.keyRing.list();
    const oldActive = before.find((k) => k.state === 'active')?.kid;
    const oldNext = before.find((k) => k.state === 'next')?.kid;
    const oldToken = mint(node, clock);

    const result = await node.keyRing.rotate({ actorId: 'test' });
    expect(result).toMatchObject({ activeKid: oldNext, retiredKid: oldActive });
    expect(node.keyRing.activeKey().kid).toBe(oldNext);

    const afterRotation = await jwks(node);
    expect(afterRotation.keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldActive, oldNext, result.nextKid]));
    await expect(jwtVerify(oldToken, createLocalJWKSet(afterRotation), { currentDate: new Date(clock.now()) })).resolves.toBeDefined();
    expect(decodeProtectedHeader(mint(node, clock)).kid).toBe(oldNext);

    // Past the access-token lifetime plus skew, the retired key is no longer published.
    clock.advance(600 + 61);
    await node.keyRing.load();
    const later = await jwks(node);
    expect(later.keys.map((k) => k.kid)).not.toContain(oldActive);
    expect(later.keys.map((k) => k.kid).sort()).toEqual([oldNext, result.nextKid].sort());
  });

  it('records key creation and rotation in the platform audit chain', async () => {
    const kinds = (await node.runtime.store.db.selectFrom('audit_events').select('kind').where('chain_id', '=', 'platform').execute()).map(
      (e) => e.kind,
    );
    expect(kinds).toContain('signing_key.created');
    expect(kinds).toContain('signing_key.rotated');
  });

  it('serves the JWKS with cache headers, an ETag and open CORS', async () => {
    const res = await node.app.inject({ method: 'GET', url: '/oauth2/jwks' });
    expect(res.headers['content-type']).toContain('application/jwk-set+json');
    expect(res.headers['cache-control']).toMatch(/max-age=\d+/);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    const again = await node.app.inject({ method: 'GET', url: '/oauth2/jwks', headers: { 'if-none-match': String(res.headers.etag) } });
    expect(again.statusCode).toBe(304);
  });
});

describe('EdDSA signing keys', () => {
  it('are selectable and verify with jose', async () => {
    const db = await createTestDatabase('sqlite');
    const clock = new FrozenClock();
    const node = await startTestNode(db, { clock, config: { signingAlg: 'EdDSA' } });
    try {
      const published = await jwks(node);
      expect(published.keys.every((k) => k.alg === 'EdDSA')).toBe(true);
      const { protectedHeader } = await jwtVerify(mint(node, clock), createLocalJWKSet(published), { currentDate: new Date(clock.now()) });
      expect(protectedHeader.alg).toBe('EdDSA');
    } finally {
      await node.shutdown();
      await db.dispose();
    }
  });
});
