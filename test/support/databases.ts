import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * PostgreSQL for tests: `MANDATE_TEST_PG_URL` (default the local trust-auth server). When it is
 * unreachable the PostgreSQL cases are skipped with a printed notice, unless
 * `MANDATE_TEST_REQUIRE_PG=1` (CI), where they fail instead.
 */
export const PG_ADMIN_URL = process.env.MANDATE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const PG_REQUIRED = process.env.MANDATE_TEST_REQUIRE_PG === '1';

async function probe(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

export const pgAvailable: boolean = await probe();

if (!pgAvailable) {
  if (PG_REQUIRED) throw new Error(`MANDATE_TEST_REQUIRE_PG=1 but PostgreSQL at ${PG_ADMIN_URL} is unreachable`);
  console.warn(`notice: PostgreSQL at ${PG_ADMIN_URL} is unreachable; PostgreSQL test cases are skipped`);
}

/** The dialects a storage suite runs on: always SQLite, and PostgreSQL when available (required in CI). */
export const dialects: ('sqlite' | 'postgres')[] = pgAvailable ? ['sqlite', 'postgres'] : ['sqlite'];

/** A fresh, empty PostgreSQL database for one suite; `drop()` removes it. */
export async function createPgDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `mandate_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
