import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { guardedLookup, isBlockedAddress } from '../../http/safe-fetch.js';

/** A delivery that did not reach a 2xx; the message is short and safe to store as `last_error`. */
export class SinkDeliveryError extends Error {
  override name = 'SinkDeliveryError';
}

export interface PostOptions {
  /** Development only: allow http:// and loopback receivers. */
  allowLoopback: boolean;
  timeoutMs: number;
}

/** Bytes of a receiver's answer read before it is dropped: only the status matters. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * POSTs `body` and resolves with the status code when the receiver answered 2xx; anything else
 * (another status, a refused or reset connection, the deadline) rejects with a
 * {@link SinkDeliveryError}. No redirects are followed.
 */
export async function postJson(target: string, body: string, headers: Record<string, string>, options: PostOptions): Promise<number> {
  const url = new URL(target);
  if (url.protocol !== 'https:' && !(options.allowLoopback && url.protocol === 'http:')) throw new SinkDeliveryError('url must use https');
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal) && isBlockedAddress(literal, options)) throw new SinkDeliveryError('the address is private or reserved');
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, status?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      request.destroy();
      if (error) reject(error instanceof SinkDeliveryError ? error : new SinkDeliveryError(describeNetworkError(error)));
      else resolve(status as number);
    };
    const request = client.request(
      url,
      {
        method: 'POST',
        lookup: guardedLookup(options, (message) => new SinkDeliveryError(message)),
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent: false,
      },
      (response) => {
        const status = response.statusCode ?? 0;
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) response.destroy();
        });
        const done = () =>
          status >= 200 && status < 300 ? finish(undefined, status) : finish(new SinkDeliveryError(`the receiver answered HTTP ${status}`));
        response.on('end', done);
        response.on('close', done);
        response.on('error', (error) => finish(error));
      },
    );
    // One deadline for the whole exchange: a receiver trickling bytes cannot hold a lease.
    const deadline = setTimeout(() => finish(new SinkDeliveryError(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    request.on('error', (error) => finish(error));
    request.end(body);
  });
}

/** A network error as a short, stable phrase (the code, not a stack or an address dump). */
function describeNetworkError(error: Error): string {
  const code = (error as { code?: string }).code;
  return code ? `network error ${code}` : `network error: ${error.message}`.slice(0, 200);
}
