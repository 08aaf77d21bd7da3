import { describe, expect, it } from 'vitest';
import { checkSinkUrl, redactSinkUrl } from './url.js';

const resolvesTo =
  (...addresses: string[]) =>
  async () =>
    addresses;

describe('checkSinkUrl', () => {
  it('accepts an https host whose every address is public', async () => {
    const url = await checkSinkUrl('https://siem.example.com/in?x=1', { allowLoopback: false, resolve: resolvesTo('93.184.216.34') });
    expect(url.href).toBe('https://siem.example.com/in?x=1');
  });

  it.each([
    ['a host resolving to a private address', 'https://siem.internal/', resolvesTo('93.184.216.34', '10.0.0.8'), /private/],
    ['a host resolving to an IPv4-mapped loopback', 'https://siem.internal/', resolvesTo('::ffff:127.0.0.1'), /private/],
    ['a host that does not resolve', 'https://nowhere.invalid/', () => Promise.reject(new Error('ENOTFOUND')), /does not resolve/],
    ['loopback https without the development flag', 'https://127.0.0.1:8443/', resolvesTo(), /private/],
    ['a fragment', 'https://siem.example.com/#x', resolvesTo('93.184.216.34'), /fragment/],
  ])('refuses %s', async (_name, raw, resolve, message) => {
    await expect(checkSinkUrl(raw, { allowLoopback: false, resolve })).rejects.toThrow(message);
  });

  it('allows http only to loopback, and only in development', async () => {
    await expect(checkSinkUrl('http://127.0.0.1:9000/', { allowLoopback: true })).resolves.toBeInstanceOf(URL);
    await expect(checkSinkUrl('http://localhost:9000/', { allowLoopback: true, resolve: resolvesTo('127.0.0.1') })).resolves.toBeInstanceOf(
      URL,
    );
    await expect(checkSinkUrl('http://127.0.0.1:9000/', { allowLoopback: false })).rejects.toThrow(/https/);
    await expect(checkSinkUrl('http://siem.example.com/', { allowLoopback: true, resolve: resolvesTo('93.184.216.34') })).rejects.toThrow(
      /https/,
    );
  });
});

describe('redactSinkUrl', () => {
  it.each([
    ['https://siem.example.com/x?token=abc&y=1', 'https://siem.example.com/x?…'],
    ['https://siem.example.com:8443/in?', 'https://siem.example.com:8443/in'],
    ['https://siem.example.com/in', 'https://siem.example.com/in'],
    ['http://127.0.0.1:9000/?t=1', 'http://127.0.0.1:9000/?…'],
  ])('shows %s as %s', (href, shown) => {
    expect(redactSinkUrl(href)).toBe(shown);
  });
});
