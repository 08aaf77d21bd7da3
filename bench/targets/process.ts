import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface ServerOptions {
  /** For error messages. */
  name: string;
  /** Arguments to `node`. */
  args: string[];
  env?: Record<string, string>;
  port: number;
  /** A GET path that answers 2xx once the server is ready. */
  readyPath: string;
}

export interface ServerProcess {
  base: string;
  stop(): Promise<void>;
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((resolve) => child.once('exit', resolve));
}

/** Starts a server as its own `node` process on loopback and waits (up to 30 s: a busy machine starts slowly) until it is ready. */
export async function startServer(options: ServerOptions): Promise<ServerProcess> {
  // BENCH_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) profiles the servers under load.
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, ...options.args], {
    cwd: root,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${options.port}`;
  const stop = async () => {
    child.kill('SIGTERM');
    await exited(child);
  };
  for (let i = 0; i < 300 && child.exitCode === null; i++) {
    const ready = await fetch(`${base}${options.readyPath}`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { base, stop };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop();
  throw new Error(`${options.name} did not start within 30 s`);
}
