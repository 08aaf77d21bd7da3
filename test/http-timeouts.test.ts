/**
 * Issue #15, "HTTP request and header timeouts are set" (docs/architecture.md §11): over real
 * sockets, a client that trickles its headers (slowloris) or its body is answered 408 and cut
 * off once MANDATE_HTTP_HEADERS_TIMEOUT_MS / MANDATE_HTTP_REQUEST_TIMEOUT_MS have passed, its
 * request changes nothing, and the server keeps serving everyone else.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { createTestDatabase, startListeningNode, TEST_ADMIN_KEY, type TestDatabase } from './support/nodes.js';

const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_000;

/**
 * Writes `parts` one at a time, `gapMs` apart, and keeps the connection open; resolves with what
 * the server sent and how long after the first byte it closed the connection.
 */
function trickle(port: number, parts: string[], gapMs: number): Promise<{ answer: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    let started = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      answer += chunk;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ answer, closedAfterMs: Date.now() - started });
    });
    socket.on('connect', () => {
      started = Date.now();
      let next = 0;
      const send = () => {
        if (next >= parts.length || socket.destroyed) return;
        socket.write(parts[next++] as string);
        timer = setTimeout(send, gapMs);
      };
      send();
    });
    setTimeout(() => reject(new Error('the server never closed the connection')), 20_000).unref();
  });
}

describe('HTTP request and header timeouts', () => {
  let db: TestDatabase;
  let node: MandateNode;
  let port: number;

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    const started = await startListeningNode(db, {
      config: { httpHeadersTimeoutMs: HEADERS_TIMEOUT_MS, httpRequestTimeoutMs: REQUEST_TIMEOUT_MS },
    });
    node = started.node;
    port = Number(new URL(started.issuer).port);
  });

  afterAll(async () => {
    await node?.shutdown();
    await db?.dispose();
  });

  it('cuts off a client that never finishes its headers, with a 408', async () => {
    // One header line every 300 ms, forever: never the blank line that ends the headers.
    const lines = ['GET /healthz HTTP/1.1\r\n', 'Host: localhost\r\n', ...Array.from({ length: 60 }, (_, i) => `X-Slow-${i}: 1\r\n`)];
    const { answer, closedAfterMs } = await trickle(port, lines, 300);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(closedAfterMs).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 100);
    // Node checks pending requests once a second: cut within the bound plus that check.
    expect(closedAfterMs).toBeLessThan(HEADERS_TIMEOUT_MS + 3_000);
  });

  it('cuts off a client that trickles its body, with a 408, and its request changes nothing', async () => {
    const body = JSON.stringify({ slug: 'slowcorp', name: 'Slow Corp' });
    const head =
      'POST /v1/organizations HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n' +
      `Authorization: Bearer ${TEST_ADMIN_KEY}\r\nContent-Length: ${body.length}\r\n\r\n`;
    const { answer, closedAfterMs } = await trickle(port, [head, ...body.split('')], 300);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(closedAfterMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
    expect(closedAfterMs).toBeLessThan(REQUEST_TIMEOUT_MS + 3_000);
    const res = await fetch(`http://127.0.0.1:${port}/v1/organizations/slowcorp`, {
      headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` },
    });
    expect(res.status).toBe(404);
  });

  it('keeps serving other clients meanwhile, and a prompt request is not affected', async () => {
    const slow = trickle(port, ['GET /healthz HTTP/1.1\r\n', 'Host: localhost\r\n', 'X-A: 1\r\n', 'X-B: 1\r\n', 'X-C: 1\r\n'], 400);
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(res.status).toBe(200);
    expect((await slow).answer).toMatch(/^HTTP\/1\.1 408 /);
  });
});
