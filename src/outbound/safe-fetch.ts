import type http from 'node:http';
import { OutboundRequestError, outboundRequest } from './request.js';

export class SafeFetchError extends Error {
  override name = 'SafeFetchError';
}

export interface SafeFetchOptions {
  /** Development only: allow http:// and loopback addresses (a local client-metadata server). */
  allowLoopback: boolean;
  maxBytes: number;
  timeoutMs: number;
}

export interface SafeFetchResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * GET a URL on a user's behalf without becoming a proxy into the private network: https only,
 * every resolved address checked, and the connection made to the address that was checked (the
 * check runs inside the socket's own DNS lookup, so DNS rebinding cannot swap it). No
 * redirects, a size cap and a deadline.
 */
export async function safeFetch(target: string, options: SafeFetchOptions): Promise<SafeFetchResponse> {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new SafeFetchError('not an absolute URL');
  }
  try {
    return await outboundRequest({ method: 'GET', url, headers: { accept: 'application/json' }, ...options });
  } catch (error) {
    throw error instanceof OutboundRequestError ? new SafeFetchError(error.message) : error;
  }
}
