import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';

/** A real loopback HTTP server and its base URL. */
export interface RunningServer {
  url: string;
  server: Server;
  close: () => Promise<void>;
}

/** Listens on 127.0.0.1 on a free port. */
export async function listen(server: Server): Promise<RunningServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** Starts a node:http server with the given handler. */
export function serve(handler: RequestListener): Promise<RunningServer> {
  return listen(createServer(handler));
}

/** Reads a request body as text. */
export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Writes a JSON response. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** An ES256 signing key with its public JWK. */
export interface TestKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

/** Generates an ES256 key pair. */
export async function generateTestKey(kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return { kid, privateKey, publicKey, publicJwk };
}

/** A fake Mandate issuer: a real HTTP server publishing its JWKS at /oauth2/jwks. */
export interface TestIssuer extends RunningServer {
  issuer: string;
  key: TestKey;
  /** How many times the JWKS was fetched. */
  jwksFetches: () => number;
  /** Mints an access token: valid Mandate claims for `audience`, overridable; header overridable. */
  mint: (options: MintOptions) => Promise<string>;
}

/** What to mint. */
export interface MintOptions {
  audience: string;
  scope?: string;
  /** Claims to add or replace; an `undefined` value deletes the claim. */
  claims?: Record<string, unknown>;
  /** Header parameters to add or replace; `typ: undefined` omits typ. */
  header?: Record<string, unknown>;
  /** Sign with this key instead of the issuer's. */
  key?: TestKey;
}

/** Seconds since the epoch. */
export function now(): number {
  return Math.floor(Date.now() / 1000);
}

/** Starts a JWKS server and returns an issuer that mints tokens signed by its key. */
export async function startIssuer(): Promise<TestIssuer> {
  const key = await generateTestKey('test-key-1');
  let fetches = 0;
  const running = await serve((req, res) => {
    if (req.method === 'GET' && req.url === '/oauth2/jwks') {
      fetches += 1;
      sendJson(res, 200, { keys: [key.publicJwk] });
      return;
    }
    sendJson(res, 404, { error: 'not_found' });
  });
  const issuer = running.url;
  const mint = async (options: MintOptions): Promise<string> => {
    const signer = options.key ?? key;
    const iat = now();
    const payload: Record<string, unknown> = {
      iss: issuer,
      sub: 'user-1',
      aud: options.audience,
      client_id: 'client-1',
      scope: options.scope ?? 'calendar.read',
      org_id: 'org-1',
      jti: `jti-${Math.random().toString(36).slice(2)}`,
      iat,
      exp: iat + 300,
      ...options.claims,
    };
    for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
    const header: Record<string, unknown> = { alg: 'ES256', typ: 'at+jwt', kid: signer.kid, ...options.header };
    for (const [name, value] of Object.entries(header)) if (value === undefined) delete header[name];
    return new SignJWT(payload as JWTPayload).setProtectedHeader(header as { alg: string }).sign(signer.privateKey);
  };
  return { ...running, issuer, key, jwksFetches: () => fetches, mint };
}

/** Decodes a base64url JSON segment. */
export function decodeSegment(segment: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** Encodes a JSON object as a base64url segment. */
export function encodeSegment(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/**
 * Parses a `WWW-Authenticate` Bearer challenge strictly (RFC 7235 §4.1 auth-params with
 * quoted-string values). Returns undefined when it does not parse.
 */
export function parseBearerChallenge(header: string): Map<string, string> | undefined {
  if (!header.startsWith('Bearer ')) return undefined;
  const params = new Map<string, string>();
  let rest = header.slice('Bearer '.length);
  const param = /^([A-Za-z_]+)="((?:[^"\\]|\\[\x20-\x7e])*)"/;
  while (rest.length > 0) {
    const match = param.exec(rest);
    if (!match?.[1] || match[2] === undefined) return undefined;
    if (params.has(match[1])) return undefined;
    params.set(match[1], match[2].replace(/\\(.)/g, '$1'));
    rest = rest.slice(match[0].length);
    if (rest.length === 0) break;
    if (!rest.startsWith(', ')) return undefined;
    rest = rest.slice(2);
  }
  return params;
}
