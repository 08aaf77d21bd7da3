import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { PG_REQUIRED } from './databases.js';
import { freePort } from './ports.js';

/**
 * A PostgreSQL cluster of a test's own (initdb into a temporary directory, another port), for
 * fault injection: stopping, restarting and pausing it must never touch the shared server. Runs
 * as the `postgres` user through `runuser`, so it needs root and the PostgreSQL 15 binaries.
 */
const BIN = '/usr/lib/postgresql/15/bin';

/** Why a private cluster cannot run here, or undefined when it can. */
function unavailableReason(): string | undefined {
  if (!fs.existsSync(path.join(BIN, 'initdb'))) return `no PostgreSQL binaries in ${BIN}`;
  if (process.getuid?.() !== 0) return 'starting a private cluster as user postgres needs root';
  try {
    execFileSync('id', ['postgres'], { stdio: 'ignore' });
  } catch {
    return 'no postgres user';
  }
  return undefined;
}

const reason = unavailableReason();
/** Whether a fault-injection suite can run: it fails rather than skips when PostgreSQL is required (CI). */
export const privatePgAvailable = reason === undefined;
if (reason) {
  if (PG_REQUIRED) throw new Error(`MANDATE_TEST_REQUIRE_PG=1 but a private PostgreSQL cluster cannot run: ${reason}`);
  console.warn(`notice: ${reason}; fault-injection cases are skipped`);
}

function asPostgres(binary: string, args: string[], timeoutMs = 60_000): string {
  return execFileSync('runuser', ['-u', 'postgres', '--', path.join(BIN, binary), ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export class PrivatePostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  /** initdb (trust auth, no fsync: a test cluster never survives a power cut) and start. */
  static async create(): Promise<PrivatePostgres> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mandate-pg-'));
    fs.chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()), 0);
    asPostgres('initdb', ['-D', path.join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    const cluster = new PrivatePostgres(dir, await freePort());
    cluster.start();
    return cluster;
  }

  /** A connection URL to `database` on this cluster. */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** Runs one statement as the superuser. */
  async sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[] = [], database = 'postgres'): Promise<R[]> {
    const client = new pg.Client({ connectionString: this.url(database), connectionTimeoutMillis: 5_000 });
    client.on('error', () => {});
    await client.connect();
    try {
      return (await client.query<R>(text, values)).rows;
    } finally {
      await client.end().catch(() => {});
    }
  }

  start(): void {
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
    asPostgres('pg_ctl', ['-D', path.join(this.dir, 'data'), '-l', path.join(this.dir, 'log'), '-o', options, '-w', '-t', '60', 'start']);
  }

  /** A fast shutdown: open connections are terminated, as in a restart or a failover. */
  stop(): void {
    asPostgres('pg_ctl', ['-D', path.join(this.dir, 'data'), '-m', 'fast', '-w', '-t', '60', 'stop']);
  }

  /** The postmaster and every backend: what a pause freezes. */
  private pids(): number[] {
    const postmaster = Number(fs.readFileSync(path.join(this.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    let children: number[] = [];
    try {
      children = execFileSync('pgrep', ['-P', String(postmaster)], { encoding: 'utf8' })
        .split('\n')
        .filter(Boolean)
        .map(Number);
    } catch {
      // no children
    }
    return [postmaster, ...children];
  }

  /** SIGSTOP: the server keeps its connections open and accepts new ones, and answers nothing. */
  pause(): void {
    for (const pid of this.pids()) process.kill(pid, 'SIGSTOP');
  }

  resume(): void {
    for (const pid of this.pids()) process.kill(pid, 'SIGCONT');
  }

  /** Always leaves the machine clean: resumes a paused server, stops it and removes its files. */
  destroy(): void {
    try {
      this.resume();
    } catch {
      // not running
    }
    try {
      this.stop();
    } catch {
      // already stopped
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
