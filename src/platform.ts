import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import type { Counter } from './counters/counter.js';
import type { Envelope } from './crypto/envelope.js';
import type { EventBus } from './events/bus.js';
import type { Freshness } from './events/freshness.js';
import type { RateLimit } from './http/rate-limit.js';
import type { Metrics } from './ops/metrics.js';
import type { Store } from './store/store.js';

/**
 * What every capability module is built on: one node's configuration, database, clock, bus,
 * master key, logger and metrics. Nothing global, so a test can run several nodes in one process
 * (docs/architecture.md §3.8).
 */
export interface Platform {
  config: Config;
  store: Store;
  clock: Clock;
  bus: EventBus;
  /** Whether the node's database and events are current; stale means fail closed. */
  freshness: Freshness;
  envelope: Envelope;
  logger: Logger;
  metrics: Metrics;
  /** Where per-agent rate limits and anomaly windows count: across nodes when there are several (§12). */
  counter: Counter;
}

/** How long a bus-invalidated cache may serve: the TTL only bounds staleness after a missed event. */
export function cacheTtlMsOf(config: Config): number {
  return config.reconcileIntervalSeconds * 1000;
}

/** Cookies are `Secure` whenever the public issuer is https. */
export function secureCookiesOf(config: Config): boolean {
  return config.issuer.startsWith('https:');
}

/** The per-IP brakes of the public surface, from the configuration. */
export interface RateLimits {
  /** Protocol and public endpoints. */
  public: RateLimit;
  /** Password and impersonation logins: far tighter, and accounts also lock. */
  login: RateLimit;
}

export function rateLimitsOf(config: Config): RateLimits {
  return {
    public: { max: config.publicRateLimitPerMinute, windowSeconds: 60 },
    login: { max: Math.min(config.publicRateLimitPerMinute, 30), windowSeconds: 60 },
  };
}

/** The node's Fastify app, typed by its TypeBox schemas. */
export type App = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

/** Registers a capability's routes on the app (or on the admin scope). */
export type RouteRegistrar = (app: App) => Promise<void>;

/**
 * What a capability contributes to the node's life (lifecycle.ts runs them): caches to load
 * before serving, to reload when the bus may have missed an event, periodic housekeeping,
 * background workers, and buffers to flush once the app has stopped taking requests.
 */
export interface LifecycleHooks {
  /** Before the node serves: fill the in-memory caches. */
  load?: () => Promise<void>;
  /** Re-read what liveness depends on: at every reconcile and at once when the bus resynced. */
  reload?: () => Promise<void>;
  /** Housekeeping at every reconcile interval (purging expired rows, reminders). */
  reconcile?: () => Promise<void>;
  /** Work on its own interval (a counter flush). */
  every?: { ms: number; run: () => Promise<void> };
  /** A background worker, started once the caches are loaded. */
  start?: () => void;
  /** Stops the worker, before the app closes. */
  stop?: () => Promise<void>;
  /** After the app stopped taking requests: flush what is buffered. */
  drain?: () => Promise<void>;
}

/**
 * What a capability module returns (docs/architecture.md §3.8): its services, for other
 * modules, the CLI and tests; its routes, public (each with its own authentication) and
 * administrative (inside the admin-key scope under /v1); and its lifecycle hooks.
 */
export interface ModuleParts<Services> {
  services: Services;
  publicRoutes?: RouteRegistrar;
  adminRoutes?: RouteRegistrar;
  hooks?: LifecycleHooks;
}
