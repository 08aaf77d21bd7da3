import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CalendarServer, createCalendarServer } from '../examples/mcp-calendar/server.js';
import type { MandateNode } from '../src/node.js';
import { launchChromium } from './support/browser.js';
import { createXcorp } from './support/code-flow.js';
import { type CustomerLoginApp, startCallbackServer, startCustomerLoginApp } from './support/customer-login-app.js';
import { adminHeaders, createTestDatabase, startListeningNode, type TestDatabase } from './support/nodes.js';
import { freePort } from './support/ports.js';

/** A plain in-memory OAuthClientProvider, as any MCP client would have; nothing Mandate-specific. */
class MemoryProvider implements OAuthClientProvider {
  info: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  verifier = '';
  lastAuthorizationUrl: URL | undefined;
  constructor(
    private readonly redirect: string,
    private readonly metadata?: OAuthClientMetadata,
  ) {}
  get redirectUrl(): string {
    return this.redirect;
  }
  get clientMetadata(): OAuthClientMetadata {
    if (this.metadata) return this.metadata;
    return {
      client_name: 'Test MCP client',
      redirect_uris: [this.redirect],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      // RFC 7591 / OpenID DCR metadata: a native app redirecting to loopback.
      application_type: 'native',
    } as OAuthClientMetadata;
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.lastAuthorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

describe('an MCP client (@modelcontextprotocol/sdk) connects to examples/mcp-calendar through Mandate', () => {
  let db: TestDatabase;
  let node: MandateNode;
  let issuer: string;
  let loginApp: CustomerLoginApp;
  let callback: Awaited<ReturnType<typeof startCallbackServer>>;
  let calendar: CalendarServer;
  let resource: string;
  let browser: Browser;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    ({ node, issuer } = await startListeningNode(db));
    loginApp = await startCustomerLoginApp({ sub: 'u-1001', email: 'john@xcorp.test', name: 'John Smith' });
    callback = await startCallbackServer();
    resource = `http://127.0.0.1:${await freePort()}/mcp`;
    const _admin = (url: string, payload: object) => node.app.inject({ method: 'POST', url, payload, headers: adminHeaders });
    await createXcorp(node, loginApp, resource);
    calendar = await createCalendarServer({ issuer, resource });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await calendar?.close();
    await node?.shutdown();
    await loginApp?.close();
    await callback?.close();
    await db?.dispose();
  });

  it('401 → protected-resource metadata → discovery → registration → consent → token → tools/list and tools/call', async () => {
    const provider = new MemoryProvider(`http://127.0.0.1:${callback.port}/callback`);
    const first = new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider });
    const client = new Client({ name: 'test-client', version: '1.0.0' });
    await expect(client.connect(first)).rejects.toThrow(/Unauthorized/i);

    // The SDK registered itself and built an authorization URL with PKCE and the resource.
    expect(provider.info?.client_id).toMatch(/^cli_/);
    const authorizationUrl = provider.lastAuthorizationUrl as URL;
    expect(authorizationUrl.origin + authorizationUrl.pathname).toBe(`${issuer}/oauth2/authorize`);
    expect(authorizationUrl.searchParams.get('resource')).toBe(resource);
    expect(authorizationUrl.searchParams.get('code_challenge_method')).toBe('S256');

    // The user: chooses the organization, signs in at XCorp's app, consents.
    const page = await browser.newPage();
    await page.goto(authorizationUrl.href);
    await page.getByLabel('Organization').fill('xcorp');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Sign in as John Smith' }).click();
    await page.waitForURL(/\/oauth2\/consent/);
    expect(await page.locator('main').textContent()).toContain('Test MCP client');
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(/\/callback/);
    const code = new URL(page.url()).searchParams.get('code') as string;
    expect(new URL(page.url()).searchParams.get('iss')).toBe(issuer);
    await page.close();

    await first.finishAuth(code);
    expect(provider.saved?.access_token).toBeTruthy();

    const connected = new Client({ name: 'test-client', version: '1.0.0' });
    await connected.connect(new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider }));
    const tools = await connected.listTools();
    expect(tools.tools.map((t) => t.name).sort()).toEqual(['create_event', 'list_events']);
    await connected.callTool({ name: 'create_event', arguments: { title: 'Quarterly review', start: '2026-12-01T10:00:00Z' } });
    const listed = await connected.callTool({ name: 'list_events', arguments: {} });
    expect(JSON.stringify(listed.content)).toContain('Quarterly review');
    await connected.close();

    // With only calendar.read, create_event answers 403 insufficient_scope naming calendar.write.
    const narrowed = await fetch(`${issuer}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: provider.saved?.refresh_token ?? '',
        client_id: provider.info?.client_id ?? '',
        scope: 'calendar.read',
      }),
    });
    const readOnly = (await narrowed.json()) as { access_token: string; scope: string };
    expect(readOnly.scope).toBe('calendar.read');
    const call = await fetch(resource, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${readOnly.access_token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'create_event', arguments: { title: 'x', start: '2026-12-01T10:00:00Z' } },
      }),
    });
    expect(call.status).toBe(403);
    const challenge = call.headers.get('www-authenticate') ?? '';
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="calendar.write"');
    expect(challenge).toContain('resource_metadata=');
  });

  it('registers an SDK client with the SDK example’s default metadata (no application_type) and completes the flow', async () => {
    // The client metadata of the SDK's own simpleOAuthClient example: no application_type (OpenID DCR §2 default).
    const redirect = `http://127.0.0.1:${callback.port}/callback`;
    const provider = new MemoryProvider(redirect, {
      client_name: 'Simple OAuth MCP Client',
      redirect_uris: [redirect],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    });
    const transport = new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider });
    await expect(new Client({ name: 'simple-oauth-client', version: '1.0.0' }).connect(transport)).rejects.toThrow(/Unauthorized/i);
    expect(provider.info?.client_id).toMatch(/^cli_/);
    const registered = (await node.runtime.store.db
      .selectFrom('clients')
      .select('application_type')
      .where('id', '=', provider.info?.client_id as string)
      .executeTakeFirst()) as { application_type: string };
    expect(registered.application_type).toBe('native');

    const page = await browser.newPage();
    await page.goto((provider.lastAuthorizationUrl as URL).href);
    await page.getByLabel('Organization').fill('xcorp');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Sign in as John Smith' }).click();
    await page.waitForURL(/\/oauth2\/consent/);
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(/\/callback/);
    const code = new URL(page.url()).searchParams.get('code') as string;
    await page.close();

    await transport.finishAuth(code);
    expect(provider.saved?.access_token).toBeTruthy();
    const connected = new Client({ name: 'simple-oauth-client', version: '1.0.0' });
    await connected.connect(new StreamableHTTPClientTransport(new URL(resource), { authProvider: provider }));
    expect((await connected.listTools()).tools.map((t) => t.name).sort()).toEqual(['create_event', 'list_events']);
    await connected.close();
  });
});
