import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { CODE_MCP, type CodeFlowFixture, createCodeFlowFixture, obtainUserTokens } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';
import { basic } from './support/oauth-fixtures.js';

type Json = { [key: string]: unknown };

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const ctx = { environment: 'prod', classification: 'internal' };

describe.each(dialects)('SCIM 2.0 on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let loginApp: CustomerLoginApp;
  let fx: CodeFlowFixture;
  let acmeToken: string;
  let globexToken: string;
  let xcorpToken: string;

  const admin = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
    node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });
  const scim = (
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    body?: unknown,
    options: { token?: string; headers?: Record<string, string> } = {},
  ) =>
    node.app.inject({
      method,
      url: `/scim/v2${url}`,
      headers: {
        authorization: `Bearer ${options.token ?? acmeToken}`,
        ...(body !== undefined && { 'content-type': 'application/scim+json' }),
        ...options.headers,
      },
      ...(body !== undefined && { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  const filterUrl = (path: string, filter: string, extra = '') => `${path}?filter=${encodeURIComponent(filter)}${extra}`;
  const patchOp = (...Operations: unknown[]) => ({ schemas: [PATCH_OP], Operations });
  const events = async (kind: string, org = 'acme'): Promise<(Json & { detail: Json })[]> =>
    (await admin('GET', `/v1/audit/events?org=${org}&kind=${kind}&limit=200`)).json().data;
  const memberOf = async (id: string, org = 'acme') => admin('GET', `/v1/organizations/${org}/members/${id}`);
  const check = async (memberId: string, org: string) =>
    (await admin('POST', '/v1/authz/check', { organization: org, member_id: memberId, tool: 'repo', action: 'read', context: ctx })).json()
      .decision as string;
  const newToken = async (org: string, name = 'IdP') => (await admin('POST', `/v1/organizations/${org}/scim-tokens`, { name })).json();
  const snapshot = async () => {
    const tables = ['members', 'scim_groups', 'scim_group_members', 'role_bindings', 'audit_events'] as const;
    const rows = await Promise.all(tables.map((table) => node.runtime.store.db.selectFrom(table).selectAll().execute()));
    return JSON.stringify(rows);
  };

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db);
    for (const [slug, name] of [
      ['acme', 'Acme'],
      ['globex', 'Globex'],
    ])
      expect((await admin('POST', '/v1/organizations', { slug, name })).statusCode).toBe(201);
    loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@xcorp.test', name: 'John' });
    fx = await createCodeFlowFixture(node, loginApp);
    acmeToken = (await newToken('acme', 'Okta')).token;
    globexToken = (await newToken('globex', 'Entra ID')).token;
    xcorpToken = (await newToken('xcorp')).token;
  });
  afterAll(async () => {
    await node?.shutdown();
    await loginApp?.close();
    await db?.dispose();
  });

  describe('SCIM tokens', () => {
    it('are shown once, listed without secrets, stored hashed, and revoked at once', async () => {
      const created = await newToken('acme', 'Spare');
      expect(created).toMatchObject({
        id: expect.stringMatching(/^sct_[0-9a-z]{26}$/),
        name: 'Spare',
        last_used_at: null,
        revoked_at: null,
      });
      expect(created.token).toMatch(/^mnd_scim_[A-Za-z0-9_-]{43}$/);
      const stored = await node.runtime.store.db
        .selectFrom('scim_tokens')
        .selectAll()
        .where('id', '=', created.id)
        .executeTakeFirstOrThrow();
      expect(JSON.stringify(stored)).not.toContain(created.token);
      expect((await scim('GET', '/Users', undefined, { token: created.token })).statusCode).toBe(200);

      const listed = (await admin('GET', '/v1/organizations/acme/scim-tokens')).json().data as Json[];
      expect(listed.map((t) => t.name)).toEqual(['Okta', 'Spare']);
      expect(JSON.stringify(listed)).not.toContain('mnd_scim_');
      expect(listed.find((t) => t.id === created.id)?.last_used_at).toEqual(expect.any(String));

      expect((await admin('DELETE', `/v1/organizations/globex/scim-tokens/${created.id}`)).statusCode).toBe(404);
      expect((await admin('DELETE', `/v1/organizations/acme/scim-tokens/${created.id}`)).statusCode).toBe(204);
      const refused = await scim('GET', '/Users', undefined, { token: created.token });
      expect(refused.statusCode).toBe(401);
      expect(refused.json()).toEqual({ schemas: [ERROR], status: '401', detail: expect.any(String) });
      expect(refused.headers['www-authenticate']).toContain('Bearer');
      expect((await events('scim_token.created')).map((e) => e.detail.name)).toEqual(expect.arrayContaining(['Okta', 'Spare']));
      expect((await events('scim_token.revoked')).map((e) => e.detail.id)).toEqual([created.id]);
    });

    it('are in the OpenAPI document; the SCIM protocol is not', async () => {
      const doc = (await node.app.inject({ method: 'GET', url: '/v1/openapi.json' })).json();
      expect(doc.paths['/v1/organizations/{org}/scim-tokens'].post.security).toEqual([{ adminKey: [] }]);
      expect(Object.keys(doc.paths).filter((path) => path.startsWith('/scim'))).toEqual([]);
    });

    it.each([
      ['no credentials', undefined],
      ['an unknown token', `mnd_scim_${'x'.repeat(43)}`],
      ['the admin API key', adminHeaders.authorization.slice('Bearer '.length)],
      ['a malformed header', 'two words'],
    ])('refuses %s with a SCIM 401', async (_name, token) => {
      const res = await node.app.inject({
        method: 'GET',
        url: '/scim/v2/Users',
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      });
      expect(res.statusCode).toBe(401);
      expect(res.headers['content-type']).toContain('application/scim+json');
      expect(res.json()).toMatchObject({ schemas: [ERROR], status: '401' });
    });
  });

  it('advertises exactly what it supports', async () => {
    const config = await scim('GET', '/ServiceProviderConfig');
    expect(config.statusCode).toBe(200);
    expect(config.headers['content-type']).toContain('application/scim+json');
    expect(config.json()).toMatchObject({
      patch: { supported: true },
      bulk: { supported: false },
      filter: { supported: true, maxResults: 200 },
      changePassword: { supported: false },
      sort: { supported: true },
      etag: { supported: true },
      authenticationSchemes: [{ type: 'oauthbearertoken', primary: true }],
    });
    const types = (await scim('GET', '/ResourceTypes')).json();
    expect(types).toMatchObject({ schemas: [LIST], totalResults: 2 });
    expect(types.Resources.map((t: Json) => [t.id, t.endpoint, t.schema])).toEqual([
      ['User', '/Users', USER],
      ['Group', '/Groups', GROUP],
    ]);
    expect((await scim('GET', '/ResourceTypes/User')).json().schemaExtensions).toEqual([{ schema: ENTERPRISE, required: false }]);
    const schemas = (await scim('GET', '/Schemas')).json();
    expect(schemas.Resources.map((s: Json) => s.id)).toEqual([USER, ENTERPRISE, GROUP]);
    const user = (await scim('GET', `/Schemas/${USER}`)).json();
    expect(user.attributes.map((a: Json) => a.name)).toContain('userName');
    expect(user.attributes.map((a: Json) => a.name)).not.toContain('password');
    expect((await scim('GET', '/Schemas/urn:nope')).statusCode).toBe(404);
  });

  it('runs the Okta provisioning sequence', async () => {
    const role = (
      await admin('POST', '/v1/organizations/acme/roles', { name: 'Engineer', permissions: [{ tool: 'repo', action: 'read' }] })
    ).json();
    expect(
      (await admin('PUT', '/v1/organizations/acme/group-role-mappings', { mappings: [{ group: 'Engineering', role_id: role.id }] }))
        .statusCode,
    ).toBe(200);

    // Okta first looks the user up by userName, paged.
    const lookup = await scim('GET', filterUrl('/Users', 'userName eq "dade.murphy@acme.test"', '&startIndex=1&count=100'));
    expect(lookup.statusCode).toBe(200);
    expect(lookup.json()).toEqual({ schemas: [LIST], totalResults: 0, itemsPerPage: 0, startIndex: 1, Resources: [] });

    const created = await scim('POST', '/Users', {
      schemas: [USER],
      userName: 'dade.murphy@acme.test',
      name: { givenName: 'Dade', familyName: 'Murphy' },
      emails: [{ primary: true, value: 'dade.murphy@acme.test', type: 'work' }],
      displayName: 'Dade Murphy',
      locale: 'en-US',
      externalId: '00ujl29u0le5T6Aj10h7',
      groups: [],
      password: '1mz050nq',
      active: true,
    });
    expect(created.statusCode).toBe(201);
    const user = created.json();
    expect(user).toMatchObject({
      schemas: [USER],
      id: expect.stringMatching(/^mbr_/),
      userName: 'dade.murphy@acme.test',
      externalId: '00ujl29u0le5T6Aj10h7',
      name: { givenName: 'Dade', familyName: 'Murphy' },
      displayName: 'Dade Murphy',
      locale: 'en-US',
      active: true,
      meta: { resourceType: 'User', location: `http://localhost:4000/scim/v2/Users/${user.id}`, version: expect.stringMatching(/^W\/"/) },
    });
    expect(user.password).toBeUndefined();
    expect(created.headers.location).toBe(user.meta.location);
    expect(created.headers.etag).toBe(user.meta.version);
    expect(JSON.stringify(await node.runtime.store.db.selectFrom('members').selectAll().execute())).not.toContain('1mz050nq');
    expect((await memberOf(user.id)).json()).toMatchObject({ email: 'dade.murphy@acme.test', name: 'Dade Murphy', status: 'active' });
    expect((await events('member.created')).find((e) => e.subject_id === user.id)?.detail).toMatchObject({ source: 'scim' });

    const again = (await scim('GET', filterUrl('/Users', 'userName eq "Dade.Murphy@ACME.test"', '&startIndex=1&count=100'))).json();
    expect(again.totalResults).toBe(1);
    expect(again.Resources[0].id).toBe(user.id);
    expect((await scim('GET', `/Users/${user.id}`)).json()).toEqual(user);

    const deactivated = await scim('PATCH', `/Users/${user.id}`, patchOp({ op: 'replace', value: { active: false } }));
    expect(deactivated.statusCode).toBe(200);
    expect(deactivated.json().active).toBe(false);
    expect((await memberOf(user.id)).json().status).toBe('suspended');
    const updates = (await events('member.updated')).filter((e) => e.subject_id === user.id);
    expect(updates.map((e) => e.detail)).toEqual([{ source: 'scim', changed: ['status'], status: 'suspended' }]);
    expect(updates[0]?.actor_id).toMatch(/^sct_/);

    const replaced = await scim('PUT', `/Users/${user.id}`, {
      schemas: [USER],
      id: user.id,
      userName: 'dade.murphy@acme.test',
      name: { givenName: 'Dade', familyName: 'Murphy-Zero' },
      emails: [{ primary: true, value: 'dade.murphy@acme.test', type: 'work' }],
      displayName: 'Zero Cool',
      externalId: '00ujl29u0le5T6Aj10h7',
      active: true,
      groups: [],
      meta: { resourceType: 'User' },
    });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json()).toMatchObject({ active: true, displayName: 'Zero Cool', name: { familyName: 'Murphy-Zero' } });
    expect(replaced.json().locale).toBeUndefined();
    expect((await memberOf(user.id)).json()).toMatchObject({ status: 'active', name: 'Zero Cool' });

    // Groups (Okta "Push Groups").
    const group = await scim('POST', '/Groups', { schemas: [GROUP], displayName: 'Engineering', members: [] });
    expect(group.statusCode).toBe(201);
    const groupId = group.json().id as string;
    expect(group.json()).toMatchObject({ displayName: 'Engineering', members: [], meta: { resourceType: 'Group' } });
    expect(await check(user.id, 'acme')).toBe('deny');

    const added = await scim(
      'PATCH',
      `/Groups/${groupId}`,
      patchOp({ op: 'add', path: 'members', value: [{ value: user.id, display: 'dade.murphy@acme.test' }] }),
    );
    expect(added.statusCode).toBe(200);
    expect(added.json().members).toEqual([
      { value: user.id, display: 'Zero Cool', $ref: `http://localhost:4000/scim/v2/Users/${user.id}`, type: 'User' },
    ]);
    expect(await check(user.id, 'acme')).toBe('allow');
    expect((await scim('GET', `/Users/${user.id}`)).json().groups).toEqual([
      { value: groupId, display: 'Engineering', $ref: `http://localhost:4000/scim/v2/Groups/${groupId}`, type: 'direct' },
    ]);

    // A rename moves the group off its mapping, and back.
    await scim('PATCH', `/Groups/${groupId}`, patchOp({ op: 'replace', value: { id: groupId, displayName: 'Engineering Team' } }));
    expect(await check(user.id, 'acme')).toBe('deny');
    await scim('PATCH', `/Groups/${groupId}`, patchOp({ op: 'replace', value: { id: groupId, displayName: 'Engineering' } }));
    expect(await check(user.id, 'acme')).toBe('allow');

    const found = (await scim('GET', filterUrl('/Groups', 'displayName eq "Engineering"', '&startIndex=1&count=100'))).json();
    expect(found).toMatchObject({ totalResults: 1, Resources: [{ id: groupId, displayName: 'Engineering' }] });

    const removed = await scim('PATCH', `/Groups/${groupId}`, patchOp({ op: 'remove', path: `members[value eq "${user.id}"]` }));
    expect(removed.statusCode).toBe(200);
    expect(removed.json().members).toEqual([]);
    expect(await check(user.id, 'acme')).toBe('deny');

    // Okta's replace of the whole member list.
    await scim('PATCH', `/Groups/${groupId}`, patchOp({ op: 'replace', path: 'members', value: [{ value: user.id }] }));
    expect(await check(user.id, 'acme')).toBe('allow');
    expect((await scim('DELETE', `/Groups/${groupId}`)).statusCode).toBe(204);
    expect(await check(user.id, 'acme')).toBe('deny');
    expect((await scim('GET', `/Groups/${groupId}`)).statusCode).toBe(404);
    expect((await events('scim_group.created')).map((e) => e.detail.id)).toContain(groupId);
    expect((await events('scim_group.updated')).length).toBeGreaterThanOrEqual(5);
    expect((await events('scim_group.deleted')).map((e) => e.detail.id)).toContain(groupId);
    expect((await events('role.bound')).filter((e) => e.subject_id === user.id).length).toBeGreaterThanOrEqual(3);
  });

  it('runs the Entra ID provisioning sequence', async () => {
    const at = { token: globexToken };
    const userName = 'Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1';
    expect((await scim('GET', filterUrl('/Users', `userName eq "${userName}"`), undefined, at)).json().totalResults).toBe(0);
    const created = await scim(
      'POST',
      '/Users',
      {
        schemas: [USER, ENTERPRISE],
        externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
        userName,
        active: true,
        emails: [{ primary: true, type: 'work', value: 'Test_User_fd0ea19b@testuser.com' }],
        meta: { resourceType: 'User' },
        name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
        roles: [],
        [ENTERPRISE]: { department: 'Research', employeeNumber: '42' },
      },
      at,
    );
    expect(created.statusCode).toBe(201);
    const id = created.json().id as string;
    expect(created.json()).toMatchObject({ schemas: [USER, ENTERPRISE], [ENTERPRISE]: { department: 'Research', employeeNumber: '42' } });
    expect((await memberOf(id, 'globex')).json().email).toBe('test_user_fd0ea19b@testuser.com');

    const byExternalId = (
      await scim('GET', filterUrl('/Users', 'externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"'), undefined, at)
    ).json();
    expect(byExternalId.Resources.map((u: Json) => u.id)).toEqual([id]);

    const updated = await scim(
      'PATCH',
      `/Users/${id}`,
      patchOp(
        { op: 'Replace', path: 'emails[type eq "work"].value', value: 'updatedEmail@testuser.com' },
        { op: 'Replace', path: 'name.givenName', value: 'updatedGivenName' },
        { op: 'Add', path: `${ENTERPRISE}:manager`, value: 'mgr-0001' },
      ),
      at,
    );
    expect(updated.statusCode).toBe(200);
    expect(updated.json()).toMatchObject({
      emails: [{ primary: true, type: 'work', value: 'updatedEmail@testuser.com' }],
      name: { givenName: 'updatedGivenName', familyName: 'familyName' },
      [ENTERPRISE]: { department: 'Research', manager: { value: 'mgr-0001' } },
    });
    expect((await memberOf(id, 'globex')).json().email).toBe('updatedemail@testuser.com');

    const disabled = await scim('PATCH', `/Users/${id}`, patchOp({ op: 'Replace', path: 'active', value: 'False' }), at);
    expect(disabled.json().active).toBe(false);
    expect((await memberOf(id, 'globex')).json().status).toBe('suspended');
    const enabled = await scim('PATCH', `/Users/${id}`, patchOp({ op: 'Replace', path: 'active', value: 'True' }), at);
    expect(enabled.json().active).toBe(true);
    expect((await memberOf(id, 'globex')).json().status).toBe('active');

    const group = await scim(
      'POST',
      '/Groups',
      {
        schemas: [GROUP, 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group'],
        externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159',
        displayName: 'displayName',
        meta: { resourceType: 'Group' },
      },
      at,
    );
    expect(group.statusCode).toBe(201);
    const groupId = group.json().id as string;
    const listed = (
      await scim('GET', filterUrl('/Groups', 'displayName eq "displayName"', '&excludedAttributes=members'), undefined, at)
    ).json();
    expect(listed.Resources).toHaveLength(1);
    expect(listed.Resources[0]).toMatchObject({ id: groupId, externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159' });
    expect(listed.Resources[0].members).toBeUndefined();

    const members = async () => ((await scim('GET', `/Groups/${groupId}`, undefined, at)).json().members as Json[]).map((m) => m.value);
    const patchGroup = (...ops: unknown[]) => scim('PATCH', `/Groups/${groupId}`, patchOp(...ops), at);
    expect((await patchGroup({ op: 'Add', path: 'members', value: [{ $ref: null, value: id }] })).statusCode).toBe(200);
    expect(await members()).toEqual([id]);
    expect((await patchGroup({ op: 'Remove', path: 'members', value: [{ $ref: null, value: id }] })).statusCode).toBe(200);
    expect(await members()).toEqual([]);
    await patchGroup({ op: 'Add', path: 'members', value: [{ $ref: null, value: id }] });
    expect((await patchGroup({ op: 'Remove', path: `members[value eq "${id}"]` })).statusCode).toBe(200);
    expect(await members()).toEqual([]);
    const renamed = await patchGroup({
      op: 'Replace',
      path: 'displayName',
      value: '1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName',
    });
    expect(renamed.json().displayName).toBe('1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName');

    expect((await scim('DELETE', `/Users/${id}`, undefined, at)).statusCode).toBe(204);
    expect((await scim('GET', `/Users/${id}`, undefined, at)).statusCode).toBe(404);
    expect((await memberOf(id, 'globex')).statusCode).toBe(404);
    expect((await events('member.deleted', 'globex')).find((e) => e.subject_id === id)?.detail).toMatchObject({ source: 'scim' });
    expect((await scim('DELETE', `/Groups/${groupId}`, undefined, at)).statusCode).toBe(204);
  });

  it('deprovisions: active false ends sessions, grants and tokens and suspends owned agents; reactivation does not resume agents', async () => {
    const at = { token: xcorpToken };
    // A member Mandate had before SCIM: the IdP finds them by their email as userName.
    const john = (await scim('GET', filterUrl('/Users', 'userName eq "john@xcorp.test"'), undefined, at)).json().Resources[0];
    expect(john).toMatchObject({ userName: 'john@xcorp.test', active: true, emails: [{ value: 'john@xcorp.test', primary: true }] });
    const agent = (
      await admin('POST', '/v1/organizations/xcorp/agents', {
        name: 'Assistant',
        purpose: 'test',
        owner_member_id: john.id,
        environment: 'prod',
      })
    ).json();
    const client = (
      await admin('POST', '/v1/organizations/xcorp/clients', {
        client_name: 'assistant',
        client_type: 'confidential',
        grant_types: ['client_credentials'],
        scope: 'calendar.read',
        resources: [CODE_MCP],
        agent_id: agent.id,
      })
    ).json();
    const form = (body: Record<string, string>, authorization: string, url = '/oauth2/token') =>
      node.app.inject({
        method: 'POST',
        url,
        payload: new URLSearchParams(body).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
      });
    const agentAuth = basic(client.client_id, client.client_secret);
    const agentToken = (await form({ grant_type: 'client_credentials', resource: CODE_MCP }, agentAuth)).json().access_token as string;
    const userToken = (await obtainUserTokens(node, fx, { scope: 'calendar.read' })).access_token;
    const introspector = basic(fx.webClient.client_id, fx.webClient.client_secret);
    const active = async (token: string) => (await form({ token }, introspector, '/oauth2/introspect')).json().active as boolean;
    const me = () => node.app.inject({ method: 'GET', url: '/v1/sessions/me', headers: { authorization: `Bearer ${fx.sessionToken}` } });
    expect((await me()).statusCode).toBe(200);
    expect(await active(userToken)).toBe(true);
    expect(await active(agentToken)).toBe(true);

    const res = await scim('PATCH', `/Users/${john.id}`, patchOp({ op: 'replace', value: { active: false } }), at);
    expect(res.statusCode).toBe(200);
    expect((await me()).statusCode).toBe(401);
    expect(await active(userToken)).toBe(false);
    expect(await active(agentToken)).toBe(false);
    expect((await form({ grant_type: 'client_credentials', resource: CODE_MCP }, agentAuth)).json().error).toBe('unauthorized_client');
    expect((await admin('GET', `/v1/organizations/xcorp/agents/${agent.id}`)).json().status).toBe('suspended');
    expect((await events('agent.suspended', 'xcorp')).map((e) => e.agent_id)).toContain(agent.id);

    const back = await scim('PATCH', `/Users/${john.id}`, patchOp({ op: 'replace', path: 'active', value: true }), at);
    expect(back.json().active).toBe(true);
    expect((await memberOf(john.id, 'xcorp')).json().status).toBe('active');
    expect((await admin('GET', `/v1/organizations/xcorp/agents/${agent.id}`)).json().status).toBe('suspended');
    expect(await active(userToken)).toBe(false);
  });

  describe('lists', () => {
    const names = ['alice', 'bob', 'carol', 'dave', 'erin'];
    let initech: string;
    beforeAll(async () => {
      await admin('POST', '/v1/organizations', { slug: 'initech', name: 'Initech' });
      initech = (await newToken('initech')).token;
      for (const [i, name] of names.entries()) {
        const res = await scim(
          'POST',
          '/Users',
          {
            schemas: [USER],
            userName: `${name}@initech.test`,
            name: { givenName: name[0]?.toUpperCase() + name.slice(1), familyName: 'Lumbergh' },
            emails: [
              { value: `${name}@initech.test`, type: 'work', primary: true },
              { value: `${name}@home.test`, type: 'home' },
            ],
            ...(i % 2 === 0 && { title: 'Engineer' }),
            active: i !== 3,
          },
          { token: initech },
        );
        expect(res.statusCode).toBe(201);
      }
    });
    const list = async (query: string) => {
      const res = await scim('GET', `/Users?${query}`, undefined, { token: initech });
      expect(res.statusCode).toBe(200);
      return res.json();
    };
    const userNames = (body: Json) => (body.Resources as { userName: string }[]).map((u) => u.userName.split('@')[0]);
    const q = (filter: string) => `filter=${encodeURIComponent(filter)}`;

    it.each([
      ['emails.value eq "carol@home.test"', ['carol']],
      ['userName sw "a" or userName sw "e"', ['alice', 'erin']],
      ['name.givenName co "r" and active eq true', ['carol', 'erin']],
      ['title pr', ['alice', 'carol', 'erin']],
      ['not (title pr) and emails[type eq "home" and value ew "home.test"]', ['bob', 'dave']],
      ['active eq false', ['dave']],
      ['userName eq "nobody@initech.test"', []],
    ])('filters %s', async (filter, expected) => {
      expect(userNames(await list(q(filter)))).toEqual(expected);
    });

    it('sorts and pages, 1-based', async () => {
      expect(userNames(await list('sortBy=userName&sortOrder=descending'))).toEqual([...names].reverse());
      const page = await list('sortBy=name.givenName&startIndex=2&count=2');
      expect(page).toMatchObject({ totalResults: 5, itemsPerPage: 2, startIndex: 2 });
      expect(userNames(page)).toEqual(['bob', 'carol']);
      expect(userNames(await list('startIndex=5&count=10'))).toEqual(['erin']);
      expect(await list('count=0')).toMatchObject({ totalResults: 5, itemsPerPage: 0, Resources: [] });
      expect(userNames(await list(`${q('title pr')}&sortBy=userName&sortOrder=descending&startIndex=2&count=1`))).toEqual(['carol']);
    });

    it('returns the attributes asked for', async () => {
      const only = await list(`${q('userName eq "bob@initech.test"')}&attributes=userName,name.familyName`);
      expect(only.Resources[0]).toEqual({
        schemas: [USER],
        id: expect.any(String),
        userName: 'bob@initech.test',
        name: { familyName: 'Lumbergh' },
      });
      const without = await list(`${q('userName eq "bob@initech.test"')}&excludedAttributes=emails,name.givenName,id`);
      expect(without.Resources[0].emails).toBeUndefined();
      expect(without.Resources[0].name).toEqual({ familyName: 'Lumbergh' });
      expect(without.Resources[0].id).toEqual(expect.any(String));
    });

    it.each([
      [q('userName eq'), 'invalidFilter'],
      [q('userName eq "a" or'), 'invalidFilter'],
      [q('nosuch eq "a"'), 'invalidFilter'],
      [q('emails[type eq "work"'), 'invalidFilter'],
      ['startIndex=first', 'invalidValue'],
      ['sortOrder=sideways', 'invalidValue'],
      ['sortBy=nosuch', 'invalidValue'],
    ])('refuses %s with 400 %s', async (query, scimType) => {
      const res = await scim('GET', `/Users?${query}`, undefined, { token: initech });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ schemas: [ERROR], status: '400', scimType, detail: expect.any(String) });
    });
  });

  it('PUT replaces a group: its name, externalId and members, and the members’ roles follow', async () => {
    const role = (
      await admin('POST', '/v1/organizations/acme/roles', { name: 'Auditor', permissions: [{ tool: 'repo', action: 'read' }] })
    ).json();
    const mappings = (await admin('GET', '/v1/organizations/acme/group-role-mappings')).json().mappings;
    await admin('PUT', '/v1/organizations/acme/group-role-mappings', { mappings: [...mappings, { group: 'Auditors', role_id: role.id }] });
    const [first, second] = await Promise.all(
      ['put-one@acme.test', 'put-two@acme.test'].map(async (userName) => (await scim('POST', '/Users', { userName })).json()),
    );
    const group = (await scim('POST', '/Groups', { displayName: 'Reviewers', members: [{ value: first.id }] })).json();
    expect(await check(first.id, 'acme')).toBe('deny');
    const replaced = await scim('PUT', `/Groups/${group.id}`, {
      schemas: [GROUP],
      id: group.id,
      displayName: 'Auditors',
      externalId: 'grp-42',
      members: [{ value: second.id }],
    });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json()).toMatchObject({ displayName: 'Auditors', externalId: 'grp-42', members: [{ value: second.id }] });
    expect(await check(first.id, 'acme')).toBe('deny');
    expect(await check(second.id, 'acme')).toBe('allow');
    const updated = (await events('scim_group.updated')).find((e) => e.detail.id === group.id);
    expect(updated?.detail).toMatchObject({ previous_display_name: 'Reviewers', added: [second.id], removed: [first.id] });
  });

  describe('ETags (RFC 7644 §3.14)', () => {
    it('answers 304 to If-None-Match and 412 to a stale If-Match, changing nothing', async () => {
      const user = (await scim('POST', '/Users', { userName: 'etag@acme.test' })).json();
      const version = user.meta.version as string;
      const got = await scim('GET', `/Users/${user.id}`);
      expect(got.headers.etag).toBe(version);
      const cached = await scim('GET', `/Users/${user.id}`, undefined, { headers: { 'if-none-match': version } });
      expect(cached.statusCode).toBe(304);
      expect(cached.body).toBe('');
      expect((await scim('GET', `/Users/${user.id}`, undefined, { headers: { 'if-none-match': 'W/"other"' } })).statusCode).toBe(200);

      const changed = await scim('PATCH', `/Users/${user.id}`, patchOp({ op: 'add', path: 'title', value: 'Tester' }), {
        headers: { 'if-match': version },
      });
      expect(changed.statusCode).toBe(200);
      expect(changed.headers.etag).not.toBe(version);
      expect(changed.json().meta.version).toBe(changed.headers.etag);

      const before = await snapshot();
      for (const [method, body] of [
        ['PATCH', patchOp({ op: 'add', path: 'title', value: 'Lost update' })],
        ['PUT', { userName: 'etag@acme.test', title: 'Lost update' }],
        ['DELETE', undefined],
      ] as const) {
        const stale = await scim(method, `/Users/${user.id}`, body, { headers: { 'if-match': version } });
        expect(stale.statusCode).toBe(412);
        expect(stale.json()).toMatchObject({ schemas: [ERROR], status: '412' });
      }
      expect(await snapshot()).toBe(before);
      expect(
        (await scim('DELETE', `/Users/${user.id}`, undefined, { headers: { 'if-match': changed.headers.etag as string } })).statusCode,
      ).toBe(204);
    });

    it('versions groups by their members too', async () => {
      const user = (await scim('POST', '/Users', { userName: 'versioned@acme.test' })).json();
      const group = (await scim('POST', '/Groups', { displayName: 'Versioned' })).json();
      await scim('PATCH', `/Groups/${group.id}`, patchOp({ op: 'add', path: 'members', value: [{ value: user.id }] }));
      const stale = await scim('PATCH', `/Groups/${group.id}`, patchOp({ op: 'replace', path: 'displayName', value: 'X' }), {
        headers: { 'if-match': group.meta.version },
      });
      expect(stale.statusCode).toBe(412);
    });
  });

  describe('refusals change nothing', () => {
    let bob: Json;
    let globexUser: Json;
    let globexGroup: Json;
    beforeAll(async () => {
      bob = (
        await scim('POST', '/Users', { schemas: [USER], userName: 'Bob@acme.test', emails: [{ value: 'bob@acme.test', primary: true }] })
      ).json();
      globexUser = (await scim('POST', '/Users', { userName: 'someone@globex.test' }, { token: globexToken })).json();
      await scim('POST', '/Groups', { displayName: 'Taken' });
      globexGroup = (await scim('POST', '/Groups', { displayName: 'Globex staff' }, { token: globexToken })).json();
    });

    const cases: [string, () => Promise<{ statusCode: number; json(): Json }>, number, string | undefined][] = [
      ['a duplicate userName, whatever its case', () => scim('POST', '/Users', { userName: 'BOB@ACME.TEST' }), 409, 'uniqueness'],
      [
        'a duplicate email',
        () => scim('POST', '/Users', { userName: 'robert', emails: [{ value: 'Bob@Acme.test', primary: true }] }),
        409,
        'uniqueness',
      ],
      ['a duplicate group name', () => scim('POST', '/Groups', { displayName: 'Taken' }), 409, 'uniqueness'],
      ['a user without userName', () => scim('POST', '/Users', { name: { givenName: 'Nobody' } }), 400, 'invalidValue'],
      ['an empty userName', () => scim('POST', '/Users', { userName: '   ' }), 400, 'invalidValue'],
      ['a wrongly typed attribute', () => scim('POST', '/Users', { userName: 'typed', emails: 'not-a-list' }), 400, 'invalidValue'],
      ['the wrong resource schema', () => scim('POST', '/Users', { schemas: [GROUP], userName: 'x' }), 400, 'invalidSyntax'],
      ['malformed JSON', () => scim('POST', '/Users', '{"userName":'), 400, 'invalidSyntax'],
      ['a body that is not an object', () => scim('POST', '/Users', '["userName"]'), 400, 'invalidSyntax'],
      ['another organization’s user (GET)', () => scim('GET', `/Users/${globexUser.id}`), 404, undefined],
      [
        'another organization’s user (PATCH)',
        () => scim('PATCH', `/Users/${globexUser.id}`, patchOp({ op: 'replace', value: { active: false } })),
        404,
        undefined,
      ],
      ['another organization’s user (PUT)', () => scim('PUT', `/Users/${globexUser.id}`, { userName: 'stolen' }), 404, undefined],
      ['another organization’s user (DELETE)', () => scim('DELETE', `/Users/${globexUser.id}`), 404, undefined],
      ['an unknown id', () => scim('GET', '/Users/not-an-id'), 404, undefined],
      ['another organization’s group (GET)', () => scim('GET', `/Groups/${globexGroup.id}`), 404, undefined],
      [
        'another organization’s group (PATCH)',
        () => scim('PATCH', `/Groups/${globexGroup.id}`, patchOp({ op: 'add', path: 'members', value: [{ value: bob.id }] })),
        404,
        undefined,
      ],
      ['another organization’s group (DELETE)', () => scim('DELETE', `/Groups/${globexGroup.id}`), 404, undefined],
      [
        'a group filter with a bad operator',
        () => scim('GET', `/Groups?filter=${encodeURIComponent('displayName is "Taken"')}`),
        400,
        'invalidFilter',
      ],
      [
        'another organization’s user as a group member',
        () => scim('POST', '/Groups', { displayName: 'Mixed', members: [{ value: globexUser.id }] }),
        400,
        'invalidValue',
      ],
      [
        'renaming onto a taken userName',
        () => scim('PATCH', `/Users/${bob.id}`, patchOp({ op: 'replace', path: 'userName', value: 'dade.murphy@ACME.test' })),
        409,
        'uniqueness',
      ],
      [
        'changing the id',
        () => scim('PATCH', `/Users/${bob.id}`, patchOp({ op: 'replace', path: 'id', value: 'mbr_x' })),
        400,
        'mutability',
      ],
      [
        'writing groups on a user',
        () => scim('PATCH', `/Users/${bob.id}`, patchOp({ op: 'add', path: 'groups', value: [] })),
        400,
        'mutability',
      ],
      ['a PATCH without operations', () => scim('PATCH', `/Users/${bob.id}`, { schemas: [PATCH_OP], Operations: [] }), 400, 'invalidValue'],
      ['an unknown endpoint', () => scim('GET', '/Bulk'), 404, undefined],
      [
        'a body nested 20,000 arrays deep (POST)',
        () => scim('POST', '/Users', `{"userName":"deep@acme.test","nickName":${'['.repeat(20000)}${']'.repeat(20000)}}`),
        400,
        'invalidSyntax',
      ],
      [
        'a body nested 20,000 arrays deep (PATCH)',
        () =>
          scim(
            'PATCH',
            `/Users/${bob.id}`,
            `{"schemas":["${PATCH_OP}"],"Operations":[{"op":"add","path":"nickName","value":${'['.repeat(20000)}${']'.repeat(20000)}}]}`,
          ),
        400,
        'invalidSyntax',
      ],
      [
        'a body nested 40 objects deep (PUT)',
        () => scim('PUT', `/Users/${bob.id}`, { userName: 'Bob@acme.test', x: JSON.parse(`${'{"a":'.repeat(40)}1${'}'.repeat(40)}`) }),
        400,
        'invalidSyntax',
      ],
      [
        'a group body nested 20,000 arrays deep',
        () => scim('POST', '/Groups', `{"displayName":"Deep","members":${'['.repeat(20000)}${']'.repeat(20000)}}`),
        400,
        'invalidSyntax',
      ],
      ['a userName that is not an email, without emails', () => scim('POST', '/Users', { userName: 'not-an-email' }), 400, 'invalidValue'],
      [
        'a primary email that is not an email',
        () => scim('POST', '/Users', { userName: 'eve@acme.test', emails: [{ value: 'eve at acme', primary: true }] }),
        400,
        'invalidValue',
      ],
      [
        'replacing the email with one that is not an email',
        () => scim('PATCH', `/Users/${bob.id}`, patchOp({ op: 'replace', path: 'emails', value: [{ value: 'bob@', primary: true }] })),
        400,
        'invalidValue',
      ],
    ];
    it.each(cases)('refuses %s', async (_name, request, status, scimType) => {
      const before = await snapshot();
      const res = await request();
      expect(res.statusCode).toBe(status);
      expect(res.json()).toEqual({ schemas: [ERROR], status: String(status), ...(scimType && { scimType }), detail: expect.any(String) });
      expect(await snapshot()).toBe(before);
    });

    it('creates one user when two requests POST the same userName at once', async () => {
      const statuses = await Promise.all(
        ['Twin@acme.test', 'twin@ACME.test'].map(async (userName, i) => {
          const res = await scim('POST', '/Users', { userName, emails: [{ value: `twin${i}@acme.test`, primary: true }] });
          return res.statusCode;
        }),
      );
      expect(statuses.sort()).toEqual([201, 409]);
      expect((await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "twin@acme.test"')}`)).json().totalResults).toBe(1);
    });

    it('takes application/json bodies too', async () => {
      const res = await node.app.inject({
        method: 'POST',
        url: '/scim/v2/Users',
        headers: { authorization: `Bearer ${acmeToken}`, 'content-type': 'application/json' },
        payload: { userName: 'plain-json@acme.test' },
      });
      expect(res.statusCode).toBe(201);
      expect(res.headers['content-type']).toContain('application/scim+json');
      const withCharset = await node.app.inject({
        method: 'POST',
        url: '/scim/v2/Users',
        headers: { authorization: `Bearer ${acmeToken}`, 'content-type': 'application/scim+json; charset=utf-8' },
        payload: JSON.stringify({ userName: 'charset@acme.test' }),
      });
      expect(withCharset.statusCode).toBe(201);
    });
  });

  describe('break-glass members are managed by administrators, not the IdP', () => {
    let initechToken: string;
    let keeper: Json;
    let other: Json;
    const initech = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown) =>
      scim(method, url, body, { token: initechToken });

    beforeAll(async () => {
      expect((await admin('POST', '/v1/organizations', { slug: 'hooli', name: 'Hooli' })).statusCode).toBe(201);
      initechToken = (await newToken('hooli')).token;
      keeper = (
        await initech('POST', '/Users', { userName: 'keeper@hooli.test', emails: [{ value: 'keeper@hooli.test', primary: true }] })
      ).json();
      other = (await initech('POST', '/Users', { userName: 'other@hooli.test' })).json();
      const enrolled = await admin('POST', `/v1/organizations/hooli/members/${keeper.id}/break-glass`, {
        password: 'correct horse battery staple 42',
      });
      expect(enrolled.statusCode).toBe(201);
      const code = new TOTP({ secret: Secret.fromBase32(enrolled.json().totp.secret) }).generate();
      expect((await admin('POST', `/v1/organizations/hooli/members/${keeper.id}/break-glass/confirm`, { code })).statusCode).toBe(200);
      expect((await admin('PATCH', '/v1/organizations/hooli', { settings: { sso_required: true } })).statusCode).toBe(200);
    });

    const refusals: [string, () => Promise<{ statusCode: number; json(): Json }>][] = [
      ['PATCH active false', () => initech('PATCH', `/Users/${keeper.id}`, patchOp({ op: 'replace', value: { active: false } }))],
      [
        'PATCH active "False" (Entra)',
        () => initech('PATCH', `/Users/${keeper.id}`, patchOp({ op: 'Replace', path: 'active', value: 'False' })),
      ],
      ['PUT active false', () => initech('PUT', `/Users/${keeper.id}`, { userName: 'keeper@hooli.test', active: false })],
      ['DELETE', () => initech('DELETE', `/Users/${keeper.id}`)],
      [
        'changing the userName',
        () => initech('PATCH', `/Users/${keeper.id}`, patchOp({ op: 'replace', path: 'userName', value: 'attacker@hooli.test' })),
      ],
      [
        'changing the email',
        () =>
          initech(
            'PATCH',
            `/Users/${keeper.id}`,
            patchOp({ op: 'replace', path: 'emails', value: [{ value: 'attacker@evil.test', primary: true }] }),
          ),
      ],
    ];
    it.each(refusals)('refuses %s with 400 mutability, changing nothing', async (_name, request) => {
      const before = await snapshot();
      const res = await request();
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({
        schemas: [ERROR],
        status: '400',
        scimType: 'mutability',
        detail: expect.stringContaining('break-glass accounts are managed by administrators, not the IdP'),
      });
      expect(await snapshot()).toBe(before);
      expect((await memberOf(keeper.id as string, 'hooli')).json().status).toBe('active');
      expect((await initech('GET', `/Users/${keeper.id}`)).json()).toMatchObject({ userName: 'keeper@hooli.test', active: true });
    });

    it('still lets the IdP change what does not key the account, and deprovision everyone else', async () => {
      const renamed = await initech('PATCH', `/Users/${keeper.id}`, patchOp({ op: 'replace', path: 'displayName', value: 'Keeper' }));
      expect(renamed.statusCode).toBe(200);
      expect(renamed.json()).toMatchObject({ displayName: 'Keeper', active: true });
      const deactivated = await initech('PATCH', `/Users/${other.id}`, patchOp({ op: 'replace', value: { active: false } }));
      expect(deactivated.statusCode).toBe(200);
      expect(deactivated.json().active).toBe(false);
      expect((await initech('DELETE', `/Users/${other.id}`)).statusCode).toBe(204);
    });
  });
});
