import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, type SqliteDatabase, SqliteDialect, type SqliteStatement } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

/** The database handle every capability's repository is built on. */
export interface Store {
  readonly db: Kysely<Database>;
  readonly dialect: Dialect;
  /** Set for PostgreSQL: the events bus opens its own LISTEN connection with it. */
  readonly databaseUrl: string | undefined;
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /** `postgres://…`; unset opens SQLite at {@link OpenStoreOptions.sqliteFile}. */
  databaseUrl?: string | undefined;
  sqliteFile?: string;
  /** PostgreSQL pool size. */
  poolSize?: number;
}

/** Prepared statements kept per SQL text; Kysely would otherwise prepare every query anew. */
const STATEMENT_CACHE_SIZE = 500;

/**
 * better-sqlite3 behind Kysely with a statement cache: Kysely's SQLite driver calls prepare() for
 * every query, which costs more than running a small one. Query shapes are few and fixed, so
 * a bounded map keyed by SQL text keeps each prepared once.
 */
function withStatementCache(sqlite: SQLite.Database): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare: (sql: string) => {
      let statement = cache.get(sql);
      if (!statement) {
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.clear();
        statement = sqlite.prepare(sql);
        cache.set(sql, statement);
      }
      return statement as unknown as SqliteStatement;
    },
  };
}

/** Opens SQLite (WAL, busy timeout, foreign keys) or a PostgreSQL pool behind one Kysely instance. */
export function openStore(options: OpenStoreOptions): Store {
  if (options.databaseUrl) {
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize ?? 10 });
    // An idle client's network error must not crash the process; the pool replaces the client.
    pool.on('error', () => {});
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, dialect: 'postgres', databaseUrl: options.databaseUrl, close: () => db.destroy() };
  }
  const file = options.sqliteFile;
  if (!file) throw new Error('openStore needs databaseUrl or sqliteFile');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  // FULL: a committed audit event survives power loss, as docs/architecture.md §7 promises.
  sqlite.pragma('synchronous = FULL');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  return { db, dialect: 'sqlite', databaseUrl: undefined, close: () => db.destroy() };
}
