import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AuditEventsTable } from '../store/schema.js';
import { canonicalJson } from './canonical-json.js';
import {
  ChainWalker,
  type CheckedCheckpoint,
  CORE_COLUMNS,
  computeEventHash,
  EXTENSION_COLUMNS,
  GENESIS_HASH,
  type HashedFields,
  verifyChain,
} from './chain.js';

const CHAIN = 'org_01h0000000000000000000000';

function fieldsFor(seq: number): HashedFields {
  return {
    chain_id: CHAIN,
    seq,
    id: `evt_${String(seq).padStart(26, '0')}`,
    org_id: CHAIN,
    at: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(),
    kind: seq % 2 === 0 ? 'member.created' : 'organization.updated',
    correlation_id: `corr-${seq}`,
    request_id: `req-${seq}`,
    actor_id: `mbr_actor${seq}`,
    agent_id: null,
    subject_id: `mbr_subject${seq}`,
    tool: 'github',
    action: 'read',
    result: 'success',
    classification: null,
    jti: null,
    scope: 'repo:read',
    grant_id: null,
    detail: JSON.stringify({ n: seq }),
  };
}

/** A valid chain of `n` events: each chained to the previous one's hash. */
function buildChain(n: number): AuditEventsTable[] {
  const events: AuditEventsTable[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq += 1) {
    const fields = fieldsFor(seq);
    const hash = computeEventHash(prev, fields);
    events.push({ ...fields, prev_hash: prev, hash });
    prev = hash;
  }
  return events;
}

function at(events: AuditEventsTable[], index: number): AuditEventsTable {
  const event = events[index];
  if (!event) throw new Error(`no event at ${index}`);
  return event;
}

function headOf(events: AuditEventsTable[]): { seq: number; hash: string } {
  const last = at(events, events.length - 1);
  return { seq: last.seq, hash: last.hash };
}

const N = 8;

describe('computeEventHash', () => {
  it('is 64 hex characters, deterministic, and depends on the previous hash', () => {
    const fields = fieldsFor(1);
    const hash = computeEventHash(GENESIS_HASH, fields);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(computeEventHash(GENESIS_HASH, { ...fields })).toBe(hash);
    expect(computeEventHash('1'.repeat(64), fields)).not.toBe(hash);
  });

  it('ignores hash and prev_hash columns and key order of the event object', () => {
    const fields = fieldsFor(3);
    const hash = computeEventHash(GENESIS_HASH, fields);
    const reversed = Object.fromEntries(Object.entries(fields).reverse()) as HashedFields;
    expect(computeEventHash(GENESIS_HASH, reversed)).toBe(hash);
    const withHashes = { ...fields, prev_hash: 'x', hash: 'y' } as HashedFields;
    expect(computeEventHash(GENESIS_HASH, withHashes)).toBe(hash);
  });

  it('distinguishes null from the string "null"', () => {
    const fields = fieldsFor(2);
    expect(computeEventHash(GENESIS_HASH, { ...fields, agent_id: 'null' })).not.toBe(computeEventHash(GENESIS_HASH, fields));
  });

  // The hash is written directly rather than through canonicalJson; chains already in databases
  // and exports must keep verifying, so it must be byte for byte the RFC 8785 form of the
  // documented object: every core column, and the extension columns that are set.
  it('hashes exactly SHA-256(prev_hash || canonicalJson of the core columns and the set extension columns)', () => {
    const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constant('"\\\u2028</script>'));
    const value = fc.oneof(text, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null));
    const columns = [...CORE_COLUMNS.filter((c) => c !== 'prev_hash' && c !== 'hash'), ...EXTENSION_COLUMNS];
    const event = fc.record(Object.fromEntries(columns.map((c) => [c, value])), {
      requiredKeys: [...CORE_COLUMNS.filter((c) => c !== 'prev_hash' && c !== 'hash')],
    });
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }), event, (prev, fields) => {
        const documented: Record<string, unknown> = {};
        for (const column of columns) {
          const v = (fields as Record<string, unknown>)[column];
          if ((EXTENSION_COLUMNS as readonly string[]).includes(column) ? v !== null && v !== undefined : v !== undefined)
            documented[column] = v;
        }
        const expected = createHash('sha256').update(prev).update(canonicalJson(documented)).digest('hex');
        expect(computeEventHash(prev, fields as unknown as HashedFields)).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a number canonical JSON cannot hold', () => {
    expect(() => computeEventHash(GENESIS_HASH, { ...fieldsFor(1), seq: Number.NaN })).toThrow(TypeError);
  });
});

