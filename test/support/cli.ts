import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** The CLI from source, exactly as `mandate` runs it once built. */
const CLI = ['--import', 'tsx', path.join(ROOT, 'src/main.ts')];

export function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('MANDATE_')));
  return { ...base, MANDATE_LOG_LEVEL: 'info', ...env };
}

/** Runs one CLI command to completion. */
export function runCli(args: string[], env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [...CLI, ...args], { env: cliEnv(env), encoding: 'utf8', cwd: ROOT, timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A running `mandate serve` process and its collected output. */
export interface ServerProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** `mandate serve` with `args` (such as `--workers 2`) in its own process. */
export function startServer(env: Record<string, string>, args: string[] = []): ServerProcess {
  const child = spawn(process.execPath, [...CLI, 'serve', ...args], { env: cliEnv(env), cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (chunk) => {
    out += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    out += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Polls `url` until it answers 200 or `timeoutMs` passes; returns the elapsed milliseconds. */
export async function waitForOk(url: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      if ((await fetch(url)).ok) return Date.now() - started;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > timeoutMs) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
