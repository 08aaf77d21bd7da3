import { describe, expect, it } from 'vitest';
import { isBlockedAddress } from './address-guard.js';
import { safeFetch } from './safe-fetch.js';

describe('isBlockedAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['10.1.2.3', true],
    ['172.16.0.1', true],
    ['172.31.255.255', true],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['0.0.0.0', true],
    ['224.0.0.1', true],
    ['::1', true],
    ['fd00::1', true],
    ['fe80::1', true],
    ['::ffff:10.0.0.1', true],
    ['::ffff:127.0.0.1', true],
    ['93.184.216.34', false],
    ['172.32.0.1', false],
    ['2606:4700::1111', false],
  ])('%s blocked: %s', (address, blocked) => {
    expect(isBlockedAddress(address, { allowLoopback: false })).toBe(blocked);
  });

  it('lets loopback through only with the development flag, and never private ranges', () => {
    expect(isBlockedAddress('127.0.0.1', { allowLoopback: true })).toBe(false);
    expect(isBlockedAddress('::1', { allowLoopback: true })).toBe(false);
    expect(isBlockedAddress('10.0.0.1', { allowLoopback: true })).toBe(true);
  });
});

describe('safeFetch refusals (no connection is made)', () => {
  const options = { allowLoopback: false, maxBytes: 1024, timeoutMs: 1000 };
  it.each([
    ['http://example.com/client.json', /only https/],
    ['https://10.0.0.1/client.json', /private or reserved/],
    ['https://[::1]/client.json', /private or reserved/],
    ['https://user:pw@example.com/client.json', /credentials/],
    ['https://localhost:1/client.json', /private or reserved/],
  ])('%s', async (url, message) => {
    await expect(safeFetch(url, options)).rejects.toThrow(message);
  });
});

describe('safeFetch deadline', () => {
  it('gives up on a server that trickles its answer, whatever the idle timeout', async () => {
    const http = await import('node:http');
    const server = http.createServer((_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => res.write('x'), 100);
      res.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const started = Date.now();
    try {
      await expect(safeFetch(`http://127.0.0.1:${port}/doc.json`, { allowLoopback: true, maxBytes: 5000, timeoutMs: 500 })).rejects.toThrow(
        /timed out/,
      );
      expect(Date.now() - started).toBeLessThan(1500);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
