import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { MandateError } from '../errors.js';
import type { Freshness } from '../events/freshness.js';
import { pendingMigrations } from '../store/migrate.js';
import type { Store } from '../store/store.js';
import type { Metrics } from './metrics.js';

/**
 * How long readiness waits for the database: a load balancer's probe must learn that a node is
 * cut off (a hung or paused server accepts connections and never answers) rather than wait with
 * it (docs/architecture.md §11).
 */
const READINESS_BOUND_MS = 1_000;

/** Resolves as `work` does, or rejects once `ms` have passed; `work` itself runs on to its own timeout. */
function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** Liveness, readiness and Prometheus metrics. */
export async function opsRoutes(app: FastifyInstance, options: { store: Store; metrics: Metrics; freshness: Freshness }): Promise<void> {
  const tags = ['operations'];
  // Liveness only: never the database, so an orchestrator does not restart nodes for its outage.
  app.get('/healthz', { schema: { tags, summary: 'The process is up' } }, async () => ({ status: 'ok' }));

  app.get(
    '/readyz',
    { schema: { tags, summary: 'The database is reachable, migrations are current and the node is not failing closed' } },
    async () => {
      let pending: string[];
      try {
        pending = await within(
          sql`select 1`.execute(options.store.db).then(() => pendingMigrations(options.store)),
          READINESS_BOUND_MS,
          'database',
        );
      } catch (error) {
        throw new MandateError('not_ready', 'database unreachable', { cause: error });
      }
      if (pending.length > 0) throw new MandateError('not_ready', `migrations pending: ${pending.join(', ')}`);
      // A node failing closed (docs/architecture.md §11) refuses what it cannot vouch for: out of rotation.
      const stale = options.freshness.staleSources();
      if (stale.length > 0) throw new MandateError('not_ready', `not current: ${stale.join(', ')}`);
      return { status: 'ready' };
    },
  );

  app.get('/metrics', { schema: { tags, summary: 'Prometheus metrics' } }, async (_request, reply) =>
    reply.type(options.metrics.registry.contentType).send(await options.metrics.exposition()),
  );
}
