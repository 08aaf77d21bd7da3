#!/usr/bin/env node
import { Command } from 'commander';
import pino from 'pino';
import { verifyStoredChains } from './audit/verify.js';
import { printTable } from './cli/table.js';
import { ConfigError, loadConfig } from './config.js';
import { openBus, openRuntime, type Runtime, startNode } from './node.js';
import { createLogger } from './ops/logging.js';
import { ENTERPRISE_EXAMPLE } from './seed/enterprise-example.js';
import { createServices, type Services } from './services.js';
import { migrateToLatest, pendingMigrations } from './store/migrate.js';

/** Graceful shutdown must finish within this long, or the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

function cliRuntime(): Runtime {
  const config = loadConfig();
  // CLI logs go to stderr so that `--json` output on stdout stays parseable.
  return openRuntime(config, {
    logger: createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, pino.destination(2)),
    keyFileWarning: 'when-created',
  });
}

/** Runs a CLI command with services over a migrated database, then closes everything. */
async function withServices<T>(work: (services: Services, runtime: Runtime) => Promise<T>): Promise<T> {
  const runtime = cliRuntime();
  const bus = await openBus(runtime);
  try {
    const pending = await pendingMigrations(runtime.store);
    if (pending.length > 0) await migrateToLatest(runtime.store);
    return await work(createServices({ ...runtime, bus }), runtime);
  } finally {
    await bus.close();
    await runtime.store.close();
  }
}

function output(json: boolean, value: unknown, text: () => void): void {
  if (json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  else text();
}

const program = new Command()
  .name('mandate')
  .description('Mandate: an authorization platform for AI agents acting on behalf of users.')
  .showHelpAfterError();

program
  .command('serve')
  .description('Start the HTTP server (migrates the database and creates signing keys on first start).')
  .action(async () => {
    const config = loadConfig();
    const node = await startNode(config, { processMetrics: true });
    const address = await node.app.listen({ host: config.host, port: config.port });
    node.runtime.logger.info({ address, issuer: config.issuer, database: node.runtime.store.dialect }, `Mandate listening on ${address}`);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      node.runtime.logger.info({ signal }, 'shutting down: finishing in-flight requests');
      const force = setTimeout(() => {
        node.runtime.logger.error('graceful shutdown timed out');
        process.exit(1);
      }, SHUTDOWN_GRACE_MS);
      force.unref();
      node.shutdown().then(
        () => {
          node.runtime.logger.info('shutdown complete');
          process.exit(0);
        },
        (error: unknown) => {
          node.runtime.logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

program
  .command('migrate')
  .description('Apply pending database migrations.')
  .action(async () => {
    const runtime = cliRuntime();
    try {
      const applied = await migrateToLatest(runtime.store);
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
    } finally {
      await runtime.store.close();
    }
  });

const keys = program.command('keys').description('Signing keys.');
keys
  .command('list')
  .description('List signing keys and whether each is published in the JWKS.')
  .option('--json', 'print JSON')
  .action(async (options: { json?: boolean }) =>
    withServices(async ({ keyRing }) => {
      const list = await keyRing.list();
      output(!!options.json, list, () =>
        printTable(list, ['kid', 'alg', 'state', 'published', 'created_at', 'activated_at', 'retired_at']),
      );
    }),
  );
keys
  .command('rotate')
  .description('Promote the published next key to active, retire the active one, publish a new next key.')
  .option('--json', 'print JSON')
  .action(async (options: { json?: boolean }) =>
    withServices(async ({ keyRing }, runtime) => {
      await keyRing.ensureKeys({ actorId: 'cli' });
      const result = await keyRing.rotate({ actorId: 'cli' });
      output(!!options.json, result, () => {
        process.stdout.write(`active: ${result.activeKid}\nnext:   ${result.nextKid}\nretired: ${result.retiredKid}\n`);
        if (runtime.store.dialect === 'sqlite') {
          process.stdout.write(
            `a running server picks this up within MANDATE_RECONCILE_INTERVAL (${runtime.config.reconcileIntervalSeconds}s)\n`,
          );
        }
      });
    }),
  );

const adminKeys = program.command('admin-keys').description('Admin API keys for the /v1 management API.');
adminKeys
  .command('create')
  .description('Create an admin API key; the key is printed once and never stored.')
  .option('--name <name>', 'a label for the key', 'admin')
  .option('--json', 'print JSON')
  .action(async (options: { name: string; json?: boolean }) =>
    withServices(async (services) => {
      const { key, secret } = await services.adminKeys.create(options.name, { actorId: 'cli' });
      output(!!options.json, { ...key, key: secret }, () => {
        process.stdout.write(`${secret}\n`);
        process.stderr.write(`created admin key ${key.id} (${key.name}); store it now, it is not shown again\n`);
      });
    }),
  );
adminKeys
  .command('list')
  .description('List admin API keys (never their secrets).')
  .option('--json', 'print JSON')
  .action(async (options: { json?: boolean }) =>
    withServices(async (services) => {
      const list = await services.adminKeys.list();
      output(!!options.json, list, () => printTable(list, ['id', 'name', 'created_at', 'last_used_at', 'revoked_at']));
    }),
  );
adminKeys
  .command('revoke <id>')
  .description('Revoke an admin API key.')
  .option('--json', 'print JSON')
  .action(async (id: string, options: { json?: boolean }) =>
    withServices(async (services) => {
      const key = await services.adminKeys.revoke(id, { actorId: 'cli' });
      output(!!options.json, key, () => process.stdout.write(`revoked ${key.id}\n`));
    }),
  );

program
  .command('seed <example>')
  .description(
    'Load example data: enterprise-example (the role matrix of agent and human roles over CRM, ticketing, email, payments, warehouse).',
  )
  .requiredOption('--org <org>', 'organization id or slug')
  .option('--json', 'print JSON')
  .action(async (example: string, options: { org: string; json?: boolean }) =>
    withServices(async (services) => {
      if (example !== 'enterprise-example') throw new Error(`unknown example "${example}"; known: enterprise-example`);
      const existing = new Set((await services.roles.list(options.org)).map((r) => r.name));
      const created = [];
      for (const role of ENTERPRISE_EXAMPLE) {
        if (existing.has(role.name)) continue;
        created.push(await services.roles.create(options.org, role, { actorId: 'cli' }));
      }
      const rows = created.map((r) => ({
        id: r.id,
        name: r.name,
        permissions: r.permissions.map((p) => `${p.tool}:${p.action}${p.approval_required ? ' (approval)' : ''}`).join(', '),
      }));
      output(!!options.json, created, () => printTable(rows, ['id', 'name', 'permissions']));
    }),
  );

const audit = program.command('audit').description('The audit trail.');
audit
  .command('verify')
  .description('Walk the hash chains and report the first altered, missing, reordered or truncated event.')
  .option('--org <org>', 'organization id or slug (default: every chain)')
  .option('--json', 'print JSON')
  .action(async (options: { org?: string; json?: boolean }) =>
    withServices(async (services) => {
      const chainId = options.org ? (await services.organizations.require(options.org)).id : undefined;
      const reports = await verifyStoredChains(services.auditEvents, chainId);
      output(!!options.json, reports, () => {
        for (const r of reports)
          process.stdout.write(
            r.ok ? `ok      ${r.chainId}: ${r.events} events\n` : `BROKEN  ${r.chainId}: ${r.problem} at seq ${r.seq}: ${r.message}\n`,
          );
      });
      if (reports.some((r) => !r.ok)) process.exitCode = 1;
    }),
  );

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`mandate: ${error.message}\n`);
    process.exit(2);
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`mandate: ${message}\n`);
  process.exit(1);
});
