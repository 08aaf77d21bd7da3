#!/usr/bin/env node
import { once } from 'node:events';
import { Command } from 'commander';
import pino from 'pino';
import type { ChainReport } from './audit/chain.js';
import { toJsonLine, writeJsonlDurably } from './audit/export.js';
import { PLATFORM_CHAIN } from './audit/kinds.js';
import { loadJwks, verifyExportFile } from './audit/verify.js';
import { queryAuditEvents } from './cli/audit-query.js';
import { printTable } from './cli/table.js';
import { ConfigError, loadConfig } from './config.js';
import { MemoryCounter } from './counters/memory-counter.js';
import { Freshness } from './events/freshness.js';
import { createModules, type Services } from './modules.js';
import { openBus, openRuntime, type Runtime } from './node.js';
import { createLogger } from './ops/logging.js';
import { Metrics } from './ops/metrics.js';
import { ENTERPRISE_EXAMPLE } from './seed/enterprise-example.js';
import { serve } from './serve.js';
import { migrateToLatest, pendingMigrations } from './store/migrate.js';

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
    // The same modules the server builds; no routes and no timers: the command drives services directly.
    return await work(
      createModules({
        ...runtime,
        bus,
        freshness: new Freshness(runtime.config.failClosedAfterSeconds * 1000),
        metrics: new Metrics({ processMetrics: false }),
        // A command admits no token request and runs no detection: nothing to count together.
        counter: new MemoryCounter(),
      }).services,
      runtime,
    );
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
  .description(
    'Start the HTTP server (migrates the database and creates signing keys on first start). With --workers, a primary process runs that many workers on the one port: SIGHUP replaces them one at a time, SIGTERM drains them all.',
  )
  .option('--workers <n|auto>', 'worker processes: a number, or auto for one per core (default MANDATE_WORKERS, 1)')
  .action(async (options: { workers?: string }) => {
    await serve(loadConfig({ ...process.env, ...(options.workers !== undefined && { MANDATE_WORKERS: options.workers }) }));
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
    withServices(async ({ keyRing }) => {
      await keyRing.ensureKeys({ actorId: 'cli' });
      const result = await keyRing.rotate({ actorId: 'cli' });
      // Running servers learn of it from the events outbox (docs/architecture.md §10).
      output(!!options.json, result, () =>
        process.stdout.write(`active: ${result.activeKid}\nnext:   ${result.nextKid}\nretired: ${result.retiredKid}\n`),
      );
    }),
  );

program
  .command('restore-fence')
  .description(
    'Run once after restoring the database from a backup, before or while the nodes start: every credential issued before now is refused on every node (access tokens, sessions, refresh tokens, impersonation tokens, open CIBA approvals), so nothing revoked after the backup was taken can act again. People and agents sign in or authorize again.',
  )
  .option('--reason <text>', 'recorded in the audit trail', 'restored from a backup')
  .option('--json', 'print JSON')
  .action(async (options: { reason: string; json?: boolean }) =>
    withServices(async ({ restoreFence }) => {
      const result = await restoreFence.fence(options.reason, { actorId: 'cli' });
      output(!!options.json, result, () => {
        process.stdout.write(`fenced at ${result.fenced_at}: every credential issued before it is refused\n`);
        process.stderr.write(
          'the restore also undid what changed after the backup: suspend again the members and agents, and revoke again the admin keys, SCIM tokens, resource credentials and client secrets, that your audit sink shows were stopped or revoked since\n',
        );
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
/** A chain id from `platform`, an organization id (a deleted organization's chain too) or a slug. */
async function chainIdOf(services: Services, ref: string): Promise<string> {
  return ref === PLATFORM_CHAIN || ref.startsWith('org_') ? ref : (await services.organizations.require(ref)).id;
}

/** What verification trusted: a JWKS kept outside the database, or the database's own keys. */
const UNPINNED = 'database keys (UNPINNED — proves nothing against someone who can write the database)';

function printReports(json: boolean, reports: ChainReport[], trust?: string): void {
  output(json, trust === undefined ? reports : reports.map((r) => ({ ...r, trust })), () => {
    for (const r of reports) {
      const signed = r.ok && r.signedThrough ? `, signed through ${r.signedThrough}` : '';
      const unsigned = r.ok && r.unsigned ? `, ${r.unsigned} unsigned` : '';
      const base = r.ok && r.baseSeq ? (r.segment ? ` after ${r.baseSeq} (archive segment)` : ` after pruned ${r.baseSeq}`) : '';
      process.stdout.write(
        r.ok
          ? `ok      ${r.chainId}: ${r.events} events${base}${signed}${unsigned}\n`
          : `BROKEN  ${r.chainId}: ${r.problem} at seq ${r.seq}: ${r.message}\n`,
      );
    }
    if (trust !== undefined) process.stdout.write(`trust: ${trust}\n`);
  });
  if (reports.some((r) => !r.ok)) process.exitCode = 1;
}

audit
  .command('verify')
  .description(
    'Walk the hash chains and signed checkpoints and report the first altered, missing, reordered or truncated event, forged checkpoint or unanchored base; with --file, verify an export offline. The trust anchor is --jwks or MANDATE_AUDIT_TRUST_JWKS (a JWKS kept outside Mandate); without either, the database is verified against its own signing_keys table, which whoever can write the database could extend, and the output says UNPINNED.',
  )
  .option('--org <org>', 'organization id or slug, or platform (default: every chain)')
  .option(
    '--file <file>',
    'verify an export or archive (JSON Lines) offline, without the database; needs --jwks or MANDATE_AUDIT_TRUST_JWKS',
  )
  .option(
    '--jwks <file|url>',
    'the JWK Set that verifies the checkpoints: a file or an https URL (http only for localhost); default MANDATE_AUDIT_TRUST_JWKS',
  )
  .option('--issuer <url>', 'with --file: the iss every checkpoint must name')
  .option('--json', 'print JSON')
  .action(async (options: { org?: string; file?: string; jwks?: string; issuer?: string; json?: boolean }) => {
    const trustSource = options.jwks ?? loadConfig().auditTrustJwks;
    if (options.file) {
      if (!trustSource) throw new Error('--file needs --jwks <file|url> or MANDATE_AUDIT_TRUST_JWKS: the checkpoints are verified with it');
      if (options.org) throw new Error('--org selects a chain in the database; an export holds one chain');
      const jwks = await loadJwks(trustSource);
      printReports(!!options.json, [await verifyExportFile(options.file, jwks, { ...(options.issuer && { issuer: options.issuer }) })]);
      return;
    }
    if (options.issuer) throw new Error('--issuer goes with --file; the database is checked against MANDATE_ISSUER');
    const jwks = trustSource ? await loadJwks(trustSource) : undefined;
    // Keys read from the database vouch only against someone who can edit audit rows and nothing
    // else: said loudly, on stderr too, so a green run is not mistaken for proof.
    if (!jwks)
      process.stderr.write(
        'WARNING: no pinned JWKS (--jwks or MANDATE_AUDIT_TRUST_JWKS): checkpoints are verified with the keys of the database being checked, which proves nothing against someone who can write that database\n',
      );
    await withServices(async (services) => {
      const chainId = options.org ? await chainIdOf(services, options.org) : undefined;
      const trust = jwks ? `pinned JWKS ${trustSource}` : UNPINNED;
      printReports(!!options.json, await services.auditVerifier.verify(chainId, { ...(jwks && { jwks }) }), trust);
    });
  });

audit
  .command('export')
  .description(
    'Export one audit chain as JSON Lines (events and signed checkpoints, ending with one of the head signed now), verifiable offline with audit verify --file.',
  )
  .requiredOption('--org <org>', 'organization id or slug, or platform')
  .option('--out <file>', 'write to this file (default: stdout)')
  .action(async (options: { org: string; out?: string }) =>
    withServices(async (services) => {
      const chainId = await chainIdOf(services, options.org);
      // The export ends with a checkpoint of its head, signed now.
      await services.keyRing.ensureKeys({ actorId: 'cli' });
      const exported = await services.auditExport.chain(chainId);
      if (!exported) throw new Error(`no audit chain ${chainId}`);
      const lines = (async function* () {
        for await (const line of exported.lines) yield toJsonLine(line);
      })();
      if (options.out) {
        await writeJsonlDurably(options.out, lines);
        process.stderr.write(`exported ${chainId} through seq ${exported.head.seq} to ${options.out}\n`);
        return;
      }
      for await (const line of lines) if (!process.stdout.write(line)) await once(process.stdout, 'drain');
    }),
  );

audit
  .command('prune')
  .description("Apply organizations' audit_retention_days now: archive old events to MANDATE_AUDIT_ARCHIVE_DIR and delete them.")
  .option('--org <org>', 'only this organization (id or slug)')
  .option('--json', 'print JSON')
  .action(async (options: { org?: string; json?: boolean }) =>
    withServices(async (services) => {
      await services.keyRing.ensureKeys({ actorId: 'cli' });
      const summary = await services.auditRetention.pruneAll({ ...(options.org && { orgId: options.org }), context: { actorId: 'cli' } });
      const failed = summary.failed.map((f) => ({
        chainId: f.chainId,
        error: f.error instanceof Error ? f.error.message : String(f.error),
      }));
      output(!!options.json, { pruned: summary.pruned, failed }, () => {
        for (const p of summary.pruned) process.stdout.write(`pruned  ${p.chainId}: events ${p.from}-${p.to} archived to ${p.archive}\n`);
        for (const f of failed) process.stdout.write(`FAILED  ${f.chainId}: ${f.error}\n`);
        if (summary.pruned.length === 0 && failed.length === 0) process.stdout.write('nothing to prune\n');
      });
      if (failed.length > 0) process.exitCode = 1;
    }),
  );

audit
  .command('query')
  .description('Find events: "what did the agent do on behalf of john@xcorp.com last Tuesday?"')
  .option('--org <org>', 'organization id or slug')
  .option(
    '--user <member>',
    'member id or email: events they did or that were done on their behalf (an email of several organizations needs --org)',
  )
  .option('--agent <agent>', 'agent id')
  .option('--tool <tool>', 'tool name')
  .option('--action <action>', 'action name')
  .option('--result <result>', 'success or failure')
  .option('--kind <kind>', 'event kind, e.g. tool.outcome')
  .option('--correlation <id>', 'correlation id of a run or request chain')
  .option('--grant <grant>', 'grant id (auth_event_id)')
  .option('--since <time>', 'inclusive start, RFC 3339 or a date (UTC)')
  .option('--until <time>', 'exclusive end, RFC 3339 or a date (UTC)')
  .option('--limit <n>', 'most events to print', '1000')
  .option('--json', 'print the events as JSON')
  .action(
    async (options: {
      org?: string;
      user?: string;
      agent?: string;
      tool?: string;
      action?: string;
      result?: string;
      kind?: string;
      correlation?: string;
      grant?: string;
      since?: string;
      until?: string;
      limit: string;
      json?: boolean;
    }) =>
      withServices(async (services) => {
        if (options.result !== undefined && options.result !== 'success' && options.result !== 'failure')
          throw new Error('--result must be success or failure');
        const limit = Number(options.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new Error('--limit must be a positive integer');
        const { events, rows } = await queryAuditEvents(
          services,
          {
            org: options.org,
            member: options.user,
            agent: options.agent,
            tool: options.tool,
            action: options.action,
            result: options.result,
            kind: options.kind,
            correlation_id: options.correlation,
            grant: options.grant,
            since: options.since,
            until: options.until,
          },
          limit,
        );
        output(!!options.json, events, () => printTable(rows, ['at', 'kind', 'user', 'agent', 'tool', 'result', 'latency', 'correlation']));
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
