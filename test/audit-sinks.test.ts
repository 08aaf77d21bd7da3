import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { compactVerify, createLocalJWKSet, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeEventHash, GENESIS_HASH } from '../src/audit/chain.js';
import type { CheckpointLine, EventLine } from '../src/audit/export.js';
import type { MandateNode } from '../src/node.js';
import { FrozenClock } from './support/clock.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, snapshot, startTestNode, type TestDatabase } from './support/nodes.js';

interface Payload {
  sink_id: string;
  chain_id: string;
  from_seq: number;
  to_seq: number;
  events: EventLine[];
  checkpoints: CheckpointLine[];
}

interface Received {
  path: string;
  key: string;
  signature: string;
  body: string;
  payload: Payload;
}

/** A real loopback webhook receiver: records every POST and answers what each path is told to. */
class Receiver {
  readonly received: Received[] = [];
  /** Status to answer per path; 200 by default. */
  readonly respond = new Map<string, () => number>();
  delayMs = 0;
  inFlight = 0;
  maxInFlight = 0;
  private server: http.Server | undefined;
  private port = 0;

  async start(): Promise<void> {
    this.server = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', async () => {
        this.inFlight += 1;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        const body = Buffer.concat(chunks).toString('utf8');
        const path = request.url ?? '';
        this.received.push({
          path,
          key: String(request.headers['x-mandate-delivery']),
          signature: String(request.headers['x-mandate-signature']),
          body,
          payload: JSON.parse(body) as Payload,
        });
        if (this.delayMs) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
        this.inFlight -= 1;
        response.writeHead(this.respond.get(path)?.() ?? 200).end();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

/** What a receiver runs (the README's snippet): HMAC over "<t>.<raw body>", constant-time compare, fresh timestamp. */
function verifySignature(secret: string, header: string, rawBody: string, nowSeconds: number, toleranceSeconds = 300): boolean {
  const { t, v1 } = Object.fromEntries(header.split(',').map((kv) => kv.split('=')));
  if (Math.abs(nowSeconds - Number(t)) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${rawBody}`).digest();
  const given = Buffer.from(v1 ?? '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * What a SIEM runs on what it received: each batch once (deduplicated on the signed body's
 * sink_id/from_seq/to_seq), every event's hash recomputed and linked to the previous event's,
 * across batches, and every checkpoint's JWS verified with the issuer's JWKS and matched to the
 * event it vouches for. Returns the seqs of the checkpoints held.
 */
async function verifyDelivered(deliveries: Received[], jwks: JSONWebKeySet): Promise<number[]> {
  const keys = createLocalJWKSet(jwks);
  const seen = new Set<string>();
  const hashes = new Map<number, string>();
  let prevHash = GENESIS_HASH;
  let nextSeq = 1;
  const checkpoints = new Set<number>();
  for (const { payload } of deliveries) {
    const key = `${payload.sink_id}:${payload.from_seq}-${payload.to_seq}`;
    if (seen.has(key)) continue;
    seen.add(key);
    expect(payload.events.map((e) => e.seq)).toEqual(range(payload.from_seq, payload.to_seq));
    expect(payload.from_seq).toBe(nextSeq);
    for (const event of payload.events) {
      expect(event).toMatchObject({ type: 'event', chain_id: payload.chain_id, prev_hash: prevHash });
      expect(typeof event.detail).toBe('string');
      expect(computeEventHash(event.prev_hash, event)).toBe(event.hash);
      hashes.set(event.seq, event.hash);
      prevHash = event.hash;
    }
    nextSeq = payload.to_seq + 1;
    for (const checkpoint of payload.checkpoints) {
      expect(checkpoint).toMatchObject({ type: 'checkpoint', chain_id: payload.chain_id });
      const { payload: signed, protectedHeader } = await compactVerify(checkpoint.jws, keys);
      expect(protectedHeader).toMatchObject({ typ: 'audit-checkpoint+jwt', kid: checkpoint.kid });
      const claims = JSON.parse(new TextDecoder().decode(signed)) as { chain_id: string; seq: number; hash: string };
      expect(claims).toMatchObject({ chain_id: payload.chain_id, seq: checkpoint.seq, hash: checkpoint.hash });
      expect(hashes.get(checkpoint.seq)).toBe(checkpoint.hash);
      checkpoints.add(checkpoint.seq);
    }
  }
  return [...checkpoints].sort((a, b) => a - b);
}

const seqsOf = (deliveries: Received[]): number[] => deliveries.flatMap((d) => d.payload.events.map((e) => e.seq));
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

const MAX_ATTEMPTS = 4;

describe.each(dialects)('audit webhook sinks on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  const receiver = new Receiver();
  const clock = new FrozenClock();
  const logLines: string[] = [];
  const secrets: string[] = [];

  const api = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object, headers: Record<string, string> = adminHeaders) =>
    node.app.inject({ method, url, headers, ...(payload && { payload }) });
  const createOrg = async (slug: string): Promise<string> => (await api('POST', '/v1/organizations', { slug, name: slug })).json().id;
  const addMembers = async (slug: string, n: number) => {
    for (let i = 0; i < n; i++) await api('POST', `/v1/organizations/${slug}/members`, { email: `m${i}-${Math.random()}@${slug}.test` });
  };
  const createSink = async (slug: string, path: string) => {
    const res = await api('POST', `/v1/organizations/${slug}/audit/sinks`, { url: receiver.url(path) });
    expect(res.statusCode).toBe(201);
    const sink = res.json();
    secrets.push(sink.secret);
    return sink as { id: string; secret: string };
  };
  const sinkState = async (slug: string, id: string) =>
    (await api('GET', `/v1/organizations/${slug}/audit/sinks`)).json().data.find((s: { id: string }) => s.id === id);
  /** One delivery pass on this node, after whatever pass its own timer has in flight. */
  const settle = () => node.auditSinkDelivery.deliverDue();
  const deliverAll = async (slug: string, orgId: string, id: string) => {
    for (let i = 0; i < 20; i++) {
      await settle();
      if ((await sinkState(slug, id)).delivered_seq === (await node.auditEvents.head(orgId))?.seq) return;
    }
    throw new Error('the sink did not catch up');
  };
  /** Waits out the backoff the sink reports, and runs a pass. */
  const retryAfterBackoff = async (slug: string, id: string): Promise<number> => {
    const delay = Date.parse((await sinkState(slug, id)).next_attempt_at) - clock.now();
    clock.advance(delay / 1000);
    await settle();
    return delay;
  };
  const jwks = async (): Promise<JSONWebKeySet> => (await node.app.inject({ method: 'GET', url: '/oauth2/jwks' })).json();
  const metric = async (name: string): Promise<number> => {
    const text = (await node.app.inject({ method: 'GET', url: '/metrics' })).body;
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line ? Number(line.split(' ')[1]) : 0;
  };

  beforeAll(async () => {
    await receiver.start();
    db = await createTestDatabase(dialect);
    node = await startTestNode(db, {
      clock,
      config: { devAllowLoopbackFetch: true, auditSinkMaxAttempts: MAX_ATTEMPTS },
      logDestination: { write: (line: string) => void logLines.push(line) },
    });
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
    await receiver.stop();
  });

  it('delivers the chain in order, in batches of 100, each signed with the secret returned at creation', async () => {
    const orgId = await createOrg('acme');
    await addMembers('acme', 50);
    await node.auditMaintenance.runOnce();
    await addMembers('acme', 70);
    await node.auditMaintenance.runOnce();
    const sink = await createSink('acme', '/acme');
    expect(sink.secret).toMatch(/^mnd_whs_[A-Za-z0-9_-]{43}$/);
    await deliverAll('acme', orgId, sink.id);

    const deliveries = receiver.at('/acme');
    expect(deliveries.map((d) => d.key)).toEqual([`${sink.id}:1-100`, `${sink.id}:101-122`]);
    expect(seqsOf(deliveries)).toEqual(range(1, 122));
    const [first, second] = deliveries as [Received, Received];
    expect(first.payload).toMatchObject({ sink_id: sink.id, chain_id: orgId, from_seq: 1, to_seq: 100 });
    expect(second.payload).toMatchObject({ sink_id: sink.id, chain_id: orgId, from_seq: 101, to_seq: 122 });
    // Each event exactly as it was hashed: detail is the canonical JSON string.
    expect(first.payload.events[0]).toMatchObject({ type: 'event', kind: 'organization.created' });
    expect(JSON.parse(first.payload.events[0]?.detail as string)).toMatchObject({ slug: 'acme' });
    expect(second.payload.events.at(-1)).toMatchObject({ kind: 'audit_sink.created' });
    expect(JSON.parse(second.payload.events.at(-1)?.detail as string)).toMatchObject({ id: sink.id });
    // The checkpoints signed at 51 and 121 travel with the batches that hold their events.
    expect(first.payload.checkpoints.map((c) => c.seq)).toEqual([51]);
    expect(second.payload.checkpoints.map((c) => c.seq)).toEqual([51, 121]);

    const now = Math.floor(clock.now() / 1000);
    for (const d of deliveries) {
      expect(d.signature).toMatch(new RegExp(`^t=${now},v1=[0-9a-f]{64}$`));
      expect(verifySignature(sink.secret, d.signature, d.body, now)).toBe(true);
      expect(verifySignature(sink.secret, d.signature, d.body.replace('"member.created"', '"member.deleted"'), now)).toBe(false);
      // The batch range a receiver deduplicates on is signed: it cannot be changed to pass a replay off as new.
      const { from_seq, to_seq } = d.payload;
      expect(verifySignature(sink.secret, d.signature, d.body.replace(`"from_seq":${from_seq},`, `"from_seq":${from_seq + 1},`), now)).toBe(
        false,
      );
      expect(verifySignature(sink.secret, d.signature, d.body.replace(`"to_seq":${to_seq},`, `"to_seq":${to_seq + 1},`), now)).toBe(false);
      expect(verifySignature(`${sink.secret}x`, d.signature, d.body, now)).toBe(false);
      // A captured delivery replayed much later is refused by the timestamp check.
      expect(verifySignature(sink.secret, d.signature, d.body, now + 3600)).toBe(false);
    }
    expect(await sinkState('acme', sink.id)).toMatchObject({ delivered_seq: 122, attempts: 0, dead_letters: 0, last_error: null });

    // A checkpoint signed after its events went out reaches the receiver with the next batch.
    await node.auditMaintenance.runOnce();
    await addMembers('acme', 1);
    await deliverAll('acme', orgId, sink.id);
    expect(receiver.at('/acme').at(-1)?.payload).toMatchObject({ from_seq: 123, to_seq: 123 });
    expect(
      receiver
        .at('/acme')
        .at(-1)
        ?.payload.checkpoints.map((c) => c.seq),
    ).toEqual([122]);
    expect(await verifyDelivered(receiver.at('/acme'), await jwks())).toEqual([51, 121, 122]);
  });

  it('retries a failing receiver with growing delays, resending the same batch under the same key, and loses nothing', async () => {
    const orgId = await createOrg('flaky');
    await addMembers('flaky', 2);
    const sink = await createSink('flaky', '/flaky');
    let calls = 0;
    receiver.respond.set('/flaky', () => (++calls <= 3 ? 503 : 200));

    await settle();
    expect(receiver.at('/flaky')).toHaveLength(1);
    expect(await sinkState('flaky', sink.id)).toMatchObject({
      attempts: 1,
      delivered_seq: 0,
      last_error: 'the receiver answered HTTP 503',
    });
    // A new event while the batch waits: the retry still carries exactly the failed batch.
    await addMembers('flaky', 1);
    await settle();
    expect(receiver.at('/flaky')).toHaveLength(1);

    const delays = [];
    for (let attempt = 2; attempt <= 4; attempt++) {
      delays.push(await retryAfterBackoff('flaky', sink.id));
      expect(receiver.at('/flaky')).toHaveLength(attempt);
    }
    const [d1, d2, d3] = delays as [number, number, number];
    expect(d1).toBeGreaterThanOrEqual(1000);
    expect(d1).toBeLessThanOrEqual(1250);
    expect(d2).toBeGreaterThan(d1);
    expect(d3).toBeGreaterThan(d2);
    expect(d3).toBeGreaterThanOrEqual(4000);

    await deliverAll('flaky', orgId, sink.id);
    const deliveries = receiver.at('/flaky');
    expect(deliveries.map((d) => d.key)).toEqual([...Array(4).fill(`${sink.id}:1-4`), `${sink.id}:5-5`]);
    for (const d of deliveries.slice(0, 4)) {
      expect(d.payload.events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expect(d.payload).toMatchObject({ from_seq: 1, to_seq: 4 });
    }
    // What the receiver acknowledged is the whole chain, once, in order, and it verifies.
    expect(seqsOf(deliveries.slice(3))).toEqual(range(1, 5));
    await verifyDelivered(deliveries, await jwks());
    expect(await sinkState('flaky', sink.id)).toMatchObject({ delivered_seq: 5, attempts: 0, dead_letters: 0, last_error: null });
  });

  it('dead-letters a batch after the last attempt, counts it on /metrics, and keeps delivering later events', async () => {
    const failuresBefore = await metric('mandate_audit_sink_deliveries_total{result="failure"}');
    const orgId = await createOrg('down');
    const sink = await createSink('down', '/down');
    let up = false;
    receiver.respond.set('/down', () => (up ? 200 : 500));

    await settle();
    for (let attempt = 2; attempt <= MAX_ATTEMPTS; attempt++) await retryAfterBackoff('down', sink.id);
    expect(receiver.at('/down').map((d) => d.key)).toEqual(Array(MAX_ATTEMPTS).fill(`${sink.id}:1-2`));
    expect(await sinkState('down', sink.id)).toMatchObject({
      delivered_seq: 2,
      attempts: 0,
      dead_letters: 1,
      next_attempt_at: null,
      last_error: 'the receiver answered HTTP 500',
    });
    expect(await metric('mandate_audit_sink_dead_letters_total')).toBe(1);
    expect(await metric('mandate_audit_sink_deliveries_total{result="failure"}')).toBe(failuresBefore + MAX_ATTEMPTS);
    const letters = await node.runtime.store.db.selectFrom('audit_sink_dead_letters').selectAll().where('sink_id', '=', sink.id).execute();
    expect(letters).toMatchObject([{ from_seq: 1, to_seq: 2, attempts: MAX_ATTEMPTS, error: 'the receiver answered HTTP 500' }]);

    up = true;
    await addMembers('down', 1);
    await deliverAll('down', orgId, sink.id);
    expect(
      receiver
        .at('/down')
        .slice(MAX_ATTEMPTS)
        .map((d) => d.key),
    ).toEqual([`${sink.id}:3-3`]);
    expect(await sinkState('down', sink.id)).toMatchObject({ delivered_seq: 3, dead_letters: 1, last_error: null });
  });

  it('sends nothing, and says why, when no master key opens the sink secret', async () => {
    await createOrg('sealed');
    const sink = await createSink('sealed', '/sealed');
    const db = node.runtime.store.db;
    // Another sink's ciphertext: sealed to that sink's id, so it does not open here.
    const { secret_ciphertext } = await db
      .selectFrom('audit_sinks')
      .select('secret_ciphertext')
      .where('id', '!=', sink.id)
      .executeTakeFirstOrThrow();
    await db.updateTable('audit_sinks').set({ secret_ciphertext }).where('id', '=', sink.id).execute();
    await settle();
    expect(receiver.at('/sealed')).toEqual([]);
    expect(await sinkState('sealed', sink.id)).toMatchObject({
      attempts: 1,
      delivered_seq: 0,
      last_error: expect.stringMatching(/secret cannot be opened/),
    });
  });

  it('refuses bad input with a clear error and changes nothing', async () => {
    const acmeSink = (await api('GET', '/v1/organizations/acme/audit/sinks')).json().data[0].id as string;
    await createOrg('other');
    const sinkIds = async () =>
      (await node.runtime.store.db.selectFrom('audit_sinks').select('id').orderBy('id').execute()).map((r) => r.id);
    const before = await snapshot(node);
    const idsBefore = await sinkIds();
    const sinks = '/v1/organizations/acme/audit/sinks';
    const cases: [string, 'GET' | 'POST' | 'DELETE', string, object | undefined, Record<string, string>, number, string, RegExp][] = [
      ['plain http', 'POST', sinks, { url: 'http://siem.example.com/hook' }, adminHeaders, 400, 'invalid_request', /https/],
      ['a private address', 'POST', sinks, { url: 'https://10.0.0.5/hook' }, adminHeaders, 400, 'invalid_request', /private/],
      [
        'cloud metadata',
        'POST',
        sinks,
        { url: 'https://169.254.169.254/latest/meta-data' },
        adminHeaders,
        400,
        'invalid_request',
        /private/,
      ],
      ['IPv6 unique-local', 'POST', sinks, { url: 'https://[fd00::1]/hook' }, adminHeaders, 400, 'invalid_request', /private/],
      ['credentials', 'POST', sinks, { url: 'https://u:p@siem.example.com/' }, adminHeaders, 400, 'invalid_request', /credentials/],
      ['not a URL', 'POST', sinks, { url: 'siem' }, adminHeaders, 400, 'invalid_request', /absolute URL/],
      [
        'a caller-chosen secret',
        'POST',
        sinks,
        { url: receiver.url('/x'), secret: 'mine' },
        adminHeaders,
        400,
        'invalid_request',
        /additional properties/,
      ],
      [
        'an unknown org',
        'POST',
        '/v1/organizations/nope/audit/sinks',
        { url: receiver.url('/x') },
        adminHeaders,
        404,
        'not_found',
        /organization/,
      ],
      ['no admin key (create)', 'POST', sinks, { url: receiver.url('/x') }, {}, 401, 'unauthorized', /admin API key/],
      ['no admin key (list)', 'GET', sinks, undefined, {}, 401, 'unauthorized', /admin API key/],
      ['no admin key (delete)', 'DELETE', `${sinks}/${acmeSink}`, undefined, {}, 401, 'unauthorized', /admin API key/],
      [
        'another org’s sink',
        'DELETE',
        `/v1/organizations/other/audit/sinks/${acmeSink}`,
        undefined,
        adminHeaders,
        404,
        'not_found',
        /sink/,
      ],
      ['an unknown sink', 'DELETE', `${sinks}/snk_00000000000000000000000000`, undefined, adminHeaders, 404, 'not_found', /sink/],
    ];
    for (const [name, method, url, payload, headers, status, error, description] of cases) {
      const res = await api(method, url, payload, headers);
      expect({ name, status: res.statusCode }).toEqual({ name, status });
      expect(res.json()).toMatchObject({ error, error_description: expect.stringMatching(description), request_id: expect.any(String) });
    }
    expect(await snapshot(node)).toBe(before);
    expect(await sinkIds()).toEqual(idsBefore);
  });

  it('deletes a sink, records it in the trail, and stops delivering to it', async () => {
    const sink = (await api('GET', '/v1/organizations/acme/audit/sinks')).json().data[0].id as string;
    expect((await api('DELETE', `/v1/organizations/acme/audit/sinks/${sink}`)).statusCode).toBe(204);
    expect((await api('GET', '/v1/organizations/acme/audit/sinks')).json().data).toEqual([]);
    const deleted = (await api('GET', '/v1/audit/events?org=acme&kind=audit_sink.deleted')).json().data;
    expect(deleted).toMatchObject([{ detail: { id: sink } }]);
    const count = receiver.at('/acme').length;
    await addMembers('acme', 1);
    await settle();
    expect(receiver.at('/acme')).toHaveLength(count);
  });

  it('shows the URL without its query string, and still delivers to the URL as given', async () => {
    const orgId = await createOrg('tokened');
    const res = await api('POST', '/v1/organizations/tokened/audit/sinks', { url: receiver.url('/tok?token=rcv-token-123&x=1') });
    expect(res.statusCode).toBe(201);
    const created = res.json() as { id: string; url: string; secret: string };
    secrets.push(created.secret);
    expect(created.url).toBe(receiver.url('/tok?…'));
    const listed = (await api('GET', '/v1/organizations/tokened/audit/sinks')).json().data;
    expect(listed).toMatchObject([{ id: created.id, url: receiver.url('/tok?…') }]);
    const stored = await node.runtime.store.db
      .selectFrom('audit_sinks')
      .select('url')
      .where('id', '=', created.id)
      .executeTakeFirstOrThrow();
    expect(stored.url).toBe(receiver.url('/tok?token=rcv-token-123&x=1'));

    receiver.respond.set('/tok?token=rcv-token-123&x=1', () => 502);
    await settle();
    receiver.respond.delete('/tok?token=rcv-token-123&x=1');
    await retryAfterBackoff('tokened', created.id);
    await deliverAll('tokened', orgId, created.id);
    expect(receiver.at('/tok?token=rcv-token-123&x=1').map((d) => d.key)).toEqual([`${created.id}:1-2`, `${created.id}:1-2`]);
    const shown = [
      (await api('GET', '/v1/organizations/tokened/audit/sinks')).body,
      (await api('GET', '/v1/audit/events?org=tokened')).body,
      logLines.join('\n'),
    ];
    expect(logLines.some((l) => l.includes(created.id))).toBe(true);
    for (const text of shown) expect(text).not.toContain('rcv-token-123');
  });

  it('holds an organization to 10 sinks, even when creations race', async () => {
    await createOrg('many');
    const results = await Promise.all(
      Array.from({ length: 14 }, (_, i) => api('POST', '/v1/organizations/many/audit/sinks', { url: receiver.url(`/many/${i}`) })),
    );
    const statuses = results.map((r) => r.statusCode).sort();
    expect(statuses).toEqual([...Array(10).fill(201), ...Array(4).fill(409)]);
    for (const r of results.filter((r) => r.statusCode === 409)) expect(r.json()).toMatchObject({ error: 'conflict' });
    for (const r of results.filter((r) => r.statusCode === 201)) secrets.push(r.json().secret);
    const sinks = (await api('GET', '/v1/organizations/many/audit/sinks')).json().data as { id: string }[];
    expect(sinks).toHaveLength(10);
    const created = (await api('GET', '/v1/audit/events?org=many&kind=audit_sink.created')).json().data;
    expect(created).toHaveLength(10);
    for (const sink of sinks) expect((await api('DELETE', `/v1/organizations/many/audit/sinks/${sink.id}`)).statusCode).toBe(204);
  });

  it('stops delivering, and disables the sink, once its organization is deleted', async () => {
    const orgId = await createOrg('gone');
    const sink = await createSink('gone', '/gone');
    await deliverAll('gone', orgId, sink.id);
    const count = receiver.at('/gone').length;
    expect((await api('DELETE', '/v1/organizations/gone')).statusCode).toBe(204);
    await settle();
    await settle();
    expect(receiver.at('/gone')).toHaveLength(count);
    const row = await node.runtime.store.db.selectFrom('audit_sinks').selectAll().where('id', '=', sink.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'disabled', last_error: 'the organization was deleted', lease_owner: null });
  });

  it('never shows the secret again: not in listings, the audit trail, logs or the database', async () => {
    expect(secrets.length).toBeGreaterThanOrEqual(3);
    const shown = [
      (await api('GET', '/v1/organizations/flaky/audit/sinks')).body,
      (await api('GET', '/v1/organizations/down/audit/sinks')).body,
      (await api('GET', '/v1/audit/events?kind=audit_sink.created')).body,
      logLines.join('\n'),
    ];
    // The logs hold the delivery failures, so the check below has something to look through.
    expect(logLines.some((l) => l.includes('dead-lettered'))).toBe(true);
    expect(shown[0]).not.toContain('"secret"');
    const rows = await node.runtime.store.db.selectFrom('audit_sinks').select('secret_ciphertext').execute();
    for (const secret of secrets) {
      for (const text of shown) expect(text).not.toContain(secret);
      for (const row of rows) expect(row.secret_ciphertext).not.toContain(secret.slice('mnd_whs_'.length));
    }
  });
});

describe.runIf(dialects.includes('postgres'))('audit webhook sinks on two nodes over one PostgreSQL', () => {
  let db: TestDatabase;
  let nodes: MandateNode[] = [];
  const receiver = new Receiver();

  beforeAll(async () => {
    await receiver.start();
    db = await createTestDatabase('postgres');
    const config = { devAllowLoopbackFetch: true };
    nodes = [await startTestNode(db, { config }), await startTestNode(db, { config })];
  });
  afterAll(async () => {
    for (const node of nodes) await node.shutdown();
    await db?.dispose();
    await receiver.stop();
  });

  it('delivers each batch once: a lease lets one node at a time deliver a sink', async () => {
    const [a, b] = nodes as [MandateNode, MandateNode];
    const post = (node: MandateNode, url: string, payload: object) =>
      node.app.inject({ method: 'POST', url, payload, headers: adminHeaders });
    const orgId = (await post(a, '/v1/organizations', { slug: 'cluster', name: 'Cluster' })).json().id as string;
    const sink = (await post(b, '/v1/organizations/cluster/audit/sinks', { url: receiver.url('/cluster') })).json();
    // A slow receiver widens the window in which both nodes would send the same batch.
    receiver.delayMs = 20;

    let writing = true;
    const deliverers = [a, b].map(async (node) => {
      while (writing) await node.auditSinkDelivery.deliverDue();
    });
    let signedAt = 0;
    for (let i = 0; i < 240; i++) {
      await post(i % 2 ? a : b, '/v1/organizations/cluster/members', { email: `m${i}@cluster.test` });
      if (i === 120) signedAt = (await b.auditMaintenance.runOnce()).checkpoints.find((c) => c.chainId === orgId)?.seq ?? 0;
    }
    const head = (await a.auditEvents.head(orgId))?.seq as number;
    for (let i = 0; i < 50; i++) {
      const state = (
        await a.runtime.store.db.selectFrom('audit_sinks').select('delivered_seq').where('id', '=', sink.id).executeTakeFirstOrThrow()
      ).delivered_seq;
      if (state === head) break;
      await Promise.all([a.auditSinkDelivery.deliverDue(), b.auditSinkDelivery.deliverDue()]);
    }
    writing = false;
    await Promise.all(deliverers);

    const deliveries = receiver.at('/cluster');
    expect(head).toBe(242);
    expect(seqsOf(deliveries)).toEqual(range(1, head));
    expect(new Set(deliveries.map((d) => d.key)).size).toBe(deliveries.length);
    expect(receiver.maxInFlight).toBe(1);
    // Whichever node sent it, the receiver holds a chain that verifies, and the checkpoint signed mid-way.
    const jwks = (await a.app.inject({ method: 'GET', url: '/oauth2/jwks' })).json();
    expect(signedAt).toBeGreaterThan(0);
    expect(await verifyDelivered(deliveries, jwks)).toContain(signedAt);
  });
});