describe('verifyChain', () => {
  it('reports a valid chain as ok with its event count', () => {
    const events = buildChain(N);
    expect(verifyChain(CHAIN, events)).toEqual({ ok: true, chainId: CHAIN, events: N });
    expect(verifyChain(CHAIN, events, headOf(events))).toEqual({ ok: true, chainId: CHAIN, events: N });
  });

  it('reports an empty chain as ok with no events', () => {
    expect(verifyChain(CHAIN, [])).toEqual({ ok: true, chainId: CHAIN, events: 0 });
  });

  it('starts from the genesis hash', () => {
    const events = buildChain(2);
    expect(at(events, 0).prev_hash).toBe(GENESIS_HASH);
    expect(at(events, 1).prev_hash).toBe(at(events, 0).hash);
  });

  const alterations: Array<[field: keyof AuditEventsTable, value: unknown]> = [
    ['detail', '{"n":-1}'],
    ['actor_id', 'mbr_intruder'],
    ['actor_id', null],
    ['agent_id', 'agt_someone'],
    ['at', '2030-01-01T00:00:00.000Z'],
    ['kind', 'admin.deleted'],
    ['result', 'failure'],
    ['id', 'evt_zzzzzzzzzzzzzzzzzzzzzzzzzz'],
    ['chain_id', 'platform'],
    ['org_id', null],
    ['scope', 'repo:write'],
    ['hash', 'f'.repeat(64)],
  ];

  for (const k of [1, 4, N]) {
    it.each(alterations)(`detects %s altered to %j in event ${k}`, (field, value) => {
      const events = buildChain(N);
      const altered = events.map((e) => (e.seq === k ? { ...e, [field]: value } : e));
      expect(verifyChain(CHAIN, altered)).toMatchObject({ ok: false, chainId: CHAIN, seq: k, problem: 'altered' });
    });
  }

  it('detects an event recomputed after alteration by the broken link to its successor', () => {
    const events = buildChain(N);
    const k = 3;
    const target = at(events, k - 1);
    const fields = { ...target, detail: '{"n":999}' };
    const rehashed = { ...fields, hash: computeEventHash(target.prev_hash, fields) };
    const forged = events.map((e) => (e.seq === k ? rehashed : e));
    expect(verifyChain(CHAIN, forged)).toMatchObject({ ok: false, seq: k + 1, problem: 'reordered' });
  });

  it.each(Array.from({ length: N - 1 }, (_, i) => i + 1))('detects deleted event %i as missing', (k) => {
    const events = buildChain(N).filter((e) => e.seq !== k);
    expect(verifyChain(CHAIN, events)).toMatchObject({ ok: false, seq: k, problem: 'missing' });
  });

  it('detects the deleted last event only with the head', () => {
    const full = buildChain(N);
    const events = full.slice(0, -1);
    expect(verifyChain(CHAIN, events).ok).toBe(true);
    expect(verifyChain(CHAIN, events, headOf(full))).toMatchObject({ ok: false, seq: N, problem: 'truncated' });
  });

  const swaps: Array<[i: number, j: number]> = [
    [1, 2],
    [1, N],
    [3, 4],
    [2, 6],
    [N - 1, N],
  ];

  it.each(swaps)('detects events %i and %i swapped (seqs renumbered) at the first swapped position', (i, j) => {
    const events = buildChain(N);
    const swapped = [...events];
    swapped[i - 1] = at(events, j - 1);
    swapped[j - 1] = at(events, i - 1);
    const renumbered = swapped.map((e, index) => ({ ...e, seq: index + 1 }));
    const report = verifyChain(CHAIN, renumbered);
    expect(report.ok).toBe(false);
    if (report.ok) return;
    expect(report.seq).toBe(i);
    expect(['reordered', 'altered']).toContain(report.problem);
  });

  it('detects events swapped without renumbering as missing', () => {
    const events = buildChain(N);
    const swapped = [at(events, 1), at(events, 0), ...events.slice(2)];
    expect(verifyChain(CHAIN, swapped)).toMatchObject({ ok: false, seq: 1, problem: 'missing' });
  });

  it.each([1, 2, N - 1])('detects the last %i events truncated when given the original head', (dropped) => {
    const full = buildChain(N);
    const events = full.slice(0, N - dropped);
    expect(verifyChain(CHAIN, events, headOf(full))).toMatchObject({
      ok: false,
      chainId: CHAIN,
      seq: N - dropped + 1,
      problem: 'truncated',
    });
  });

  it('detects a chain truncated to nothing when given the head', () => {
    const full = buildChain(3);
    expect(verifyChain(CHAIN, [], headOf(full))).toMatchObject({ ok: false, seq: 1, problem: 'truncated' });
  });

  it('rejects a head with the right seq but the wrong hash', () => {
    const events = buildChain(N);
    const report = verifyChain(CHAIN, events, { seq: N, hash: 'a'.repeat(64) });
    expect(report.ok).toBe(false);
  });

  it('rejects a head behind the events', () => {
    const events = buildChain(N);
    expect(verifyChain(CHAIN, events, { seq: N - 1, hash: at(events, N - 2).hash }).ok).toBe(false);
  });

  it('reports only the first problem', () => {
    const events = buildChain(N).map((e) => (e.seq === 2 || e.seq === 5 ? { ...e, detail: 'x' } : e));
    expect(verifyChain(CHAIN, events)).toMatchObject({ ok: false, seq: 2, problem: 'altered' });
  });

  it('includes a human-readable message naming the seq', () => {
    const events = buildChain(N).filter((e) => e.seq !== 3);
    const report = verifyChain(CHAIN, events);
    expect(report.ok).toBe(false);
    if (!report.ok) expect(report.message).toContain('3');
  });

  const stringFields = [
    'id',
    'chain_id',
    'at',
    'kind',
    'correlation_id',
    'request_id',
    'actor_id',
    'agent_id',
    'subject_id',
    'tool',
    'action',
    'classification',
    'jti',
    'scope',
    'grant_id',
    'detail',
    'org_id',
  ] as const;

  it('fails at exactly the altered seq for any length, index and field', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 1, max: n }))),
        fc.constantFrom(...stringFields),
        fc.string(),
        ([n, k], field, replacement) => {
          const events = buildChain(n);
          const original = at(events, k - 1)[field];
          fc.pre(replacement !== original);
          const altered = events.map((e) => (e.seq === k ? { ...e, [field]: replacement } : e));
          expect(verifyChain(CHAIN, altered)).toMatchObject({ ok: false, seq: k, problem: 'altered' });
          expect(verifyChain(CHAIN, events).ok).toBe(true);
        },
      ),
    );
  });
});

