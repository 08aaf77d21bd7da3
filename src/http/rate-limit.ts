import type { FastifyInstance } from 'fastify';
import { MandateError } from '../errors.js';

/** A per-client-IP limit: `max` requests per `windowSeconds`. */
export interface RateLimit {
  max: number;
  windowSeconds: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Per-client-IP limit for this public route. */
    rateLimit?: RateLimit;
  }
}

/**
 * A fixed-window, per-IP request counter for public endpoints. It sits on the hot path of the
 * token endpoint, so it is a Map lookup and an increment (@fastify/rate-limit costs about 30 µs
 * a request here). Counts are per node: with N nodes a client may reach N times the limit,
 * which is the point of a coarse abuse brake rather than a quota.
 */
export class FixedWindowLimiter {
  private windows = new Map<string, { start: number; count: number }>();
  private lastSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Counts a request; returns the seconds until the window resets when over the limit. */
  hit(key: string, max: number, windowSeconds: number): { allowed: boolean; remaining: number; resetSeconds: number } {
    const now = this.now();
    const windowMs = windowSeconds * 1000;
    this.sweep(now, windowMs);
    let entry = this.windows.get(key);
    if (!entry || now - entry.start >= windowMs) {
      entry = { start: now, count: 0 };
      this.windows.set(key, entry);
    }
    entry.count += 1;
    const resetSeconds = Math.max(1, Math.ceil((entry.start + windowMs - now) / 1000));
    return { allowed: entry.count <= max, remaining: Math.max(0, max - entry.count), resetSeconds };
  }

  /** Drops finished windows once per window length, so idle clients do not accumulate. */
  private sweep(now: number, windowMs: number): void {
    if (now - this.lastSweep < windowMs) return;
    this.lastSweep = now;
    for (const [key, entry] of this.windows) if (now - entry.start >= windowMs) this.windows.delete(key);
  }
}

/** Applies each route's `config.rateLimit` to the client IP; over the limit answers 429 `rate_limited`. */
export function installRateLimits(app: FastifyInstance, limiter = new FixedWindowLimiter()): void {
  // Callback style: an async hook on every request costs a promise and a microtask turn.
  app.addHook('onRequest', (request, reply, done) => {
    const limit = request.routeOptions.config?.rateLimit;
    if (!limit) return done();
    const { allowed, remaining, resetSeconds } = limiter.hit(`${request.routeOptions.url}|${request.ip}`, limit.max, limit.windowSeconds);
    // draft-ietf-httpapi-ratelimit-headers: what a well-behaved client needs to slow down.
    reply.header('ratelimit-limit', limit.max).header('ratelimit-remaining', remaining).header('ratelimit-reset', resetSeconds);
    if (!allowed) {
      return done(new MandateError('rate_limited', `too many requests; retry in ${resetSeconds} s`, { retryAfterSeconds: resetSeconds }));
    }
    done();
  });
}
