import { describe, expect, it } from 'vitest';
import { isLoopbackRedirect, matchRedirectUri } from './redirect-uri.js';

describe('matchRedirectUri (RFC 9700 §4.1.3, RFC 8252 §7.3)', () => {
  const registered = ['https://app.example.com/cb', 'http://127.0.0.1/callback', 'com.example.app:/oauth', 'http://[::1]/cb'];
  it.each([
    ['https://app.example.com/cb', true, 'exact'],
    ['https://app.example.com/cb/', false, 'trailing slash'],
    ['https://app.example.com/CB', false, 'case in the path'],
    ['https://APP.example.com/cb', false, 'case in the host (string comparison)'],
    ['https://app.example.com:8443/cb', false, 'port on a non-loopback host'],
    ['https://app.example.com/cb?x=1', false, 'added query'],
    ['http://app.example.com/cb', false, 'scheme downgrade'],
    ['http://127.0.0.1:51234/callback', true, 'loopback: any port'],
    ['http://127.0.0.1:51234/callback/other', false, 'loopback: other path'],
    ['http://127.0.0.1:51234/callback?x=1', false, 'loopback: added query'],
    ['https://127.0.0.1:51234/callback', false, 'loopback: other scheme'],
    ['http://localhost:51234/callback', false, 'loopback: other host name'],
    ['http://[::1]:8080/cb', true, 'IPv6 loopback: any port'],
    ['http://127.0.0.1:51234/callback#x', false, 'loopback: a fragment'],
    ['http://127.0.0.1/callback#', false, 'loopback: an empty fragment'],
    ['com.example.app:/oauth', true, 'private-use scheme, exact'],
    ['com.example.app:/oauth2', false, 'private-use scheme, other path'],
    ['not a uri', false, 'garbage'],
  ])('%s → %s (%s)', (requested, expected) => {
    expect(matchRedirectUri(requested, registered)).toBe(expected);
  });

  it('flags loopback redirects for the consent warning', () => {
    expect(isLoopbackRedirect('http://127.0.0.1:3000/cb')).toBe(true);
    expect(isLoopbackRedirect('http://localhost/cb')).toBe(true);
    expect(isLoopbackRedirect('https://app.example.com/cb')).toBe(false);
  });
});