describe('ChainWalker', () => {
  it('streams events one at a time and stops accepting after the first problem', () => {
    const events = buildChain(5);
    const walker = new ChainWalker(CHAIN);
    expect(walker.push(at(events, 0))).toBe(true);
    expect(walker.push(at(events, 1))).toBe(true);
    expect(walker.push(at(events, 3))).toBe(false);
    // Even a correct event is refused once the chain is broken.
    expect(walker.push(at(events, 2))).toBe(false);
    expect(walker.finish()).toMatchObject({ ok: false, seq: 3, problem: 'missing' });
  });

  it('agrees with verifyChain on a valid chain', () => {
    const events = buildChain(6);
    const walker = new ChainWalker(CHAIN);
    for (const e of events) expect(walker.push(e)).toBe(true);
    expect(walker.finish(headOf(events))).toEqual(verifyChain(CHAIN, events, headOf(events)));
  });
});

describe('ChainWalker with checkpoints and a retained base', () => {
  const signed = (events: AuditEventsTable[], seq: number, valid = true): CheckedCheckpoint => ({
    seq,
    hash: at(events, seq - 1).hash,
    valid,
    ...(!valid && { reason: 'the signature does not verify' }),
  });

  /** Events k..n rewritten and re-hashed consistently: only a checkpoint can tell. */
  function rewriteFrom(events: AuditEventsTable[], k: number): AuditEventsTable[] {
    let prev = k === 1 ? GENESIS_HASH : at(events, k - 2).hash;
    return events.map((e) => {
      if (e.seq < k) return e;
      const fields = { ...e, detail: e.seq === k ? '{"n":"forged"}' : e.detail, prev_hash: prev };
      const hash = computeEventHash(prev, fields);
      prev = hash;
      return { ...fields, hash };
    });
  }

  it('reports the checkpoints it checked and how far they vouch', () => {
    const events = buildChain(N);
    expect(verifyChain(CHAIN, events, headOf(events), { checkpoints: [signed(events, 3), signed(events, 6)] })).toEqual({
      ok: true,
      chainId: CHAIN,
      events: N,
      checkpoints: 2,
      signedThrough: 6,
    });
  });

  it('catches a consistently re-hashed rewrite at the checkpoint after it', () => {
    const events = buildChain(N);
    const checkpoints = [signed(events, 2), signed(events, 6)];
    const rewritten = rewriteFrom(events, 4);
    expect(verifyChain(CHAIN, rewritten, headOf(rewritten)).ok).toBe(true);
    expect(verifyChain(CHAIN, rewritten, headOf(rewritten), { checkpoints })).toMatchObject({ ok: false, seq: 6, problem: 'altered' });
  });

  it('reports a checkpoint that does not verify at its seq', () => {
    const events = buildChain(N);
    const report = verifyChain(CHAIN, events, headOf(events), { checkpoints: [signed(events, 2), signed(events, 5, false)] });
    expect(report).toMatchObject({ ok: false, seq: 5, problem: 'forged_checkpoint' });
  });

  it('reports an earlier broken event before a later forged checkpoint', () => {
    const events = buildChain(N).map((e) => (e.seq === 3 ? { ...e, detail: 'x' } : e));
    expect(verifyChain(CHAIN, events, undefined, { checkpoints: [signed(events, 5, false)] })).toMatchObject({
      seq: 3,
      problem: 'altered',
    });
  });

  it('catches a cut tail by the checkpoint beyond it, even with a head rewritten to match', () => {
    const full = buildChain(N);
    const cut = full.slice(0, 5);
    const report = verifyChain(CHAIN, cut, headOf(cut), { checkpoints: [signed(full, 3), signed(full, 7)] });
    expect(report).toMatchObject({ ok: false, seq: 6, problem: 'truncated' });
  });

  it('does not take a forged checkpoint beyond the end as truncation', () => {
    const full = buildChain(N);
    const cut = full.slice(0, 5);
    expect(verifyChain(CHAIN, cut, headOf(cut), { checkpoints: [signed(full, 7, false)] })).toMatchObject({
      seq: 7,
      problem: 'forged_checkpoint',
    });
  });

  it('starts a pruned chain from a base vouched for by a checkpoint', () => {
    const full = buildChain(N);
    const base = { seq: 4, hash: at(full, 3).hash };
    const retained = full.slice(4);
    expect(verifyChain(CHAIN, retained, headOf(full), { base, checkpoints: [signed(full, 4)] })).toEqual({
      ok: true,
      chainId: CHAIN,
      events: N - 4,
      baseSeq: 4,
      checkpoints: 1,
      signedThrough: 4,
    });
  });

  it.each([
    ['no checkpoint', []],
    ['a checkpoint of another hash', [{ seq: 4, hash: 'e'.repeat(64), valid: true }]],
  ] as const)('refuses a base with %s as unanchored', (_label, checkpoints) => {
    const full = buildChain(N);
    const base = { seq: 4, hash: at(full, 3).hash };
    expect(verifyChain(CHAIN, full.slice(4), headOf(full), { base, checkpoints })).toMatchObject({
      ok: false,
      seq: 4,
      problem: 'unanchored_base',
    });
    expect(verifyChain(CHAIN, [], { seq: 4, hash: base.hash }, { base, checkpoints })).toMatchObject({ problem: 'unanchored_base' });
  });

  it('refuses a base whose checkpoint does not verify as forged', () => {
    const full = buildChain(N);
    const base = { seq: 4, hash: at(full, 3).hash };
    expect(verifyChain(CHAIN, full.slice(4), headOf(full), { base, checkpoints: [signed(full, 4, false)] })).toMatchObject({
      seq: 4,
      problem: 'forged_checkpoint',
    });
  });

  it('refuses an event relabelled with another chain_id, even with every hash recomputed', () => {
    const events = buildChain(N);
    let prev = at(events, 2).hash;
    const relabelled = events.map((e) => {
      if (e.seq < 4) return e;
      const fields = { ...e, prev_hash: prev, ...(e.seq === 4 && { chain_id: 'platform' }) };
      prev = computeEventHash(prev, fields);
      return { ...fields, hash: prev };
    });
    expect(verifyChain(CHAIN, relabelled, headOf(relabelled))).toMatchObject({
      ok: false,
      seq: 4,
      problem: 'altered',
      message: expect.stringContaining('names chain platform'),
    });
  });

  describe('a pruned base and the audit.pruned event recording it', () => {
    /** A chain of N events whose event `at` records pruning through `to`. */
    function withPrunedEvent(atSeq: number, to: number): AuditEventsTable[] {
      let prev = GENESIS_HASH;
      return buildChain(N).map((e) => {
        const fields = { ...e, prev_hash: prev, ...(e.seq === atSeq && { kind: 'audit.pruned', detail: JSON.stringify({ from: 1, to }) }) };
        prev = computeEventHash(prev, fields);
        return { ...fields, hash: prev };
      });
    }
    const verifyFrom = (full: AuditEventsTable[], baseSeq: number) =>
      verifyChain(CHAIN, full.slice(baseSeq), headOf(full), {
        base: { seq: baseSeq, hash: at(full, baseSeq - 1).hash },
        checkpoints: [signed(full, baseSeq)],
        requirePrunedEvent: true,
      });

    it('accepts a base the newest audit.pruned event records', () => {
      expect(verifyFrom(withPrunedEvent(6, 4), 4)).toMatchObject({ ok: true, baseSeq: 4 });
    });

    it.each([
      ['no audit.pruned event', buildChain(N), 4],
      ['an audit.pruned event recording an earlier base', withPrunedEvent(7, 4), 6],
      ['an audit.pruned event recording a later base', withPrunedEvent(7, 5), 4],
    ] as const)('refuses a checkpointed base with %s as unanchored', (_label, full, baseSeq) => {
      expect(verifyFrom(full, baseSeq)).toMatchObject({ ok: false, seq: baseSeq, problem: 'unanchored_base' });
    });

    it('does not require it of an archive segment', () => {
      const full = buildChain(N);
      const base = { seq: 4, hash: at(full, 3).hash };
      expect(verifyChain(CHAIN, full.slice(4), headOf(full), { base, checkpoints: [signed(full, 4)] })).toMatchObject({ ok: true });
    });
  });

  it('refuses a checkpoint fed after a later event', () => {
    const events = buildChain(5);
    const walker = new ChainWalker(CHAIN);
    for (const e of events) walker.push(e);
    expect(walker.pushCheckpoint(signed(events, 2))).toBe(false);
    expect(walker.finish()).toMatchObject({ seq: 2, problem: 'reordered' });
  });
});
