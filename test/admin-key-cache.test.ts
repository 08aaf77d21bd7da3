/**
 * Admin API keys are read through a per-node cache (admin-keys/admin-keys.ts): a revoked key must
 * stop working at once on the node that revoked it and within 1 s on every other node, however
 * warm their caches are (docs/architecture.md §7, §10). Two nodes over one database, both dialects.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MandateNode } from '../src/node.js';
import { runCli } from './support/cli.js';
import { dialects } from './support/databases.js';
import { createTestDatabase, startTestNode, type TestDatabase } from './support/nodes.js';
import { within } from './support/within.js';

describe.each(dialects)('admin key revocation through warm caches on %s', (dialect) => {
  let db: TestDatabase;
  let a: MandateNode;
  let b: MandateNode;

  const status = async (node: MandateNode, secret: string) =>
    (await node.app.inject({ method: 'GET', url: '/v1/organizations', headers: { authorization: `Bearer ${secret}` } })).statusCode;

  beforeAll(async () => {
    db = await createTestDatabase(dialect);
    a = await startTestNode(db);
    b = await startTestNode(db);
  });
  afterAll(async () => {
    await a?.shutdown();
    await b?.shutdown();
    await db?.dispose();
  });

  it('refuses a revoked key at once on the revoking node and within 1 s on the other', async () => {
    const { key, secret } = await a.adminKeys.create('cached');
    for (const node of [a, b]) {
      expect(await status(node, secret)).toBe(200);
      expect(await status(node, secret)).toBe(200);
    }
    await a.adminKeys.revoke(key.id);
    expect(await status(a, secret)).toBe(401);
    expect(await within(1000, async () => (await status(b, secret)) === 401)).toBeLessThanOrEqual(1000);
  });

  it('does not keep a key read while it was being revoked', async () => {
    const { key, secret } = await a.adminKeys.create('racing');
    // Requests in flight on the revoking node while the revocation commits: none may leave the
    // key cached as active once the revocation has returned.
    const inFlight = Array.from({ length: 20 }, () => status(a, secret));
    await a.adminKeys.revoke(key.id);
    await Promise.all(inFlight);
    expect(await status(a, secret)).toBe(401);
  });

  it('refuses a key revoked with `mandate admin-keys revoke` (another process) within 1 s on a running node', async () => {
    const { key, secret } = await a.adminKeys.create('revoked from the CLI');
    expect(await status(a, secret)).toBe(200);
    expect(await status(a, secret)).toBe(200);
    const cli = runCli(['admin-keys', 'revoke', key.id, '--json'], {
      MANDATE_DATA_DIR: db.dataDir,
      MANDATE_MASTER_KEY: db.masterKey.toString('base64'),
      ...(db.databaseUrl && { MANDATE_DATABASE_URL: db.databaseUrl }),
    });
    expect(cli.status, cli.stderr).toBe(0);
    expect(await within(1000, async () => (await status(a, secret)) === 401)).toBeLessThanOrEqual(1000);
  }, 60_000);

  it('refuses an unknown key, and accepts a key created on another node at once', async () => {
    expect(await status(b, 'mnd_ak_not-a-real-key-not-a-real-key-000000')).toBe(401);
    const { secret } = await a.adminKeys.create('fresh');
    expect(await status(b, secret)).toBe(200);
  });
});
