import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { guardedLookup, isBlockedAddress } from './address-guard.js';

/** An outbound request that did not complete; the message is short and safe to show or store. */
export class OutboundRequestError extends Error {
  override name = 'OutboundRequestError';
}

export interface OutboundRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: string | undefined;
  /** Development only: allow http:// and loopback hosts. */
  allowLoopback: boolean;
  timeoutMs: number;
  /** Larger answers are refused. */
  maxBytes: number;
}

export interface OutboundResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * One HTTP request to a third party (a provider's token endpoint or API) with the SSRF guard of
 * safe-fetch.ts: https only, every resolved address checked inside the socket's own lookup, no
 * redirects followed, one deadline for the whole exchange and a cap on the answer's size.
 */
export async function outboundRequest(options: OutboundRequest): Promise<OutboundResponse> {
  const { url } = options;
  if (url.protocol !== 'https:' && !(options.allowLoopback && url.protocol === 'http:'))
    throw new OutboundRequestError('only https URLs are allowed');
  if (url.username || url.password) throw new OutboundRequestError('URLs with credentials are refused');
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal) && isBlockedAddress(literal, options)) throw new OutboundRequestError('the address is private or reserved');
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, response?: OutboundResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      request.destroy();
      if (error) reject(error instanceof OutboundRequestError ? error : new OutboundRequestError(describe(error)));
      else resolve(response as OutboundResponse);
    };
    const request = client.request(
      url,
      {
        method: options.method,
        lookup: guardedLookup(options, (message) => new OutboundRequestError(message)),
        headers: { ...options.headers, ...(options.body !== undefined && { 'content-length': String(Buffer.byteLength(options.body)) }) },
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxBytes) finish(new OutboundRequestError(`the answer exceeds ${options.maxBytes} bytes`));
          else chunks.push(chunk);
        });
        response.on('end', () =>
          finish(undefined, { status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        response.on('error', (error) => finish(error));
      },
    );
    const deadline = setTimeout(() => finish(new OutboundRequestError(`timed out after ${options.timeoutMs} ms`)), options.timeoutMs);
    request.on('error', (error) => finish(error));
    request.end(options.body);
  });
}

/** A network error as a short, stable phrase (the code, not a stack or an address dump). */
function describe(error: Error): string {
  const code = (error as { code?: string }).code;
  return code ? `network error ${code}` : `network error: ${error.message}`.slice(0, 200);
}
