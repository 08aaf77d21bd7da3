import { isLoopbackHostname } from '../../outbound/address-guard.js';

/**
 * OAuth 2.1 §4.1.1 / RFC 9700 §4.1.3: the redirect URI must equal a registered one exactly
 * (a trailing slash, the case of the path, the port all count) — except RFC 8252 §7.3: for an
 * http loopback redirect of a native app, any port matches, since the app picks it at run time.
 */
export function matchRedirectUri(requested: string, registered: readonly string[]): boolean {
  // RFC 6749 §3.1.2: a redirect URI never carries a fragment, even an empty one.
  if (requested.includes('#')) return false;
  if (registered.includes(requested)) return true;
  let url: URL;
  try {
    url = new URL(requested);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' || !isLoopbackHostname(url.hostname)) return false;
  return registered.some((candidate) => {
    let reg: URL;
    try {
      reg = new URL(candidate);
    } catch {
      return false;
    }
    return (
      reg.protocol === 'http:' &&
      reg.hostname === url.hostname &&
      reg.pathname === url.pathname &&
      reg.search === url.search &&
      reg.username === '' &&
      url.username === ''
    );
  });
}

/** True when every registered redirect goes to this machine: the consent page warns about it. */
export function isLoopbackRedirect(uri: string): boolean {
  try {
    return isLoopbackHostname(new URL(uri).hostname);
  } catch {
    return false;
  }
}
