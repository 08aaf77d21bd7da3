import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/browser.js';
import { freePort } from './support/ports.js';
import { type ClientAuthMethod, startThirdPartyProvider, type ThirdPartyProvider } from './support/third-party-provider.js';
import { completeAuthorizationInBrowser } from './support/vault-browser.js';

const TTL = 2;

interface Tokens {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  id_token?: string;
}

/** Form-encodes per RFC 6749 §2.3.1 before base64, as oidc-provider decodes. */
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** POSTs a form to the provider, authenticating the client the way it was registered. */
async function clientPost(tp: ThirdPartyProvider, url: string, params: Record<string, string>, method?: ClientAuthMethod) {
  const how = method ?? tp.client.tokenEndpointAuthMethod;
  const body = new URLSearchParams(params);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (how === 'client_secret_basic') headers.authorization = basic(tp.client.id, tp.client.secret);
  else {
    body.set('client_id', tp.client.id);
    body.set('client_secret', tp.client.secret);
  }
  const res = await fetch(url, { method: 'POST', headers, body });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

const refresh = (tp: ThirdPartyProvider, refreshToken: string) =>
  clientPost(tp, tp.tokenUrl, { grant_type: 'refresh_token', refresh_token: refreshToken });

const callApi = async (tp: ThirdPartyProvider, path: string, token: string | null, init: { method?: string; json?: unknown } = {}) => {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${tp.apiBaseUrl}${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
};

/** A stand-in for Mandate's vault connect start/callback: PKCE + state, code exchange, tokens printed. */
async function startStandIn() {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const pending = new Map<string, string>();
  const received: Tokens[] = [];
  let tp: ThirdPartyProvider | undefined;
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', base);
    try {
      if (!tp) throw new Error('no provider attached');
      if (url.pathname === '/vault/start') {
        const verifier = randomBytes(32).toString('base64url');
        const state = randomBytes(16).toString('base64url');
        pending.set(state, verifier);
        const target = new URL(tp.authorizationUrl);
        target.search = new URLSearchParams({
          response_type: 'code',
          client_id: tp.client.id,
          redirect_uri: `${base}/vault/callback`,
          scope: url.searchParams.get('scope') ?? 'repo read:user',
          state,
          code_challenge: createHash('sha256').update(verifier).digest('base64url'),
          code_challenge_method: 'S256',
        }).toString();
        res.writeHead(302, { location: target.href }).end();
        return;
      }
      if (url.pathname === '/vault/callback') {
        const state = url.searchParams.get('state') ?? '';
        const verifier = pending.get(state);
        pending.delete(state);
        const code = url.searchParams.get('code');
        if (!verifier || !code) {
          res.writeHead(400, { 'content-type': 'text/html' }).end(`<p>failed: ${url.searchParams.get('error') ?? 'bad state'}</p>`);
          return;
        }
        const exchange = await clientPost(tp, tp.tokenUrl, {
          grant_type: 'authorization_code',
          code,
          code_verifier: verifier,
          redirect_uri: `${base}/vault/callback`,
        });
        if (exchange.status !== 200) throw new Error(`code exchange: ${exchange.status} ${JSON.stringify(exchange.json)}`);
        received.push(exchange.json as unknown as Tokens);
        res
          .writeHead(200, { 'content-type': 'text/html' })
          .end(`<h1>GitHub account connected</h1><pre>${JSON.stringify(exchange.json)}</pre>`);
        return;
      }
      res.writeHead(404).end();
    } catch (error) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
    }
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    redirectUri: `${base}/vault/callback`,
    startUrl: (scope?: string) => `${base}/vault/start${scope ? `?scope=${encodeURIComponent(scope)}` : ''}`,
    attach: (provider: ThirdPartyProvider) => {
      tp = provider;
    },
    last: () => received.at(-1) as Tokens,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('third-party OAuth provider stand-in (oidc-provider) for the token vault', () => {
  let browser: Browser;
  let standIn: Awaited<ReturnType<typeof startStandIn>>;
  let tp: ThirdPartyProvider;

  const connect = async (login: string, scope?: string) => {
    const text = await completeAuthorizationInBrowser(standIn.startUrl(scope), login, { browser });
    expect(text).toContain('account connected');
    return standIn.last();
  };

  beforeAll(async () => {
    browser = await launchChromium();
    standIn = await startStandIn();
    tp = await startThirdPartyProvider({ redirectUri: standIn.redirectUri, accessTokenTtlSeconds: TTL });
    standIn.attach(tp);
  });
  afterAll(async () => {
    await tp?.close();
    await standIn?.close();
    await browser?.close();
  });

  it('advertises its endpoints and requires PKCE', async () => {
    expect(tp.authorizationUrl).toBe(`${tp.issuer}/auth`);
    expect(tp.tokenUrl).toBe(`${tp.issuer}/token`);
    expect(tp.revocationUrl).toBe(`${tp.issuer}/token/revocation`);
    const noPkce = new URL(tp.authorizationUrl);
    noPkce.search = new URLSearchParams({
      response_type: 'code',
      client_id: tp.client.id,
      redirect_uri: standIn.redirectUri,
      scope: 'repo',
      state: 's',
    }).toString();
    const res = await fetch(noPkce, { redirect: 'manual' });
    const location = new URL(res.headers.get('location') ?? '');
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('error_description')).toBe('Authorization Server policy requires PKCE to be used for this request');
  });

  let first: Tokens;
  let rotated: Tokens;

  it('connects through login and consent in Chromium; the token works on the API', async () => {
    first = await connect('octocat');
    expect(first).toMatchObject({ token_type: 'Bearer', expires_in: TTL, scope: 'repo read:user' });
    expect(first.refresh_token).toEqual(expect.any(String));
    expect(first.id_token).toBeUndefined();
    expect(tp.tokenRequestLog()).toEqual([{ grantType: 'authorization_code', status: 200 }]);

    expect(await callApi(tp, '/user', first.access_token)).toEqual({ status: 200, json: { login: 'octocat' } });
    const created = await callApi(tp, '/repos/octo/hello/issues', first.access_token, {
      method: 'POST',
      json: { title: 'Bug', body: 'It broke' },
    });
    expect(created).toEqual({ status: 201, json: { number: 1, title: 'Bug', body: 'It broke', user: { login: 'octocat' } } });
    expect((await callApi(tp, '/repos/octo/hello/issues/1', first.access_token)).json).toMatchObject({ number: 1, title: 'Bug' });
    expect((await callApi(tp, '/repos/octo/hello/issues/2', first.access_token)).status).toBe(404);
    expect((await callApi(tp, '/user', null)).status).toBe(401);
    expect((await callApi(tp, '/user', 'not-a-token')).status).toBe(401);
    expect(tp.apiCalls(first.access_token)).toBe(4);
    expect(tp.tokensUsed()).toEqual([first.access_token]);
    expect(tp.issues('octocat')).toHaveLength(1);
  });

  it('rotates the refresh token on every refresh', async () => {
    const res = await refresh(tp, first.refresh_token);
    expect(res.status).toBe(200);
    rotated = res.json as unknown as Tokens;
    expect(rotated.access_token).not.toBe(first.access_token);
    expect(rotated.refresh_token).not.toBe(first.refresh_token);
    expect(rotated).toMatchObject({ expires_in: TTL, scope: 'repo read:user' });
    expect(tp.refreshCount()).toBe(1);
    expect((await callApi(tp, '/user', rotated.access_token)).json).toEqual({ login: 'octocat' });
  });

  it('expires access tokens after the TTL', async () => {
    await new Promise((resolve) => setTimeout(resolve, (TTL + 1) * 1000));
    expect((await callApi(tp, '/user', rotated.access_token)).status).toBe(401);
  });

  it('refuses a rotated refresh token and then revokes the whole grant (reuse detection)', async () => {
    const replay = await refresh(tp, first.refresh_token);
    expect(replay).toEqual({ status: 400, json: { error: 'invalid_grant', error_description: 'grant request is invalid' } });
    // oidc-provider treats the replay as theft: the live refresh token dies with the grant.
    expect((await refresh(tp, rotated.refresh_token)).json.error).toBe('invalid_grant');
    expect(tp.refreshCount()).toBe(1);
    expect(tp.refreshFailures()).toBe(2);
  });

  it('refuseRefresh and revokeAllGrants make refresh fail with invalid_grant', async () => {
    const tokens = await connect('hubot', 'read:user');
    expect(tokens.scope).toBe('read:user');
    // Another account sees its own issues only, and `repo` is needed for them.
    expect((await callApi(tp, '/repos/octo/hello/issues/1', tokens.access_token)).status).toBe(403);

    tp.refuseRefresh(true);
    expect(await refresh(tp, tokens.refresh_token)).toEqual({
      status: 400,
      json: { error: 'invalid_grant', error_description: 'grant request is invalid' },
    });
    tp.refuseRefresh(false);
    const again = await refresh(tp, tokens.refresh_token);
    expect(again.status).toBe(200);

    await tp.revokeAllGrants();
    expect((await refresh(tp, again.json.refresh_token as string)).json.error).toBe('invalid_grant');
    expect((await callApi(tp, '/user', again.json.access_token as string)).status).toBe(401);
  });

  it('revokes at the RFC 7009 endpoint; either token kills every token of the grant', async () => {
    const viaAccess = await connect('monalisa');
    expect((await clientPost(tp, tp.revocationUrl, { token: viaAccess.access_token, token_type_hint: 'access_token' })).status).toBe(200);
    expect((await callApi(tp, '/user', viaAccess.access_token)).status).toBe(401);
    expect(await refresh(tp, viaAccess.refresh_token)).toEqual({
      status: 400,
      json: { error: 'invalid_grant', error_description: 'grant request is invalid' },
    });

    const viaRefresh = await connect('defunkt');
    expect((await clientPost(tp, tp.revocationUrl, { token: viaRefresh.refresh_token, token_type_hint: 'refresh_token' })).status).toBe(
      200,
    );
    expect((await callApi(tp, '/user', viaRefresh.access_token)).status).toBe(401);
    expect((await refresh(tp, viaRefresh.refresh_token)).json.error).toBe('invalid_grant');

    // Unknown or already revoked tokens are answered 200 too (RFC 7009 §2.2).
    expect((await clientPost(tp, tp.revocationUrl, { token: viaRefresh.refresh_token })).status).toBe(200);
    expect(tp.revocations()).toBe(3);
    expect(tp.revokedTokens()).toEqual([viaAccess.access_token, viaRefresh.refresh_token, viaRefresh.refresh_token]);
  });

  it('supports client_secret_post, rejecting the other method, and a redirect URI set later', async () => {
    const postStandIn = await startStandIn();
    const post = await startThirdPartyProvider({
      redirectUri: 'http://127.0.0.1:1/unknown',
      tokenEndpointAuthMethod: 'client_secret_post',
    });
    try {
      postStandIn.attach(post);
      await post.setRedirectUri(postStandIn.redirectUri);
      const text = await completeAuthorizationInBrowser(postStandIn.startUrl(), 'octocat', { browser });
      expect(text).toContain('account connected');
      const tokens = postStandIn.last();
      const wrongAuth = await clientPost(
        post,
        post.tokenUrl,
        { grant_type: 'refresh_token', refresh_token: tokens.refresh_token },
        'client_secret_basic',
      );
      expect(wrongAuth.status).toBe(401);
      expect(wrongAuth.json.error).toBe('invalid_client');
      expect((await refresh(post, tokens.refresh_token)).status).toBe(200);
      expect(post.refreshCount()).toBe(1);
    } finally {
      await post.close();
      await postStandIn.close();
    }
  });
});
