import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { cacheSeconds } from '../src/oauth/clients/client-metadata-documents.js';
import { authorizeUrl, CODE_MCP, createCodeFlowFixture, pkcePair } from './support/code-flow.js';
import { type CustomerLoginApp, startCustomerLoginApp } from './support/customer-login-app.js';
import { createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';
import { form } from './support/oauth-fixtures.js';

function sessionCookie(header: string | string[] | undefined): string {
  return ([header ?? []].flat().find((c) => c.startsWith('mandate_session=')) ?? '').split(';')[0] as string;
}

describe('client ID metadata documents', () => {
  let db: TestDatabase;
  let node: MandateNode;
  let loginApp: CustomerLoginApp;
  let docs: http.Server;
  let base: string;
  const documents = new Map<string, (url: string) => { body: string; headers?: Record<string, string> }>();

  beforeAll(async () => {
    docs = http.createServer((req, res) => {
      const url = `${base}${req.url}`;
      const doc = documents.get(req.url ?? '');
      if (!doc) return void res.writeHead(404).end();
      const { body, headers } = doc(url);
      res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(body);
    });
    await new Promise<void>((resolve) => docs.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(docs.address() as AddressInfo).port}`;
    db = await createTestDatabase('sqlite');
    // Development flag: the test's document server is on loopback http.
    node = await startTestNode(db, { config: { devAllowLoopbackFetch: true } });
    loginApp = await startCustomerLoginApp({ sub: 'u-1', email: 'john@xcorp.test', name: 'John' });
    await createCodeFlowFixture(node, loginApp);

    const good = (url: string) => ({
      body: JSON.stringify({
        client_id: url,
        client_name: 'Doc Client',
        redirect_uris: ['http://127.0.0.1/callback'],
        grant_types: ['authorization_code'],
      }),
      headers: { 'cache-control': 'max-age=600' },
    });
    documents.set('/good.json', good);
    documents.set('/mismatch.json', () => ({
      body: JSON.stringify({ client_id: 'https://other.example/client.json', redirect_uris: ['http://127.0.0.1/callback'] }),
    }));
    documents.set('/secret.json', (url) => ({
      body: JSON.stringify({
        client_id: url,
        redirect_uris: ['http://127.0.0.1/callback'],
        token_endpoint_auth_method: 'client_secret_basic',
      }),
    }));
    documents.set('/huge.json', (url) => ({
      body: JSON.stringify({ client_id: url, redirect_uris: ['http://127.0.0.1/callback'], pad: 'x'.repeat(10_000) }),
    }));
  });
  afterAll(async () => {
    await node?.shutdown();
    await loginApp?.close();
    await new Promise((resolve) => docs?.close(resolve));
    await db?.dispose();
  });

  const authorize = (clientId: string, redirect = 'http://127.0.0.1:41000/callback') =>
    node.app.inject({
      method: 'GET',
      url: authorizeUrl({
        response_type: 'code',
        client_id: clientId,
        redirect_uri: redirect,
        resource: CODE_MCP,
        scope: 'calendar.read',
        code_challenge: pkcePair().challenge,
        code_challenge_method: 'S256',
      }),
    });

  it('advertises support in discovery', async () => {
    const metadata = (await node.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' })).json();
    expect(metadata.client_id_metadata_document_supported).toBe(true);
  });

  it('accepts a URL client id whose document checks out, and runs the whole code flow with it', async () => {
    const clientId = `${base}/good.json`;
    const { verifier, challenge } = pkcePair();
    const start = await node.app.inject({
      method: 'GET',
      url: authorizeUrl({
        response_type: 'code',
        client_id: clientId,
        redirect_uri: 'http://127.0.0.1:41000/callback',
        resource: CODE_MCP,
        scope: 'calendar.read',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }),
    });
    const requestId = new URL(String(start.headers.location)).searchParams.get('request') as string;
    const post = (url: string, body: Record<string, string>, cookie?: string) =>
      node.app.inject({
        method: 'POST',
        url,
        payload: form(body),
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie && { cookie }) },
      });
    await post('/oauth2/organization', { request: requestId, organization: 'xcorp' });
    const nonce = String(start.headers['set-cookie']).split(';')[0] as string;
    const login = await post(
      '/oauth2/login',
      { mandate_request: requestId, token: await loginApp.mint({ sub: 'u-1', email: 'john@xcorp.test' }) },
      nonce,
    );
    const cookie = sessionCookie(login.headers['set-cookie']);
    const page = await node.app.inject({
      method: 'GET',
      url: String(login.headers.location).replace(/^https?:\/\/[^/]+/, ''),
      headers: { cookie },
    });
    expect(page.body).toContain('Doc Client');
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(page.body)?.[1] as string;
    const decided = await post('/oauth2/consent', { request: requestId, csrf_token: csrf, decision: 'allow' }, cookie);
    const code = new URL(String(decided.headers.location)).searchParams.get('code') as string;
    const tokens = await post('/oauth2/token', {
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      redirect_uri: 'http://127.0.0.1:41000/callback',
      client_id: clientId,
    });
    expect(tokens.statusCode).toBe(200);
    const claims = JSON.parse(Buffer.from(tokens.json().access_token.split('.')[1], 'base64url').toString());
    expect(claims.client_id).toBe(clientId);
  });

  it.each([
    ['a document whose client_id differs from its URL', () => `${base}/mismatch.json`, /differs from the URL/],
    ['a document asking for a shared secret', () => `${base}/secret.json`, /must be none/],
    ['a document over the size limit', () => `${base}/huge.json`, /exceeds/],
    ['a document that is not there', () => `${base}/missing.json`, /HTTP 404/],
    ['a URL at a private address', () => 'https://10.0.0.1/client.json', /private or reserved/],
    ['a URL at a link-local metadata address', () => 'https://169.254.169.254/latest/client.json', /private or reserved/],
  ])('refuses %s with an error page, never a redirect', async (_name, clientId, reason) => {
    const res = await authorize(clientId());
    expect(res.statusCode).toBe(400);
    expect(res.headers.location).toBeUndefined();
    expect(res.body).toMatch(reason);
  });

  it('refuses a redirect URI the document does not list', async () => {
    const res = await authorize(`${base}/good.json`, 'http://evil.test/callback');
    expect(res.statusCode).toBe(400);
    expect(res.headers.location).toBeUndefined();
  });

  it('honours Cache-Control within bounds', () => {
    expect(cacheSeconds('max-age=600')).toBe(600);
    expect(cacheSeconds('public, max-age=5')).toBe(60);
    expect(cacheSeconds('max-age=9999999')).toBe(86_400);
    expect(cacheSeconds('no-store')).toBe(60);
    expect(cacheSeconds(undefined)).toBe(300);
  });
});

describe('client ID metadata documents without the development flag', () => {
  it('refuses loopback and plain-http document URLs', async () => {
    const db = await createTestDatabase('sqlite');
    const node = await startTestNode(db);
    try {
      for (const clientId of ['https://127.0.0.1/client.json', 'https://localhost:9/client.json']) {
        const res = await node.app.inject({
          method: 'GET',
          url: authorizeUrl({ client_id: clientId, redirect_uri: 'http://127.0.0.1/cb', response_type: 'code' }),
        });
        expect(res.statusCode).toBe(400);
        expect(res.body).toMatch(/private or reserved/);
      }
      const http = await node.app.inject({
        method: 'GET',
        url: authorizeUrl({ client_id: 'http://127.0.0.1:9/client.json', redirect_uri: 'http://127.0.0.1/cb', response_type: 'code' }),
      });
      expect(http.statusCode).toBe(400);
      expect(http.body).toContain('not registered');
    } finally {
      await node.shutdown();
      await db.dispose();
    }
  });
});
