import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { dialects } from './support/databases.js';
import { adminHeaders, createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';

// A trusted-token profile's jwks_url is fetched through the guarded outbound client: outside
// development (no devAllowLoopbackFetch), https only and never a loopback, private or reserved address.
describe.each(dialects)('trusted-token jwks_url through the outbound guard on %s', (dialect) => {
  let db: TestDatabase;
  let node: MandateNode;
  let loginApp: CustomerLoginApp;

  const admin = (method: 'GET' | 'POST', url: string, payload?: object) =>
    node.app.inject({ method, url, headers: adminHeaders, ...(payload && { payload }) });

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    node = await startTestNode(db);
    loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@guarded.test', name: 'John' });
    expect((await admin('POST', '/v1/organizations', { slug: 'guarded', name: 'Guarded' })).statusCode).toBe(201);
  });
  afterAll(async () => {
    await node?.shutdown();
    await loginApp?.close();
    await db?.dispose();
  });

  it.each([
    ['plain http', () => loginApp.jwksUrl, /https/],
    ['a loopback address', () => 'https://127.0.0.1:8443/jwks', /private, loopback or reserved/],
    ['the IPv6 loopback', () => 'https://[::1]/jwks', /private, loopback or reserved/],
    ['localhost', () => 'https://localhost/jwks', /private, loopback or reserved/],
    ['a private address', () => 'https://10.1.2.3/jwks', /private, loopback or reserved/],
    ['the cloud metadata address', () => 'https://169.254.169.254/latest/jwks', /private, loopback or reserved/],
  ])('refuses a profile whose jwks_url is %s (400), creating nothing', async (_name, url, message) => {
    const res = await admin('POST', '/v1/organizations/guarded/trusted-token-profiles', {
      name: 'Guarded app',
      issuer: loginApp.issuer,
      audience: 'mandate',
      jwks_url: url(),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(message) });
    expect((await admin('GET', '/v1/organizations/guarded/trusted-token-profiles')).json().data).toEqual([]);
  });

  it('refuses at use a stored profile whose jwks_url the guard refuses, with a clear error and no session', async () => {
    // A profile stored before jwks_url was checked: the fetch itself is guarded.
    const org = (await admin('GET', '/v1/organizations/guarded')).json();
    const at = new Date().toISOString();
    await node.runtime.store.db
      .insertInto('trusted_token_profiles')
      .values({
        id: 'ttp_01jqz5x3m4c5d6e7f8g9h0jkmn',
        org_id: org.id,
        name: 'Legacy app',
        issuer: loginApp.issuer,
        audience: 'mandate',
        jwks_url: loginApp.jwksUrl,
        public_key_pem: null,
        claim_mapping: JSON.stringify({ subject: 'sub', email: 'email', name: 'name' }),
        max_token_age_seconds: 300,
        jit_provisioning: 1,
        login_url: null,
        created_at: at,
        updated_at: at,
      })
      .execute();
    const token = await loginApp.mint({ sub: 'u-1', email: 'john@guarded.test' });
    const res = await node.app.inject({ method: 'POST', url: '/v1/sessions/attest', payload: { organization: 'guarded', token } });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: 'unauthorized', error_description: expect.stringContaining('jwks_url was refused') });
    expect(await node.runtime.store.db.selectFrom('sessions').select('id').execute()).toEqual([]);
    expect(await node.runtime.store.db.selectFrom('members').select('id').where('org_id', '=', org.id).execute()).toEqual([]);
  });
});
