import { isLoopbackHostname } from '../../outbound/address-guard.js';
import { ProviderConfigError } from './errors.js';

/** Options for checking a provider URL. */
export interface ProviderUrlOptions {
  /** Development and tests only: also accept `http:` to a loopback host. */
  allowHttp?: boolean;
}

/**
 * Checks a provider endpoint or API base URL: absolute, `https:` (or `http:` to a loopback host
 * when `allowHttp` is set), no credentials, no fragment. The API base also takes no query.
 * Returns the URL as given (normalized by the URL parser).
 */
export function checkProviderUrl(raw: string, field: string, options: ProviderUrlOptions & { apiBase?: boolean } = {}): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ProviderConfigError(`${field} is not an absolute URL`);
  }
  const loopbackHttp = options.allowHttp === true && url.protocol === 'http:' && isLoopbackHostname(url.hostname);
  if (url.protocol !== 'https:' && !loopbackHttp) {
    throw new ProviderConfigError(`${field} must use https${options.allowHttp ? ' (or http to a loopback host)' : ''}`);
  }
  if (url.username || url.password) throw new ProviderConfigError(`${field} must not carry credentials`);
  if (url.hash || raw.includes('#')) throw new ProviderConfigError(`${field} must not have a fragment`);
  if (options.apiBase && (url.search || raw.includes('?'))) throw new ProviderConfigError(`${field} must not have a query`);
  return url.href;
}
