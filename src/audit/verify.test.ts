import { createLocalJWKSet } from 'jose';
import { describe, expect, it } from 'vitest';
import type { SigningAlg } from '../config.js';
import { generateSigningKey, importPrivateKey, signCompactJws } from '../crypto/signing-key.js';
import { CHECKPOINT_TYP } from './checkpoints.js';
import { EXPORT_FORMAT, type ExportLine } from './export.js';
import { checkCheckpoint, verifyLines } from './verify.js';

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
    expect(await verifyLines(from([chainLine]), { keys: [] })).toEqual({ ok: true, chainId: CHAIN, events: 0 });
    expect(await verifyLines(from([]), { keys: [] })).toMatchObject({ ok: false, problem: 'altered' });
    expect(await verifyLines(from([{ ...chainLine, format: 'other/9' } as unknown as ExportLine]), { keys: [] })).toMatchObject({
      ok: false,
    });
  });

  it('refuses a checkpoint of another chain', async () => {
    const { jwks, sign } = await signer('ES256');
    const line: ExportLine = { type: 'checkpoint', chain_id: 'org_other', seq: 1, hash: HASH, at: '', kid: '', jws: sign(payload) };
    expect(await verifyLines(from([chainLine, line]), jwks)).toMatchObject({ ok: false, problem: 'forged_checkpoint', seq: 1 });
  });
});
