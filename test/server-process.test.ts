import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, type ServerProcess, startServer, waitForOk } from './support/cli.js';
import { freePort } from './support/ports.js';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mandate-e2e-'));
const adminKey = `mnd_ak_${'e'.repeat(43)}`;

async function jwksKids(base: string): Promise<string[]> {
  return ((await (await fetch(`${base}/oauth2/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
}

async function stop(server: ServerProcess): Promise<number | null> {
  server.child.kill('SIGTERM');
  return server.exited;
}

describe('mandate serve as a process, on the embedded default', () => {
  let port: number;
  let base: string;
  let env: Record<string, string>;

  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('starts on a fresh data dir and answers discovery within 10 s, then keeps its kid and data across a restart', async () => {
    port = await freePort();
    base = `http://localhost:${port}`;
    env = { MANDATE_DATA_DIR: dataDir, MANDATE_PORT: String(port), MANDATE_BOOTSTRAP_ADMIN_KEY: adminKey };

    const first = startServer(env);
    const elapsed = await waitForOk(`${base}/.well-known/oauth-authorization-server`, 10_000);
    expect(elapsed).toBeLessThan(10_000);
    expect(fs.statSync(path.join(dataDir, 'master.key')).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(path.join(dataDir, 'mandate.db'))).toBe(true);
    expect(first.output()).toContain('Production must set MANDATE_MASTER_KEY');

    const kids = await jwksKids(base);
    const created = await fetch(`${base}/v1/organizations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ slug: 'persisted', name: 'Persisted Inc' }),
    });
    expect(created.status).toBe(201);
    expect(await stop(first)).toBe(0);
    expect(first.output()).toContain('shutdown complete');

    const second = startServer(env);
    await waitForOk(`${base}/healthz`, 10_000);
    expect(await jwksKids(base)).toEqual(kids);
    const again = await fetch(`${base}/v1/organizations/persisted`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(((await again.json()) as { name: string }).name).toBe('Persisted Inc');
    expect(await stop(second)).toBe(0);
  });

  it('finishes an in-flight request on SIGTERM before exiting', async () => {
    const server = startServer(env);
    await waitForOk(`${base}/healthz`, 10_000);
    const body = JSON.stringify({ slug: 'in-flight', name: 'In Flight' });
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    let response = '';
    socket.on('data', (chunk) => {
      response += chunk;
    });
    const closed = new Promise((resolve) => socket.once('close', resolve));
    // Send the headers and half the body, then ask the server to stop, then send the rest.
    socket.write(
      `POST /v1/organizations HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${adminKey}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, 10)}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    socket.write(body.slice(10));
    await closed;
    expect(response).toMatch(/^HTTP\/1.1 201/);
    expect(await server.exited).toBe(0);
    expect(server.output()).toContain('shutdown complete');
  });

  it('manages admin keys, signing keys and audit verification from the CLI', () => {
    const created = runCli(['admin-keys', 'create', '--name', 'ci', '--json'], env);
    expect(created.status).toBe(0);
    const key = JSON.parse(created.stdout);
    expect(key.key).toMatch(/^mnd_ak_/);

    const listed = JSON.parse(runCli(['admin-keys', 'list', '--json'], env).stdout) as { id: string; name: string }[];
    expect(listed.map((k) => k.name)).toEqual(expect.arrayContaining(['bootstrap', 'ci']));
    expect(JSON.stringify(listed)).not.toContain(key.key);

    expect(runCli(['admin-keys', 'revoke', key.id, '--json'], env).status).toBe(0);
    const revokedAgain = runCli(['admin-keys', 'revoke', key.id], env);
    expect(revokedAgain.status).toBe(1);
    expect(revokedAgain.stderr).toContain('not found');

    const before = JSON.parse(runCli(['keys', 'list', '--json'], env).stdout) as { kid: string; state: string }[];
    const rotated = JSON.parse(runCli(['keys', 'rotate', '--json'], env).stdout);
    expect(rotated.activeKid).toBe(before.find((k) => k.state === 'next')?.kid);
    const table = runCli(['keys', 'list'], env).stdout;
    expect(table).toMatch(/^kid\s+alg\s+state/);
    expect(table).toContain(rotated.nextKid);

    const seeded = runCli(['seed', 'enterprise-example', '--org', 'persisted', '--json'], env);
    expect(seeded.status).toBe(0);
    const roles = JSON.parse(seeded.stdout) as {
      name: string;
      permissions: { tool: string; action: string; approval_required?: boolean }[];
    }[];
    expect(roles.map((r) => r.name)).toEqual(
      expect.arrayContaining(['Support Agent', 'Sales Ops Agent', 'Finance Agent', 'IT Ops Agent', 'Approver', 'Auditor']),
    );
    const finance = roles.find((r) => r.name === 'Finance Agent');
    expect(finance?.permissions).toContainEqual(expect.objectContaining({ tool: 'payments', action: 'approve', approval_required: true }));
    expect(finance?.permissions.some((p) => p.tool === 'payments' && p.action === 'write')).toBe(false);
    // Idempotent: a second run adds nothing.
    expect(JSON.parse(runCli(['seed', 'enterprise-example', '--org', 'persisted', '--json'], env).stdout)).toEqual([]);

    const verified = runCli(['audit', 'verify'], env);
    expect(verified.status).toBe(0);
    expect(verified.stdout).toMatch(/^ok\s+platform: \d+ events/m);
  }, 90_000); // a dozen CLI processes, each compiling TypeScript at start

  it('stops with one clear line naming the variable when configuration is invalid', () => {
    for (const [variable, value] of [
      ['MANDATE_PORT', 'eighty'],
      ['MANDATE_MASTER_KEY', 'too-short'],
      ['MANDATE_ISSUER', 'http://auth.example.com'],
    ] as const) {
      const result = runCli(['serve'], { ...env, [variable]: value });
      expect(result.status).toBe(2);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(variable);
    }
  });
});
