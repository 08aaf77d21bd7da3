import { createHash, randomBytes } from 'node:crypto';
import type { MandateNode } from '../../src/node.js';
import type { CustomerLoginApp } from './customer-login-app.js';
import { adminHeaders } from './nodes.js';

export const CODE_MCP = 'https://mcp.xcorp.test/';
export const LOOPBACK_REDIRECT = 'http://127.0.0.1:50123/callback';

export interface CodeFlowFixture {
  orgId: string;
  publicClient: string;
  /** A confidential client of the same organization: a second code client and an introspector. */
  webClient: { client_id: string; client_secret: string };
  sessionToken: string;
}

async function admin(node: MandateNode, url: string, payload: object): Promise<Record<string, string>> {
  const res = await node.app.inject({ method: 'POST', url, payload, headers: adminHeaders });
  if (res.statusCode !== 201) throw new Error(`${url}: ${res.statusCode} ${res.body}`);
  return res.json();
}

/**
 * XCorp, whose own app (the stand-in login app) vouches for its users through a trusted-token
 * profile, and a calendar resource with the two scopes the flows ask for.
 */
export async function createXcorp(node: MandateNode, loginApp: CustomerLoginApp, resource = CODE_MCP): Promise<{ id: string }> {
  const org = await admin(node, '/v1/organizations', { slug: 'xcorp', name: 'XCorp' });
  await admin(node, '/v1/organizations/xcorp/trusted-token-profiles', {
    name: 'XCorp app',
    issuer: loginApp.issuer,
    audience: 'mandate',
    // Its key as PEM: the node under test need not fetch from loopback (test/sessions.test.ts covers jwks_url).
    public_key_pem: loginApp.publicKeyPem,
    login_url: loginApp.loginUrl,
    jit_provisioning: true,
  });
  await admin(node, '/v1/resources', {
    identifier: resource,
    name: 'XCorp calendar',
    scopes: [
      { name: 'calendar.read', description: 'See your calendar events' },
      { name: 'calendar.write', description: 'Create and change calendar events' },
    ],
  });
  return { id: org.id as string };
}

/** XCorp with a trusted-token profile, a calendar resource, a public and a confidential code client, and John's session. */
export async function createCodeFlowFixture(node: MandateNode, loginApp: CustomerLoginApp): Promise<CodeFlowFixture> {
  const org = await createXcorp(node, loginApp);
  const publicClient = await admin(node, '/v1/organizations/xcorp/clients', {
    client_name: 'Calendar Assistant',
    client_type: 'public',
    grant_types: ['authorization_code', 'refresh_token'],
    redirect_uris: ['http://127.0.0.1/callback'],
    scope: 'calendar.read calendar.write',
    resources: [CODE_MCP],
  });
  const webClient = await admin(node, '/v1/organizations/xcorp/clients', {
    client_name: 'XCorp web agent',
    client_type: 'confidential',
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    redirect_uris: ['https://agent.xcorp.test/cb'],
    scope: 'calendar.read calendar.write',
    resources: [CODE_MCP],
  });
  const attested = await node.app.inject({
    method: 'POST',
    url: '/v1/sessions/attest',
    payload: { organization: 'xcorp', token: await loginApp.mint({ sub: 'u-1001', email: 'john@xcorp.test', name: 'John Smith' }) },
  });
  if (attested.statusCode !== 201) throw new Error(`attest: ${attested.body}`);
  return {
    orgId: org.id as string,
    publicClient: publicClient.client_id as string,
    webClient: { client_id: webClient.client_id as string, client_secret: webClient.client_secret as string },
    sessionToken: attested.json().session_token,
  };
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export function authorizeUrl(params: Record<string, string | undefined>): string {
  const url = new URL('http://localhost/oauth2/authorize');
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return `${url.pathname}${url.search}`;
}

/** Drives authorize → consent (allow) with John's session cookie and returns the code. */
export async function obtainCode(
  node: MandateNode,
  fx: CodeFlowFixture,
  options: { clientId?: string; redirectUri?: string; scope?: string; prompt?: string; resource?: string } = {},
): Promise<{ code: string; verifier: string; redirectUri: string }> {
  const { verifier, challenge } = pkcePair();
  const redirectUri = options.redirectUri ?? LOOPBACK_REDIRECT;
  const cookie = `mandate_session=${fx.sessionToken}`;
  const start = await node.app.inject({
    method: 'GET',
    url: authorizeUrl({
      response_type: 'code',
      client_id: options.clientId ?? fx.publicClient,
      redirect_uri: redirectUri,
      scope: options.scope ?? 'calendar.read calendar.write',
      resource: options.resource ?? CODE_MCP,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'st-1',
      prompt: options.prompt ?? 'consent',
    }),
    headers: { cookie },
  });
  let location = String(start.headers.location);
  if (location.includes('/oauth2/consent')) {
    const pageRes = await node.app.inject({ method: 'GET', url: location.replace(/^https?:\/\/[^/]+/, ''), headers: { cookie } });
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(pageRes.body)?.[1];
    const request = /name="request" value="([^"]+)"/.exec(pageRes.body)?.[1];
    const decided = await node.app.inject({
      method: 'POST',
      url: '/oauth2/consent',
      payload: new URLSearchParams({ request: request ?? '', csrf_token: csrf ?? '', decision: 'allow' }).toString(),
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    });
    location = String(decided.headers.location);
  }
  const code = new URL(location).searchParams.get('code');
  if (!code) throw new Error(`no code in ${location}`);
  return { code, verifier, redirectUri };
}

/** John's tokens for the public client: a code obtained through consent, exchanged at the token endpoint. */
export async function obtainUserTokens(
  node: MandateNode,
  fx: CodeFlowFixture,
  options: { scope?: string; resource?: string } = {},
): Promise<{ access_token: string; refresh_token: string; scope: string }> {
  const c = await obtainCode(node, fx, options);
  const res = await node.app.inject({
    method: 'POST',
    url: '/oauth2/token',
    payload: new URLSearchParams({
      grant_type: 'authorization_code',
      code: c.code,
      code_verifier: c.verifier,
      redirect_uri: c.redirectUri,
      client_id: fx.publicClient,
    }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  if (res.statusCode !== 200) throw new Error(`code exchange: ${res.body}`);
  return res.json();
}
