import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';

/**
 * A stand-in for the customer's own application: it "logs the user in" (a button) and posts the
 * browser back to Mandate with a trusted token it signs with its own key, published at /jwks.
 */
export interface CustomerLoginApp {
  issuer: string;
  /** Served over http on loopback: a node fetches it only with devAllowLoopbackFetch. */
  jwksUrl: string;
  /** The same key as PEM, for a profile that needs no fetch. */
  publicKeyPem: string;
  loginUrl: string;
  /** Signs a trusted token as this app would (for API-level tests). */
  /** `nowSeconds`: sign as of this time (a test's frozen clock), valid for five minutes from it. */
  mint(
    claims: { sub: string; email: string; name?: string },
    options?: { audience?: string; iatOffsetSeconds?: number; nowSeconds?: number },
  ): Promise<string>;
  close(): Promise<void>;
}

export async function startCustomerLoginApp(
  user: { sub: string; email: string; name: string },
  audience = 'mandate',
): Promise<CustomerLoginApp> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'customer-1', alg: 'ES256', use: 'sig' };
  let issuer = '';
  const mint: CustomerLoginApp['mint'] = async (claims, options = {}) =>
    new SignJWT({ email: claims.email, ...(claims.name && { name: claims.name }) })
      .setProtectedHeader({ alg: 'ES256', kid: 'customer-1' })
      .setIssuer(issuer)
      .setAudience(options.audience ?? audience)
      .setSubject(claims.sub)
      .setIssuedAt((options.nowSeconds ?? Math.floor(Date.now() / 1000)) + (options.iatOffsetSeconds ?? 0))
      .setExpirationTime(options.nowSeconds === undefined ? '5m' : options.nowSeconds + 300)
      .sign(privateKey);

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    if (url.pathname === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
      return;
    }
    if (url.pathname === '/login') {
      const token = await mint(user);
      const returnTo = url.searchParams.get('return_to') ?? '';
      const request = url.searchParams.get('mandate_request') ?? '';
      const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(
        `<!doctype html><html lang="en"><head><title>XCorp sign-in</title></head><body><main><h1>XCorp</h1>
<form method="post" action="${esc(returnTo)}"><input type="hidden" name="mandate_request" value="${esc(request)}"><input type="hidden" name="token" value="${esc(token)}">
<button type="submit">Sign in as ${esc(user.name)}</button></form></main></body></html>`,
      );
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    publicKeyPem: await exportSPKI(publicKey),
    loginUrl: `${issuer}/login`,
    mint,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A redirect_uri endpoint on loopback that records what the authorization server sent back. */
export async function startCallbackServer(): Promise<{ port: number; received(): URL[]; close(): Promise<void> }> {
  const received: URL[] = [];
  const server = http.createServer((req, res) => {
    received.push(new URL(req.url ?? '/', `http://127.0.0.1:${(server.address() as AddressInfo).port}`));
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Done</title><p>You can close this window.</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received: () => received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
