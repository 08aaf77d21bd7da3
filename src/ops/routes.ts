import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { MandateError } from '../errors.js';
import { pendingMigrations } from '../store/migrate.js';
import type { Store } from '../store/store.js';
import type { Metrics } from './metrics.js';

/** Liveness, readiness and Prometheus metrics. */
export async function opsRoutes(app: FastifyInstance, options: { store: Store; metrics: Metrics }): Promise<void> {
  const tags = ['operations'];
  app.get('/healthz', { schema: { tags, summary: 'The process is up' } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { tags, summary: 'The database is reachable and migrations are current' } }, async () => {
    try {
      await sql`select 1`.execute(options.store.db);
    } catch (error) {
      throw new MandateError('not_ready', 'database unreachable', { cause: error });
    }
    const pending = await pendingMigrations(options.store);
    if (pending.length > 0) throw new MandateError('not_ready', `migrations pending: ${pending.join(', ')}`);
    return { status: 'ready' };
  });

  app.get('/metrics', { schema: { tags, summary: 'Prometheus metrics' } }, async (_request, reply) =>
    reply.type(options.metrics.registry.contentType).send(await options.metrics.exposition()),
  );
}
