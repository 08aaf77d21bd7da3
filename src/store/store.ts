import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import {
  Kysely,
  PostgresDialect,
  type PostgresPool,
  type PostgresPoolClient,
  type SqliteDatabase,
  SqliteDialect,
  type SqliteStatement,
} from 'kysely';
import pg from 'pg';
import { isDatabaseUnavailable } from './errors.js';
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
  /** PostgreSQL: how long a new connection, or a wait for a free one in a full pool, may take. */
  connectTimeoutMs?: number;
  /** PostgreSQL: how long a query may wait for its answer (client side: a hung server or network). */
  queryTimeoutMs?: number;
  /** PostgreSQL `statement_timeout`: the server cancels a statement running longer. */
  statementTimeoutMs?: number;
  /** Names the pool's connections in pg_stat_activity. */
  applicationName?: string;
  /**
   * A PostgreSQL connection failed (the server restarted, the network dropped): the pool replaces
   * it and the request that used it fails on its own; this only reports it.
   */
  onConnectionError?: (error: Error) => void;
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

/**
 * pg's pool as Kysely uses it, except that a connection on which a query timed out or failed for
 * want of the server goes back to the pool destroyed: pg gives up waiting on a query it has sent
 * but the connection still carries it (a timed-out BEGIN, then a ROLLBACK never sent), so reusing
 * it could run the next request inside a transaction nobody will commit (docs/architecture.md §11).
 */
function discardingBrokenConnections(pool: pg.Pool): PostgresPool {
  return {
    connect: async () => {
      const client = await pool.connect();
      let broken: unknown;
      // Kysely passes SQL and parameters (cursors are not configured).
      const query = (async (text: string, parameters: readonly unknown[]) => {
        // A broken connection fails what follows at once (a ROLLBACK after a timed-out query)
        // rather than after another timeout: the request answers 503 sooner.
        if (broken) throw broken;
        try {
          return await client.query(text, parameters as unknown[]);
        } catch (error) {
          if (isDatabaseUnavailable(error)) broken = error;
          throw error;
        }
      }) as unknown as PostgresPoolClient['query'];
      return { query, release: () => client.release(broken !== undefined) };
    },
    end: () => pool.end(),
  };
}

/** Opens SQLite (WAL, busy timeout, foreign keys) or a PostgreSQL pool behind one Kysely instance. */
export function openStore(options: OpenStoreOptions): Store {
  if (options.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 0,
      query_timeout: options.queryTimeoutMs ?? 0,
      statement_timeout: options.statementTimeoutMs ?? 0,
      application_name: options.applicationName ?? 'mandate',
      keepAlive: true,
    });
    // A connection's network error must not crash the process (docs/architecture.md §11): pg
    // emits 'error' on the client, which the pool listens to only while the client is idle, so
    // every client gets its own listener for the time it is checked out too.
    const reportError = options.onConnectionError ?? (() => {});
    pool.on('error', reportError);
    pool.on('connect', (client) => client.on('error', reportError));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: discardingBrokenConnections(pool) }) });
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
