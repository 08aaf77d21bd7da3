import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { InvalidRequestError } from '../../errors.js';
import { isBlockedAddress } from '../../outbound/address-guard.js';

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1']);

/** Resolves a host name to every address it has; a parameter so tests need no DNS. */
export type ResolveHost = (hostname: string) => Promise<string[]>;

const resolveWithDns: ResolveHost = async (hostname) => (await lookup(hostname, { all: true })).map((a) => a.address);

/**
 * Checks a webhook URL when a sink is created, so a bad one is refused up front with a clear
 * reason: https only (http for loopback in development), no credentials in the URL, and no
 * private or reserved address (SSRF). Delivery checks the resolved address again on every
 * connection (post.ts), since DNS can change after this check.
 */
export async function checkSinkUrl(raw: string, options: { allowLoopback: boolean; resolve?: ResolveHost }): Promise<URL> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidRequestError('url is not an absolute URL');
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopbackHttp = options.allowLoopback && url.protocol === 'http:' && LOOPBACK_NAMES.has(host);
  if (url.protocol !== 'https:' && !loopbackHttp) throw new InvalidRequestError('url must use https');
  if (url.username || url.password) throw new InvalidRequestError('url must not carry credentials');
  if (url.hash) throw new InvalidRequestError('url must not have a fragment');
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = await (options.resolve ?? resolveWithDns)(host);
    } catch {
      throw new InvalidRequestError(`the host ${host} does not resolve`);
    }
  }
  if (addresses.length === 0 || addresses.some((address) => isBlockedAddress(address, options))) {
    throw new InvalidRequestError('url points to a private or reserved address');
  }
  return url;
}

/**
 * A sink URL as shown by the API: the query string, which may carry a receiver's token, is
 * replaced by `?…` (`https://siem.example.com/x?token=abc` → `https://siem.example.com/x?…`).
 * The stored URL keeps it, since delivery needs it.
 */
export function redactSinkUrl(href: string): string {
  const url = new URL(href);
  return `${url.origin}${url.pathname}${url.search ? '?…' : ''}`;
}
