import type { IncomingMessage, ServerResponse } from 'node:http';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type RawServerDefault } from 'fastify';
import type { Logger } from 'pino';
import { adminAuthHook } from './admin-keys/auth-hook.js';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import { openCounter } from './counters/open-counter.js';
import type { Envelope } from './crypto/envelope.js';
import type { EventBus } from './events/bus.js';
import { Freshness } from './events/freshness.js';
import { ErrorBody } from './http/common-schemas.js';
import { installErrorHandler } from './http/error-handler.js';
import { installJsonBody } from './http/json-body.js';
import { installRateLimits } from './http/rate-limit.js';
import { requestIdOf } from './http/request-id.js';
import { installSecurityHeaders } from './http/security-headers.js';
import { trustProxyOption } from './http/trust-proxy.js';
import { createValidatorCompiler } from './http/validation.js';
import { Lifecycle } from './lifecycle.js';
import { createModules, type Services } from './modules.js';
import { deferredChildLogger } from './ops/logging.js';
import { Metrics } from './ops/metrics.js';
import { opsRoutes } from './ops/routes.js';
import { type App, type Platform, rateLimitsOf } from './platform.js';
import type { Store } from './store/store.js';

/** Everything one Mandate node is built from; nothing global, so a test can run several. */
export interface AppOptions {
  config: Config;
  store: Store;
  clock: Clock;
  bus: EventBus;
  /** Tracks the node's database and events sources; by default tracks none (never stale). */
  freshness?: Freshness;
  envelope: Envelope;
  logger: Logger;
  /** Collect process metrics (CPU, memory); off in tests that build many apps. */
  processMetrics?: boolean;
}

/** A built node: its HTTP app and the services a CLI command or a test may drive directly. */
export type Mandate = Services & {
  app: App;
  metrics: Metrics;
  /** Stops accepting requests, finishes in-flight ones, flushes what is buffered. */
  close(): Promise<void>;
};

/** The Fastify app: validation, errors, security headers, metrics, rate limits and the OpenAPI document. */
async function createFastify(platform: Platform): Promise<App> {
  const { config, logger, metrics } = platform;
  const app = Fastify<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger>({
    loggerInstance: logger,
    bodyLimit: config.bodyLimitBytes,
    genReqId: requestIdOf,
    // request.ip is the client as the configured proxies report it (docs/architecture.md §13):
    // rate limits, the audit client_ip and the anomaly rules all read it.
    trustProxy: trustProxyOption(config.trustProxy),
    // Request loggers are created when a request logs something (ops/logging.ts).
    childLoggerFactory: (parent, bindings, options) => deferredChildLogger(parent as Logger, bindings, options),
    // While closing, a request that arrives on an open keep-alive connection is still answered,
    // with `Connection: close`, rather than failed with a 503: a graceful restart of workers
    // (serve.ts) fails no request. The caches stay followed until the app has closed (close()).
    return503OnClosing: false,
    // Slow clients (slowloris, a trickled body) are cut off rather than hold a connection
    // (docs/architecture.md §11); node checks pending requests every connectionsCheckingInterval.
    requestTimeout: config.httpRequestTimeoutMs,
    http: {
      requestTimeout: config.httpRequestTimeoutMs,
      headersTimeout: Math.min(config.httpHeadersTimeoutMs, config.httpRequestTimeoutMs),
      connectionsCheckingInterval: 1_000,
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(createValidatorCompiler());
  installJsonBody(app, { maxDepth: config.jsonMaxDepth });
  installErrorHandler(app, metrics);
  installSecurityHeaders(app, { https: config.issuer.startsWith('https:') });
  // Callback-style hooks on every request: an async hook costs a promise and a turn of the microtask queue.
  app.addHook('onResponse', (request, reply, done) => {
    metrics.recordHttp(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
  installRateLimits(app);
  app.addSchema(ErrorBody);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Mandate management API', version: '1', description: 'Authorization platform for AI agents.' },
      servers: [{ url: config.issuer }],
      components: {
        securitySchemes: {
          adminKey: { type: 'http', scheme: 'bearer', description: 'Admin API key (mnd_ak_…)' },
          accessToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A Mandate access token (RFC 9068)' },
        },
      },
    },
  });
  return app;
}

/**
 * One node (docs/architecture.md §3.8): the capability modules (modules.ts), the Fastify set-up,
 * each module's routes (public ones with their own authentication, administrative ones inside the
 * admin-key scope under /v1), and the lifecycle that owns timers and the close order. The
 * database must be migrated already.
 */
export async function buildApp(options: AppOptions): Promise<Mandate> {
  const { config, store, clock, bus, envelope, logger } = options;
  const metrics = new Metrics({ processMetrics: options.processMetrics ?? false });
  const freshness = options.freshness ?? new Freshness(config.failClosedAfterSeconds * 1000);
  const counter = openCounter({ config, store, logger, onLocal: (local) => metrics.counterLocal.set(local ? 1 : 0) });
  const platform: Platform = { config, store, clock, bus, freshness, envelope, logger, metrics, counter };
  const modules = createModules(platform);
  const lifecycle = new Lifecycle(modules.hooks, {
    bus,
    reconcileIntervalSeconds: config.reconcileIntervalSeconds,
    onError: (error) => logger.error({ err: error }, 'cache reload failed'),
  });
  // A Redis counter reconnects until closed: a node that fails to start must not be kept alive by it.
  await lifecycle.start().catch(async (error: unknown) => {
    await counter.close();
    throw error;
  });

  const app = await createFastify(platform);
  const rateLimit = rateLimitsOf(config).public;
  await app.register(opsRoutes, { store, metrics, freshness });
  for (const register of modules.publicRoutes) await register(app);
  app.get('/v1/openapi.json', { schema: { hide: true }, config: { rateLimit } }, async () => app.swagger());
  await app.register(
    async (v1) => {
      v1.addHook('onRequest', adminAuthHook(modules.services.adminKeys));
      for (const register of modules.adminRoutes) await register(v1);
    },
    { prefix: '/v1' },
  );
  await app.ready();
  return {
    ...modules.services,
    app,
    metrics,
    close: async () => {
      await app.close();
      await lifecycle.stop();
      await lifecycle.drain();
      await counter.close();
    },
  };
}
