import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DestinationStream } from 'pino';
import { type Config, loadConfig } from '../../src/config.js';
import { type MandateNode, startNode } from '../../src/node.js';
import { createLogger } from '../../src/ops/logging.js';
import type { FrozenClock } from './clock.js';
import { createPgDatabase } from './databases.js';
import { freePort } from './ports.js';

export const TEST_ADMIN_KEY = `mnd_ak_${'t'.repeat(43)}`;

/** One database (a SQLite file in a temp dir, or a fresh PostgreSQL database) that nodes share. */
export interface TestDatabase {
  dialect: 'sqlite' | 'postgres';
  dataDir: string;
  databaseUrl: string | undefined;
  masterKey: Buffer;
  dispose(): Promise<void>;
}

export async function createTestDatabase(dialect: 'sqlite' | 'postgres'): Promise<TestDatabase> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mandate-test-'));
  const masterKey = Buffer.alloc(32, 7);
  if (dialect === 'sqlite') {
    return {
      dialect,
      dataDir,
      databaseUrl: undefined,
      masterKey,
      dispose: async () => fs.rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const db = await createPgDatabase();
  return {
    dialect,
    dataDir,
    databaseUrl: db.url,
    masterKey,
    dispose: async () => {
      await db.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Configuration of a test node over `db`, with the bootstrap admin key and quiet logs. */
export function testConfig(db: TestDatabase, overrides: Partial<Config> = {}): Config {
  return loadConfig(
    { MANDATE_DATA_DIR: db.dataDir, MANDATE_PORT: '0', MANDATE_ISSUER: 'http://localhost:4000', MANDATE_LOG_LEVEL: 'silent' },
    { databaseUrl: db.databaseUrl, masterKey: db.masterKey, bootstrapAdminKey: TEST_ADMIN_KEY, ...overrides },
  );
}

export async function startTestNode(
  db: TestDatabase,
  options: { clock?: FrozenClock; config?: Partial<Config>; logDestination?: DestinationStream } = {},
): Promise<MandateNode> {
  const config = testConfig(db, options.config);
  const logger = createLogger(options.logDestination ? 'info' : 'silent', options.logDestination);
  return startNode(config, { logger, ...(options.clock && { clock: options.clock }) });
}

export const adminHeaders = { authorization: `Bearer ${TEST_ADMIN_KEY}` };

/** Every row of the tables the management API writes, to prove a refused request changed nothing. */
export async function snapshot(node: MandateNode): Promise<string> {
  const db = node.runtime.store.db;
  const [orgs, members, events, heads] = await Promise.all([
    db.selectFrom('organizations').selectAll().orderBy('id').execute(),
    db.selectFrom('members').selectAll().orderBy('id').execute(),
    db.selectFrom('audit_events').selectAll().orderBy('id').execute(),
    db.selectFrom('audit_chain_heads').selectAll().orderBy('chain_id').execute(),
  ]);
  return JSON.stringify({ orgs, members, events, heads });
}

/** A node listening on a real loopback port, its issuer naming that port (for real HTTP clients). */
export async function startListeningNode(
  db: TestDatabase,
  options: { clock?: FrozenClock; config?: Partial<Config> } = {},
): Promise<{ node: MandateNode; issuer: string }> {
  const port = await freePort();
  const issuer = `http://localhost:${port}`;
  const node = await startTestNode(db, { ...options, config: { ...options.config, issuer, port } });
  await node.app.listen({ host: '127.0.0.1', port });
  return { node, issuer };
}
