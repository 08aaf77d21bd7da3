import fs from 'node:fs';
import path from 'node:path';
import { compactVerify, createLocalJWKSet, type JSONWebKeySet } from 'jose';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeEventHash } from '../src/audit/chain.js';
import type { ExportLine } from '../src/audit/export.js';
import { UnusableJwksError, verifyExportFile } from '../src/audit/verify.js';
import { generateSigningKey, importPrivateKey, signCompactJws } from '../src/crypto/signing-key.js';
import type { MandateNode } from '../src/node.js';
import { runCli } from './support/cli.js';
import { FrozenClock } from './support/clock.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';

const EVERY = 5;
const INTERVAL = 3600;

describe.each(dialects)('audit checkpoints, verification and export on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  const clock = new FrozenClock(Date.parse('2026-11-17T09:00:00.000Z'));
  let jwks: JSONWebKeySet;
  let cliEnv: Record<string, string>;

  const get = (url: string, headers: Record<string, string> = adminHeaders) => node.app.inject({ method: 'GET', url, headers });
  const post = async (url: string, payload: object) => {
    const res = await node.app.inject({ method: 'POST', url, payload, headers: adminHeaders });
    if (res.statusCode !== 201) throw new Error(`${url}: ${res.body}`);
    return res.json();
  };
  const addMembers = async (org: string, n: number) => {
    for (let i = 0; i < n; i++)
      await post(`/v1/organizations/${org}/members`, { email: `m${Math.random().toString(36).slice(2)}@${org}.test` });
  };
  const latest = async (chain: string) => get(`/v1/audit/checkpoints/latest?chain=${chain}`);
  const sqlOn = () => node.runtime.store.db;
  /** An organization whose chain has `events` events and checkpoints at each of `signAt`. */
  const chainWith = async (slug: string, events: number, signAt: number[]): Promise<string> => {
    const { id } = await post('/v1/organizations', { slug, name: slug });
    for (let seq = 2; seq <= events; seq++) {
      await addMembers(slug, 1);
      if (signAt.includes(seq)) await node.auditCheckpoints.signHead(id);
    }
    return id;
  };
  const verifyChainOf = async (orgId: string) => (await node.auditVerifier.verify(orgId))[0];
  const checkpointRow = (chainId: string, seq: number) =>
    sqlOn().selectFrom('audit_checkpoints').selectAll().where('chain_id', '=', chainId).where('seq', '=', seq).executeTakeFirstOrThrow();
  const claimsOf = (jws: string) => JSON.parse(Buffer.from(jws.split('.')[1] as string, 'base64url').toString());

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db, { clock, config: { auditCheckpointEvents: EVERY, auditCheckpointIntervalSeconds: INTERVAL } });
    jwks = (await node.app.inject({ method: 'GET', url: '/oauth2/jwks' })).json();
    cliEnv = {
      MANDATE_DATA_DIR: db.dataDir,
      MANDATE_MASTER_KEY: db.masterKey.toString('base64'),
      ...(db.databaseUrl && { MANDATE_DATABASE_URL: db.databaseUrl }),
    };
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it(`signs a chain once it grows by ${EVERY} events, and every chain that moved once the interval passes`, async () => {
    await post('/v1/organizations', { slug: 'xcorp', name: 'XCorp' });
    await addMembers('xcorp', EVERY - 2);
    await node.auditMaintenance.tick();
    expect((await latest('xcorp')).statusCode).toBe(404);

    await addMembers('xcorp', 1);
    await node.auditMaintenance.tick();
    const first = (await latest('xcorp')).json();
    expect(first).toMatchObject({ seq: EVERY, kid: node.keyRing.activeKey().kid });

    await addMembers('xcorp', 2);
    await node.auditMaintenance.tick();
    expect((await latest('xcorp')).json().seq).toBe(EVERY);
    expect((await latest('platform')).statusCode).toBe(404);

    clock.advance(INTERVAL);
    await node.auditMaintenance.tick();
    const second = (await latest('xcorp')).json();
    expect(second.seq).toBe(EVERY + 2);
    expect((await latest('platform')).statusCode).toBe(200);

    // Anyone holding the published JWKS can check what a checkpoint says.
    const { payload, protectedHeader } = await compactVerify(second.jws, createLocalJWKSet(jwks));
    expect(protectedHeader).toMatchObject({ typ: 'audit-checkpoint+jwt', kid: second.kid });
    const events = (await get('/v1/audit/events?org=xcorp&limit=200')).json().data;
    expect(JSON.parse(new TextDecoder().decode(payload))).toEqual({
      iss: 'http://localhost:4000',
      chain_id: events[0].org_id,
      seq: EVERY + 2,
      hash: events[EVERY + 1].hash,
      iat: Math.floor(clock.now() / 1000),
    });
    expect((await verifyChainOf(events[0].org_id))?.ok).toBe(true);
  });

  it('pages checkpoints by seq with a cursor or after_seq', async () => {
    const id = await chainWith('pages', 7, [2, 3, 4, 5, 6, 7]);
    const seqs: number[] = [];
    let url = '/v1/audit/checkpoints?chain=pages&limit=4';
    for (;;) {
      const page = (await get(url)).json();
      seqs.push(...page.data.map((c: { seq: number }) => c.seq));
      if (!page.next_cursor) break;
      url = `/v1/audit/checkpoints?chain=${id}&limit=4&cursor=${page.next_cursor}`;
    }
    expect(seqs).toEqual([2, 3, 4, 5, 6, 7]);
    const after = (await get('/v1/audit/checkpoints?chain=pages&after_seq=5')).json();
    expect(after.data.map((c: { seq: number }) => c.seq)).toEqual([6, 7]);
    expect(after.data[0]).toEqual({
      chain_id: id,
      seq: 6,
      hash: expect.any(String),
      at: expect.any(String),
      kid: expect.any(String),
      jws: expect.any(String),
    });
    expect(after.next_cursor).toBeNull();
  });

  it.each([
    ['no chain', '/v1/audit/checkpoints', 400, 'invalid_request'],
    ['a negative after_seq', '/v1/audit/checkpoints?chain=xcorp&after_seq=-1', 400, 'invalid_request'],
    ['a page size over the maximum', '/v1/audit/checkpoints?chain=xcorp&limit=201', 400, 'invalid_request'],
    ['a forged cursor', '/v1/audit/checkpoints?chain=xcorp&cursor=bm9wZQ', 400, 'invalid_request'],
    ['an unknown organization', '/v1/audit/checkpoints?chain=nobody', 404, 'not_found'],
    ['an unknown chain id', '/v1/audit/checkpoints/latest?chain=org_01h0000000000000000000000', 404, 'not_found'],
    ['an export of no organization', '/v1/audit/export', 400, 'invalid_request'],
  ])('refuses %s', async (_case, url, status, error) => {
    const res = await get(url);
    expect(res.statusCode).toBe(status);
    expect(res.json()).toEqual({ error, error_description: expect.any(String), request_id: expect.any(String) });
  });

  it.each([
    '/v1/audit/checkpoints?chain=xcorp',
    '/v1/audit/checkpoints/latest?chain=xcorp',
    '/v1/audit/export?org=xcorp',
    '/v1/audit/jwks',
  ])('refuses %s without an admin key', async (url) => {
    const res = await get(url, {});
    expect(res.statusCode).toBe(401);
    expect(res.json().error).toBe('unauthorized');
  });

  describe('tampering with SQL', () => {
    it('an edited field, at its seq', async () => {
      const id = await chainWith('t-edit', 8, [4, 8]);
      await sql`update audit_events set actor_id = ${'mallory'} where chain_id = ${id} and seq = 6`.execute(sqlOn());
      expect(await verifyChainOf(id)).toMatchObject({ ok: false, seq: 6, problem: 'altered' });
    });

    it('a deleted event, at its seq', async () => {
      const id = await chainWith('t-delete', 8, [4, 8]);
      await sql`delete from audit_events where chain_id = ${id} and seq = 3`.execute(sqlOn());
      expect(await verifyChainOf(id)).toMatchObject({ ok: false, seq: 3, problem: 'missing' });
    });

    it('two events swapped, at the first of them', async () => {
      const id = await chainWith('t-swap', 8, [8]);
      const swap = sqlOn();
      await sql`update audit_events set seq = -1 where chain_id = ${id} and seq = 3`.execute(swap);
      await sql`update audit_events set seq = 3 where chain_id = ${id} and seq = 5`.execute(swap);
      await sql`update audit_events set seq = 5 where chain_id = ${id} and seq = -1`.execute(swap);
      expect(await verifyChainOf(id)).toMatchObject({ ok: false, seq: 3, problem: 'reordered' });
    });

    it('a cut tail with the chain head rewritten to match, by the checkpoint beyond it', async () => {
      const id = await chainWith('t-cut', 8, [4, 8]);
      const [sixth] = await sqlOn().selectFrom('audit_events').select('hash').where('chain_id', '=', id).where('seq', '=', 6).execute();
      await sql`delete from audit_events where chain_id = ${id} and seq > 6`.execute(sqlOn());
      await sql`update audit_chain_heads set seq = 6, hash = ${sixth?.hash} where chain_id = ${id}`.execute(sqlOn());
      expect(await verifyChainOf(id)).toMatchObject({ ok: false, seq: 7, problem: 'truncated' });
    });

    it('a checkpoint re-signed with another key, or its signed hash edited', async () => {
      const id = await chainWith('t-forge', 8, [4, 8]);
      expect((await verifyChainOf(id))?.ok).toBe(true);
      const row = await sqlOn()
        .selectFrom('audit_checkpoints')
        .selectAll()
        .where('chain_id', '=', id)
        .where('seq', '=', 4)
        .executeTakeFirstOrThrow();
      const intruder = await generateSigningKey('ES256');
      const resigned = signCompactJws(
        { kid: row.kid, alg: 'ES256', privateKey: importPrivateKey(intruder.privateJwk) },
        { typ: 'audit-checkpoint+jwt' },
        JSON.parse(Buffer.from(row.jws.split('.')[1] as string, 'base64url').toString()),
      );
      await sql`update audit_checkpoints set jws = ${resigned} where chain_id = ${id} and seq = 4`.execute(sqlOn());
      expect(await verifyChainOf(id)).toMatchObject({ ok: false, seq: 4, problem: 'forged_checkpoint' });

      const [header, body, signature] = row.jws.split('.');
      const claims = JSON.parse(Buffer.from(body as string, 'base64url').toString());
      const edited = Buffer.from(JSON.stringify({ ...claims, hash: 'f'.repeat(64) })).toString('base64url');
      await sql`update audit_checkpoints set jws = ${`${header}.${edited}.${signature}`}, hash = ${'f'.repeat(64)} where chain_id = ${id} and seq = 4`.execute(
        sqlOn(),
      );
      expect(await verifyChainOf(id)).toMatchObject({ ok: false, seq: 4, problem: 'forged_checkpoint' });
    });

    it('a checkpoint signed by the right key for another issuer', async () => {
      const id = await chainWith('t-issuer', 4, [4]);
      const row = await checkpointRow(id, 4);
      const jws = signCompactJws(
        node.keyRing.activeKey(),
        { typ: 'audit-checkpoint+jwt' },
        { ...claimsOf(row.jws), iss: 'https://evil.test' },
      );
      await sqlOn().updateTable('audit_checkpoints').set({ jws }).where('chain_id', '=', id).where('seq', '=', 4).execute();
      expect(await verifyChainOf(id)).toMatchObject({
        ok: false,
        seq: 4,
        problem: 'forged_checkpoint',
        message: expect.stringContaining('not issued by http://localhost:4000'),
      });
    });

    it('a base moved up over deleted events onto a checkpoint, with no audit.pruned event recording it', async () => {
      const id = await chainWith('t-base', 8, [4, 8]);
      const fourth = await sqlOn()
        .selectFrom('audit_events')
        .select('hash')
        .where('chain_id', '=', id)
        .where('seq', '=', 4)
        .executeTakeFirstOrThrow();
      await sql`delete from audit_events where chain_id = ${id} and seq <= 4`.execute(sqlOn());
      await sql`update audit_chain_heads set base_seq = 4, base_hash = ${fourth.hash} where chain_id = ${id}`.execute(sqlOn());
      expect(await verifyChainOf(id)).toMatchObject({ ok: false, seq: 4, problem: 'unanchored_base' });
    });

    it('a chain whose head row and events were deleted, by the checkpoints left behind', async () => {
      const id = await chainWith('t-vanish', 6, [3, 6]);
      await sql`delete from audit_events where chain_id = ${id}`.execute(sqlOn());
      await sql`delete from audit_chain_heads where chain_id = ${id}`.execute(sqlOn());
      const everyChain = await node.auditVerifier.verify();
      expect(everyChain.find((r) => r.chainId === id)).toMatchObject({
        ok: false,
        seq: 1,
        problem: 'truncated',
        message: expect.stringContaining('the chain head is gone'),
      });
      expect(await verifyChainOf(id)).toMatchObject({ ok: false, problem: 'truncated' });
      const cli = runCli(['audit', 'verify', '--json'], cliEnv);
      expect(cli.status, cli.stderr).toBe(1);
      expect(JSON.parse(cli.stdout)).toContainEqual(expect.objectContaining({ chainId: id, ok: false, problem: 'truncated' }));
      await sql`delete from audit_checkpoints where chain_id = ${id}`.execute(sqlOn());
    });

    it('a checkpoint re-signed by a key inserted into signing_keys: caught by a pinned JWKS only', async () => {
      const id = await chainWith('t-pinned', 6, [3, 6]);
      const pinned = (await get('/v1/audit/jwks')).json() as JSONWebKeySet;
      const intruder = await generateSigningKey('ES256');
      const longAgo = '2000-01-01T00:00:00.000Z';
      await sqlOn()
        .insertInto('signing_keys')
        .values({
          kid: intruder.kid,
          alg: 'ES256',
          public_jwk: JSON.stringify(intruder.publicJwk),
          private_jwk: 'unused',
          state: 'retired',
          created_at: longAgo,
          activated_at: longAgo,
          retired_at: longAgo,
        })
        .execute();
      try {
        const row = await checkpointRow(id, 3);
        const jws = signCompactJws(
          { kid: intruder.kid, alg: 'ES256', privateKey: importPrivateKey(intruder.privateJwk) },
          { typ: 'audit-checkpoint+jwt' },
          claimsOf(row.jws),
        );
        await sqlOn()
          .updateTable('audit_checkpoints')
          .set({ jws, kid: intruder.kid })
          .where('chain_id', '=', id)
          .where('seq', '=', 3)
          .execute();
        // The database vouches for its own keys...
        expect(await verifyChainOf(id)).toMatchObject({ ok: true });
        // ...a JWKS kept outside it does not.
        expect((await node.auditVerifier.verify(id, { jwks: pinned }))[0]).toMatchObject({
          ok: false,
          seq: 3,
          problem: 'forged_checkpoint',
          message: expect.stringContaining('a key the JWKS does not hold'),
        });
        const file = path.join(db.dataDir, 'pinned-jwks.json');
        fs.writeFileSync(file, JSON.stringify(pinned));
        const cli = runCli(['audit', 'verify', '--org', 't-pinned', '--jwks', file, '--json'], cliEnv);
        expect(cli.status, cli.stderr).toBe(1);
        expect(JSON.parse(cli.stdout)).toEqual([
          expect.objectContaining({ chainId: id, seq: 3, problem: 'forged_checkpoint', trust: `pinned JWKS ${file}` }),
        ]);
        const xcorp = runCli(['audit', 'verify', '--org', 'xcorp', '--jwks', file], cliEnv);
        expect(xcorp.status, xcorp.stderr).toBe(0);
        expect(xcorp.stdout).toContain(`trust: pinned JWKS ${file}\n`);
        expect(xcorp.stderr).not.toContain('WARNING');

        // MANDATE_AUDIT_TRUST_JWKS pins the same way.
        const fromEnv = runCli(['audit', 'verify', '--org', 't-pinned'], { ...cliEnv, MANDATE_AUDIT_TRUST_JWKS: file });
        expect(fromEnv.status, fromEnv.stderr).toBe(1);
        expect(fromEnv.stdout).toMatch(/^BROKEN +org_\w+: forged_checkpoint at seq 3: /);
        expect(fromEnv.stdout).toContain(`trust: pinned JWKS ${file}\n`);
        expect(fromEnv.stderr).not.toContain('WARNING');

        // Unpinned, the forged checkpoint passes, and the output says what that is worth.
        const unpinned = runCli(['audit', 'verify', '--org', 't-pinned'], cliEnv);
        expect(unpinned.status, unpinned.stderr).toBe(0);
        expect(unpinned.stdout).toMatch(/^ok +org_\w+: 6 events, signed through 6\n/);
        expect(unpinned.stdout).toContain('trust: database keys (UNPINNED — proves nothing against someone who can write the database)\n');
        expect(unpinned.stderr).toMatch(/^WARNING: no pinned JWKS \(--jwks or MANDATE_AUDIT_TRUST_JWKS\)/m);
      } finally {
        await sqlOn().deleteFrom('signing_keys').where('kid', '=', intruder.kid).execute();
      }
    }, 120_000);

    it('counts the events after the newest checkpoint as unsigned, without failing', async () => {
      const id = await chainWith('t-unsigned', 6, [4]);
      expect(await verifyChainOf(id)).toEqual({ ok: true, chainId: id, events: 6, checkpoints: 1, signedThrough: 4, unsigned: 2 });
      const cli = runCli(['audit', 'verify', '--org', 't-unsigned'], cliEnv);
      expect(cli.status, cli.stderr).toBe(0);
      expect(cli.stdout).toMatch(/^ok +org_\w+: 6 events, signed through 4, 2 unsigned\ntrust: database keys \(UNPINNED/);
    });

    it('from the CLI: exit code 1 and the first problem by seq, other chains still ok', async () => {
      const id = await chainWith('t-cli', 6, [6]);
      await sql`update audit_events set detail = ${'{}'} where chain_id = ${id} and seq = 2`.execute(sqlOn());
      const one = runCli(['audit', 'verify', '--org', 't-cli', '--json'], cliEnv);
      expect(one.status, one.stderr).toBe(1);
      expect(JSON.parse(one.stdout)).toEqual([expect.objectContaining({ ok: false, chainId: id, seq: 2, problem: 'altered' })]);
      const xcorp = runCli(['audit', 'verify', '--org', 'xcorp'], cliEnv);
      expect(xcorp.status, xcorp.stderr).toBe(0);
      expect(xcorp.stdout).toMatch(/^ok +org_\w+: \d+ events, signed through \d+(, \d+ unsigned)?\ntrust: .+\n$/);
    });
  });

  describe('export', () => {
    let dir: string;
    let exportFile: string;
    let jwksFile: string;
    let orgId: string;

    beforeAll(async () => {
      dir = fs.mkdtempSync(path.join(db.dataDir, 'export-'));
      orgId = await chainWith('exported', 9, [3, 6, 9]);
      await addMembers('exported', 2);
      exportFile = path.join(dir, 'exported.jsonl');
      jwksFile = path.join(dir, 'jwks.json');
      fs.writeFileSync(jwksFile, JSON.stringify(jwks));
    });

    it('streams one chain as JSON Lines: the chain, then each event followed by its checkpoint', async () => {
      const res = await get('/v1/audit/export?org=exported');
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
      const lines = res.body
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines[0]).toMatchObject({ type: 'chain', chain_id: orgId, base_seq: 0, head_seq: 11 });
      expect(lines.slice(1).map((l) => `${l.type[0]}${l.seq}`)).toEqual([
        'e1',
        'e2',
        'e3',
        'c3',
        'e4',
        'e5',
        'e6',
        'c6',
        'e7',
        'e8',
        'e9',
        'c9',
        'e10',
        'e11',
        'c11',
      ]);
      expect(typeof lines[1].detail).toBe('string');
      fs.writeFileSync(exportFile, res.body);
    });

    it('verifies offline with only the JWKS, and fails at the seq of an edited line', async () => {
      expect(await verifyExportFile(exportFile, jwks)).toEqual({ ok: true, chainId: orgId, events: 11, checkpoints: 4, signedThrough: 11 });
      const ok = runCli(['audit', 'verify', '--file', exportFile, '--jwks', jwksFile], {});
      expect(ok.status, ok.stderr).toBe(0);

      const lines = fs.readFileSync(exportFile, 'utf8').split('\n');
      const tampered = path.join(dir, 'tampered.jsonl');
      const at = lines.findIndex((l) => l.includes('"type":"event"') && l.includes('"seq":5,'));
      lines[at] = (lines[at] as string).replace('"result":"success"', '"result":"failure"');
      fs.writeFileSync(tampered, lines.join('\n'));
      expect(await verifyExportFile(tampered, jwks)).toMatchObject({ ok: false, seq: 5, problem: 'altered' });
      const broken = runCli(['audit', 'verify', '--file', tampered, '--jwks', jwksFile, '--json'], {});
      expect(broken.status).toBe(1);
      expect(JSON.parse(broken.stdout)[0]).toMatchObject({ seq: 5, problem: 'altered' });

      // A JWKS without the signing key cannot vouch for the checkpoints.
      const stranger = await generateSigningKey('ES256');
      expect(await verifyExportFile(exportFile, { keys: [stranger.publicJwk] })).toMatchObject({
        ok: false,
        seq: 3,
        problem: 'forged_checkpoint',
      });
    });

    it('refuses an export whose checkpoints were stripped, as an unsigned tail, even with every hash recomputed', async () => {
      const lines = fs
        .readFileSync(exportFile, 'utf8')
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as ExportLine);
      const write = (name: string, kept: ExportLine[]) => {
        const file = path.join(dir, name);
        fs.writeFileSync(file, kept.map((l) => `${JSON.stringify(l)}\n`).join(''));
        return file;
      };
      const withoutHead = lines.filter((l) => !(l.type === 'checkpoint' && l.seq === 11));
      expect(await verifyExportFile(write('no-head-checkpoint.jsonl', withoutHead), jwks)).toMatchObject({
        ok: false,
        seq: 10,
        problem: 'unsigned_tail',
      });

      // An attacker edits event 5, re-chains every event after it, rewrites the chain line and drops every checkpoint.
      let prev = '';
      const forged = lines
        .filter((l) => l.type !== 'checkpoint')
        .map((l) => {
          if (l.type !== 'event') return l;
          if (l.seq < 5) {
            prev = l.hash;
            return l;
          }
          const edited = { ...l, prev_hash: prev, ...(l.seq === 5 && { result: 'failure' as const }) };
          prev = computeEventHash(prev, edited);
          return { ...edited, hash: prev };
        })
        .map((l) => (l.type === 'chain' ? { ...l, head_hash: prev } : l));
      expect(await verifyExportFile(write('forged.jsonl', forged), jwks)).toMatchObject({ ok: false, seq: 1, problem: 'unsigned_tail' });
      const cli = runCli(['audit', 'verify', '--file', path.join(dir, 'forged.jsonl'), '--jwks', jwksFile], {});
      expect(cli.status).toBe(1);
      expect(cli.stdout).toMatch(/^BROKEN +org_\w+: unsigned_tail at seq 1/);
    });

    it('refuses to verify with a JWKS that holds no usable key', async () => {
      await expect(verifyExportFile(exportFile, { keys: [] })).rejects.toThrow(UnusableJwksError);
      await expect(verifyExportFile(exportFile, { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] })).rejects.toThrow(/no usable public signing key/);
      await expect(node.auditVerifier.verify(orgId, { jwks: { keys: [] } })).rejects.toThrow(UnusableJwksError);
      const empty = path.join(dir, 'empty-jwks.json');
      fs.writeFileSync(empty, '{"keys":[]}');
      const offline = runCli(['audit', 'verify', '--file', exportFile, '--jwks', empty], {});
      expect(offline.status).toBe(1);
      expect(offline.stderr).toContain('no usable public signing key');
      const database = runCli(['audit', 'verify', '--org', 'exported', '--jwks', empty], cliEnv);
      expect(database.status).toBe(1);
      expect(database.stderr).toContain('no usable public signing key');
    });

    it('checks the issuer of every checkpoint offline when --issuer is given', async () => {
      expect(await verifyExportFile(exportFile, jwks, { issuer: 'http://localhost:4000' })).toMatchObject({ ok: true });
      expect(await verifyExportFile(exportFile, jwks, { issuer: 'https://other.test' })).toMatchObject({
        ok: false,
        seq: 3,
        problem: 'forged_checkpoint',
      });
      const cli = runCli(['audit', 'verify', '--file', exportFile, '--jwks', jwksFile, '--issuer', 'https://other.test'], {});
      expect(cli.status).toBe(1);
      expect(cli.stdout).toContain('forged_checkpoint at seq 3');
    });

    it('exports from the CLI to a file that verifies the same way', async () => {
      const out = path.join(dir, 'cli.jsonl');
      const res = runCli(['audit', 'export', '--org', 'exported', '--out', out], cliEnv);
      expect(res.status, res.stderr).toBe(0);
      expect(await verifyExportFile(out, jwks)).toMatchObject({ ok: true, events: 11 });
      const unknown = runCli(['audit', 'export', '--org', 'nobody'], cliEnv);
      expect(unknown.status).toBe(1);
      expect(unknown.stderr).toContain('organization not found');
    });

    it('keeps a cut tail visible in the export', async () => {
      const id = await chainWith('t-cut-export', 6, [6]);
      await sql`delete from audit_events where chain_id = ${id} and seq > 4`.execute(sqlOn());
      const [fourth] = await sqlOn().selectFrom('audit_events').select('hash').where('chain_id', '=', id).where('seq', '=', 4).execute();
      await sql`update audit_chain_heads set seq = 4, hash = ${fourth?.hash} where chain_id = ${id}`.execute(sqlOn());
      const file = path.join(dir, 'cut.jsonl');
      fs.writeFileSync(file, (await get('/v1/audit/export?org=t-cut-export')).body);
      expect(await verifyExportFile(file, jwks)).toMatchObject({ ok: false, seq: 5, problem: 'truncated' });
    });
  });
});

describe('audit maintenance timer', () => {
  it('signs a moved chain on its own once the interval passes', async () => {
    const db = await createTestDatabase('sqlite');
    const node = await startTestNode(db, { config: { auditCheckpointIntervalSeconds: 1 } });
    try {
      await node.app.inject({ method: 'POST', url: '/v1/organizations', payload: { slug: 'tick', name: 'Tick' }, headers: adminHeaders });
      let status = 404;
      for (let waited = 0; waited < 5000 && status !== 200; waited += 250) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        status = (await node.app.inject({ method: 'GET', url: '/v1/audit/checkpoints/latest?chain=tick', headers: adminHeaders }))
          .statusCode;
      }
      expect(status).toBe(200);
    } finally {
      await node.shutdown();
      await db.dispose();
    }
  });
});
