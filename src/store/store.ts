import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, type SqliteDatabase, SqliteDialect, SqliteDriver, type SqliteStatement } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';
import { WalSync } from './wal-sync.js';

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
function withStatementCache(sqlite: SQLite.Database, onWrite: () => void): SqliteDatabase {
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
      // Kysely's driver prepares every statement right before running it.
      if (!statement.readonly) onWrite();
      return statement as unknown as SqliteStatement;
    },
  };
}

/**
 * Kysely's SQLite driver, except that releasing the connection after a write that committed
 * waits until the WAL is on disk (store/wal-sync.ts): a write, inside a transaction or alone,
 * returns to its caller only once it is durable. The connection is released first, so other
 * queries run while the fsync does.
 */
class DurableSqliteDriver extends SqliteDriver {
  constructor(
    database: SqliteDatabase,
    private readonly sqlite: SQLite.Database,
    private readonly wal: WalSync,
    private readonly written: { dirty: boolean },
  ) {
    super({ database });
  }

  override async releaseConnection(): Promise<void> {
    const committed = this.written.dirty && !this.sqlite.inTransaction;
    if (committed) this.written.dirty = false;
    await super.releaseConnection();
    if (committed) await this.wal.sync();
  }

  override async destroy(): Promise<void> {
    await this.wal.close();
    await super.destroy();
  }
}

/** SQLite's dialect with {@link DurableSqliteDriver}. */
class DurableSqliteDialect extends SqliteDialect {
  constructor(private readonly driver: DurableSqliteDriver) {
    super({ database: {} as SqliteDatabase });
  }

  override createDriver(): SqliteDriver {
    return this.driver;
  }
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
  // A committed audit event survives power loss, as docs/architecture.md §7 promises: NORMAL
  // leaves the WAL's fsync to WalSync, which runs it off the event loop before the write returns.
  sqlite.pragma('synchronous = NORMAL');
  const written = { dirty: false };
  const database = withStatementCache(sqlite, () => {
    written.dirty = true;
  });
  const driver = new DurableSqliteDriver(database, sqlite, new WalSync(`${file}-wal`), written);
  const db = new Kysely<Database>({ dialect: new DurableSqliteDialect(driver) });
  return { db, dialect: 'sqlite', databaseUrl: undefined, close: () => db.destroy() };
}
