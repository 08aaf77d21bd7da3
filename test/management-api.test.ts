import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, snapshot, startTestNode, type TestDatabase } from './support/nodes.js';

describe.each(dialects)('management API on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let acme: { id: string; slug: string };
  let globex: { id: string };
  let globexMember: { id: string };

  const call = (
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    payload?: unknown,
    headers: Record<string, string> = adminHeaders,
  ) => node.app.inject({ method, url, headers, ...(payload !== undefined && { payload: payload as object }) });

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db);
    acme = (await call('POST', '/v1/organizations', { slug: 'acme', name: 'Acme Corp' })).json();
    globex = (await call('POST', '/v1/organizations', { slug: 'globex', name: 'Globex' })).json();
    globexMember = (await call('POST', `/v1/organizations/${globex.id}/members`, { email: 'hank@globex.test' })).json();
  });
  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it('creates, reads, updates and deletes an organization, by id or slug', async () => {
    const created = await call('POST', '/v1/organizations', {
      slug: 'initech',
      name: 'Initech',
      settings: { access_token_ttl_seconds: 300 },
    });
    expect(created.statusCode).toBe(201);
    const org = created.json();
    expect(org).toMatchObject({ slug: 'initech', name: 'Initech', settings: { access_token_ttl_seconds: 300 } });
    expect(org.id).toMatch(/^org_[0-9a-z]{26}$/);
    expect(created.headers['x-request-id']).toMatch(/^req_/);

    expect((await call('GET', '/v1/organizations/initech')).json().id).toBe(org.id);
    const patched = await call('PATCH', `/v1/organizations/${org.id}`, { name: 'Initech LLC' });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ name: 'Initech LLC', slug: 'initech' });

    expect((await call('DELETE', '/v1/organizations/initech')).statusCode).toBe(204);
    expect((await call('GET', `/v1/organizations/${org.id}`)).statusCode).toBe(404);
  });

  it('manages members inside their organization and lower-cases emails', async () => {
    const res = await call('POST', '/v1/organizations/acme/members', { email: 'John.Doe@XCorp.test', name: 'John Doe' });
    expect(res.statusCode).toBe(201);
    const member = res.json();
    expect(member).toMatchObject({ org_id: acme.id, email: 'john.doe@xcorp.test', name: 'John Doe', status: 'active' });

    const found = await call('GET', '/v1/organizations/acme/members?email=JOHN.DOE@xcorp.test');
    expect(found.json().data.map((m: { id: string }) => m.id)).toEqual([member.id]);

    const suspended = await call('PATCH', `/v1/organizations/acme/members/${member.id}`, { status: 'suspended' });
    expect(suspended.json().status).toBe('suspended');
    expect((await call('DELETE', `/v1/organizations/acme/members/${member.id}`)).statusCode).toBe(204);
    expect((await call('GET', `/v1/organizations/acme/members/${member.id}`)).statusCode).toBe(404);
  });

  it('pages through organizations with a cursor, each exactly once', async () => {
    for (let i = 0; i < 5; i++) await call('POST', '/v1/organizations', { slug: `page-${i}`, name: `Page ${i}` });
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: string = cursor ? `?limit=2&cursor=${cursor}` : '?limit=2';
      const page = (await call('GET', `/v1/organizations${query}`)).json();
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...page.data.map((o: { id: string }) => o.id));
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor && pages < 50);
    const all = await node.runtime.store.db.selectFrom('organizations').select('id').orderBy('id').execute();
    expect(seen).toEqual(all.map((o) => o.id));
    expect(pages).toBeGreaterThan(2);
  });

  it('records every change in the organization audit chain, in the same transaction', async () => {
    const events = (await call('GET', `/v1/audit/events?org=${acme.id}`)).json().data as { kind: string; actor_id: string }[];
    expect(events.map((e) => e.kind)).toEqual(
      expect.arrayContaining(['organization.created', 'member.created', 'member.updated', 'member.deleted']),
    );
    expect(events.every((e) => e.actor_id?.startsWith('ak_'))).toBe(true);
  });

  it('rolls back a change when its audit event cannot be written', async () => {
    const before = await snapshot(node);
    const original = node.audit.append.bind(node.audit);
    node.audit.append = async () => {
      throw new Error('audit store unavailable');
    };
    try {
      const res = await call('POST', '/v1/organizations', { slug: 'no-audit', name: 'No Audit' });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toMatchObject({ error: 'server_error' });
      expect(res.body).not.toContain('audit store unavailable');
    } finally {
      node.audit.append = original;
    }
    expect(await snapshot(node)).toBe(before);
  });

  // Every refused request answers the documented error shape and leaves the database untouched.
  const refusals: {
    name: string;
    request: () => {
      method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
      url: string;
      payload?: string | object;
      headers?: Record<string, string>;
    };
    status: number;
    error: string;
    challenge?: RegExp;
  }[] = [
    {
      name: 'malformed JSON',
      request: () => ({
        method: 'POST',
        url: '/v1/organizations',
        payload: '{"slug": "x",',
        headers: { 'content-type': 'application/json' },
      }),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'unknown organization',
      request: () => ({ method: 'GET', url: '/v1/organizations/no-such-org' }),
      status: 404,
      error: 'not_found',
    },
    {
      name: 'unknown organization on write',
      request: () => ({ method: 'POST', url: '/v1/organizations/no-such-org/members', payload: { email: 'a@b.test' } }),
      status: 404,
      error: 'not_found',
    },
    {
      name: 'missing admin key',
      request: () => ({ method: 'POST', url: '/v1/organizations', payload: { slug: 'nokey', name: 'x' }, headers: { authorization: '' } }),
      status: 401,
      error: 'unauthorized',
      challenge: /^Bearer realm="mandate"$/,
    },
    {
      name: 'wrong admin key',
      request: () => ({
        method: 'POST',
        url: '/v1/organizations',
        payload: { slug: 'badkey', name: 'x' },
        headers: { authorization: `Bearer mnd_ak_${'x'.repeat(43)}` },
      }),
      status: 401,
      error: 'unauthorized',
      challenge: /error="invalid_token"/,
    },
    {
      name: 'non-bearer authorization',
      request: () => ({ method: 'GET', url: '/v1/organizations', headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } }),
      status: 401,
      error: 'unauthorized',
      challenge: /^Bearer realm="mandate"/,
    },
    {
      name: 'duplicate organization slug',
      request: () => ({ method: 'POST', url: '/v1/organizations', payload: { slug: 'acme', name: 'Another Acme' } }),
      status: 409,
      error: 'conflict',
    },
    {
      name: 'slug taken on rename',
      request: () => ({ method: 'PATCH', url: '/v1/organizations/globex', payload: { slug: 'acme' } }),
      status: 409,
      error: 'conflict',
    },
    {
      name: 'duplicate member email (case-insensitive)',
      request: () => ({ method: 'POST', url: `/v1/organizations/${globex.id}/members`, payload: { email: 'HANK@globex.test' } }),
      status: 409,
      error: 'conflict',
    },
    {
      name: 'over-long name',
      request: () => ({ method: 'POST', url: '/v1/organizations', payload: { slug: 'long', name: 'x'.repeat(201) } }),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'control character in name',
      request: () => ({ method: 'POST', url: '/v1/organizations', payload: { slug: 'ctl', name: 'Evil\u0000Corp' } }),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'newline in member name',
      request: () => ({ method: 'POST', url: '/v1/organizations/acme/members', payload: { email: 'n@acme.test', name: 'a\nb' } }),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'bidirectional override in name',
      request: () => ({ method: 'PATCH', url: '/v1/organizations/acme', payload: { name: 'Acme\u202Egnp.exe' } }),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'upper-case slug',
      request: () => ({ method: 'POST', url: '/v1/organizations', payload: { slug: 'ACME2', name: 'x' } }),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'unknown field',
      request: () => ({ method: 'POST', url: '/v1/organizations', payload: { slug: 'extra', name: 'x', owner: 'me' } }),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'wrong type not coerced',
      request: () => ({ method: 'POST', url: '/v1/organizations', payload: { slug: 'typed', name: 123 } }),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'invalid email',
      request: () => ({ method: 'POST', url: '/v1/organizations/acme/members', payload: { email: 'not-an-email' } }),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'empty patch',
      request: () => ({ method: 'PATCH', url: '/v1/organizations/acme', payload: {} }),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'member of another organization',
      request: () => ({ method: 'GET', url: `/v1/organizations/acme/members/${globexMember.id}` }),
      status: 404,
      error: 'not_found',
    },
    {
      name: 'deleting a member through another organization',
      request: () => ({ method: 'DELETE', url: `/v1/organizations/acme/members/${globexMember.id}` }),
      status: 404,
      error: 'not_found',
    },
    {
      name: 'updating a member through another organization',
      request: () => ({ method: 'PATCH', url: `/v1/organizations/acme/members/${globexMember.id}`, payload: { status: 'suspended' } }),
      status: 404,
      error: 'not_found',
    },
    {
      name: 'tampered cursor',
      request: () => ({ method: 'GET', url: '/v1/organizations?cursor=eyJhZnRlciI6MX0' }),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'limit out of range',
      request: () => ({ method: 'GET', url: '/v1/organizations?limit=1000' }),
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'body over the size limit',
      request: () => ({ method: 'POST', url: '/v1/organizations', payload: { slug: 'big', name: 'x', pad: 'y'.repeat(70_000) } }),
      status: 413,
      error: 'payload_too_large',
    },
    {
      name: 'wrong content type',
      request: () => ({
        method: 'POST',
        url: '/v1/organizations',
        payload: 'slug=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
      status: 415,
      error: 'unsupported_media_type',
    },
    { name: 'unknown route', request: () => ({ method: 'GET', url: '/v1/nothing-here' }), status: 404, error: 'not_found' },
  ];

  it.each(refusals)('refuses $name with $status and changes nothing', async ({ request, status, error, challenge }) => {
    const before = await snapshot(node);
    const { method, url, payload, headers } = request();
    const res = await node.app.inject({
      method,
      url,
      headers: { ...adminHeaders, ...headers },
      ...(payload !== undefined && { payload }),
    });
    expect(res.statusCode).toBe(status);
    const body = res.json();
    expect(body).toEqual({ error, error_description: expect.any(String), request_id: res.headers['x-request-id'] });
    expect(body.error_description.length).toBeGreaterThan(5);
    if (challenge) expect(res.headers['www-authenticate']).toMatch(challenge);
    expect(await snapshot(node)).toBe(before);
  });

  it('refuses a revoked admin key', async () => {
    const { secret, key } = await node.adminKeys.create('temporary');
    expect((await call('GET', '/v1/organizations', undefined, { authorization: `Bearer ${secret}` })).statusCode).toBe(200);
    await node.adminKeys.revoke(key.id);
    const res = await call('GET', '/v1/organizations', undefined, { authorization: `Bearer ${secret}` });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toContain('invalid_token');
  });

  it('stores admin keys only as hashes', async () => {
    const { secret } = await node.adminKeys.create('hashed');
    const rows = await node.runtime.store.db.selectFrom('admin_keys').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(secret);
    expect(JSON.stringify(await node.adminKeys.list())).not.toContain('secret_hash');
  });
});
