import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createLocalJWKSet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SigningAlg } from '../config.js';
import { generateSigningKey, importPrivateKey, signCompactJws } from '../crypto/signing-key.js';
import { CHECKPOINT_TYP } from './checkpoints.js';
import { EXPORT_FORMAT, type ExportLine } from './export.js';
import { checkCheckpoint, checkpointKeys, loadJwks, UnusableJwksError, verifyLines } from './verify.js';

const CHAIN = 'org_01h0000000000000000000000';
const HASH = 'a'.repeat(64);

async function signer(alg: SigningAlg, kid?: string) {
  const key = await generateSigningKey(alg);
  const active = { kid: kid ?? key.kid, alg, privateKey: importPrivateKey(key.privateJwk) };
  return {
    jwks: { keys: [{ ...key.publicJwk, kid: active.kid }] },
    sign: (payload: Record<string, unknown>, typ = CHECKPOINT_TYP) => signCompactJws(active, { typ }, payload),
  };
}

const payload = { iss: 'https://auth.test', chain_id: CHAIN, seq: 7, hash: HASH, iat: 1_800_000_000 };

describe.each(['ES256', 'EdDSA'] as const)('checkCheckpoint (%s)', (alg) => {
  it('accepts a checkpoint signed by a key of the JWKS that names this chain, seq and hash', async () => {
    const { jwks, sign } = await signer(alg);
    expect(await checkCheckpoint(CHAIN, { seq: 7, hash: HASH, jws: sign(payload) }, createLocalJWKSet(jwks))).toEqual({
      seq: 7,
      hash: HASH,
      valid: true,
    });
  });

  it('refuses an edited payload, a foreign key under the same kid, an unknown kid and another typ', async () => {
    const real = await signer(alg);
    const keys = createLocalJWKSet(real.jwks);
    const check = async (jws: string) => (await checkCheckpoint(CHAIN, { seq: 7, hash: HASH, jws }, keys)).valid;

    const [header, , signature] = real.sign(payload).split('.');
    const edited = Buffer.from(JSON.stringify({ ...payload, hash: 'b'.repeat(64) })).toString('base64url');
    expect(await check(`${header}.${edited}.${signature}`)).toBe(false);

    const impostor = await signer(alg, real.jwks.keys[0]?.kid);
    expect(await check(impostor.sign(payload))).toBe(false);

    const stranger = await signer(alg);
    expect(await checkCheckpoint(CHAIN, { seq: 7, hash: HASH, jws: stranger.sign(payload) }, keys)).toMatchObject({
      valid: false,
      reason: 'signed by a key the JWKS does not hold',
    });

    expect(await check(real.sign(payload, 'at+jwt'))).toBe(false);
  });

  it('refuses another issuer when one is expected, and skips the check when none is', async () => {
    const { jwks, sign } = await signer(alg);
    const keys = createLocalJWKSet(jwks);
    const checkpoint = { seq: 7, hash: HASH, jws: sign(payload) };
    expect((await checkCheckpoint(CHAIN, checkpoint, keys, { issuer: 'https://auth.test' })).valid).toBe(true);
    expect(await checkCheckpoint(CHAIN, checkpoint, keys, { issuer: 'https://other.test' })).toMatchObject({
      valid: false,
      reason: 'it was not issued by https://other.test',
    });
    expect((await checkCheckpoint(CHAIN, checkpoint, keys)).valid).toBe(true);
  });

  it.each([
    ['chain', { chain_id: 'org_other' }],
    ['seq', { seq: 8 }],
    ['hash', { hash: 'c'.repeat(64) }],
  ])('refuses a valid signature over another %s than the row claims', async (_field, change) => {
    const { jwks, sign } = await signer(alg);
    const result = await checkCheckpoint(CHAIN, { seq: 7, hash: HASH, jws: sign({ ...payload, ...change }) }, createLocalJWKSet(jwks));
    expect(result).toMatchObject({ valid: false, reason: 'the signed payload names another chain, seq or hash' });
  });
});

describe('verifyLines', () => {
  async function* from(lines: ExportLine[]) {
    yield* lines;
  }
  const chainLine: ExportLine = {
    type: 'chain',
    format: EXPORT_FORMAT,
    chain_id: CHAIN,
    base_seq: 0,
    base_hash: '0'.repeat(64),
    head_seq: 0,
    head_hash: '0'.repeat(64),
  };

  it('accepts an empty chain and refuses input that does not start with the chain line', async () => {
    const { jwks } = await signer('ES256');
    expect(await verifyLines(from([chainLine]), jwks)).toEqual({ ok: true, chainId: CHAIN, events: 0 });
    expect(await verifyLines(from([]), jwks)).toMatchObject({ ok: false, problem: 'altered' });
    expect(await verifyLines(from([{ ...chainLine, format: 'other/9' } as unknown as ExportLine]), jwks)).toMatchObject({
      ok: false,
    });
  });

  it.each([
    ['no keys', { keys: [] }],
    ['only a symmetric key', { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }],
    ['only an encryption key', { keys: [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', use: 'enc' }] }],
    ['only an RSA key', { keys: [{ kty: 'RSA', n: 'n', e: 'AQAB' }] }],
    ['no keys array', {} as { keys: [] }],
  ])('refuses a JWKS with %s instead of verifying', async (_label, jwks) => {
    expect(() => checkpointKeys(jwks)).toThrow(UnusableJwksError);
    await expect(verifyLines(from([chainLine]), jwks)).rejects.toThrow(/no usable public signing key/);
  });

  it('refuses a checkpoint of another chain', async () => {
    const { jwks, sign } = await signer('ES256');
    const line: ExportLine = { type: 'checkpoint', chain_id: 'org_other', seq: 1, hash: HASH, at: '', kid: '', jws: sign(payload) };
    expect(await verifyLines(from([chainLine, line]), jwks)).toMatchObject({ ok: false, problem: 'forged_checkpoint', seq: 1 });
  });
});

describe('loadJwks', () => {
  let dir: string;
  let server: http.Server;
  let base: string;
  const jwks = { keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AAAA' }] };

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mandate-jwks-'));
    server = http.createServer((request, response) => {
      if (request.url === '/huge') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(`{"keys":[],"pad":"${'x'.repeat(2 << 20)}"}`);
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads a file, and http only from the local machine', async () => {
    const file = path.join(dir, 'jwks.json');
    fs.writeFileSync(file, JSON.stringify(jwks));
    expect(await loadJwks(file)).toEqual(jwks);
    expect(await loadJwks(`${base}/jwks`)).toEqual(jwks);
    expect(await loadJwks(`${base.replace('127.0.0.1', 'localhost')}/jwks`)).toEqual(jwks);
  });

  it.each(['http://auth.example.com/jwks', 'http://10.0.0.1/jwks', 'ftp://auth.example.com/jwks'])(
    'refuses %s: a remote JWKS needs https',
    async (url) => {
      await expect(loadJwks(url)).rejects.toThrow(/must be https/);
    },
  );

  it('refuses a JWKS over 1 MB, from a URL or a file', async () => {
    await expect(loadJwks(`${base}/huge`)).rejects.toThrow(/over 1 MB/);
    const file = path.join(dir, 'huge.json');
    fs.writeFileSync(file, `{"keys":[],"pad":"${'x'.repeat(2 << 20)}"}`);
    await expect(loadJwks(file)).rejects.toThrow(/over 1 MB/);
  });
});
