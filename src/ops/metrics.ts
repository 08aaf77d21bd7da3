import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Prometheus metrics of one app instance; a registry per instance keeps tests' nodes apart. */
export class Metrics {
  readonly registry = new Registry();
  readonly httpRequests = new Counter({
    name: 'mandate_http_requests_total',
    help: 'HTTP requests by method, route and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'mandate_http_request_duration_seconds',
    help: 'HTTP request latency by method and route.',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  /** Labeled children by method, route and status: prom-client hashes a label object on every call otherwise. */
  private readonly httpChildren = new Map<string, { requests: { inc(): void }; duration: { observe(value: number): void } }>();

  /** Counts one HTTP request and its latency. Methods, route patterns and statuses are few, so the map stays small. */
  recordHttp(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let child = this.httpChildren.get(key);
    if (!child) {
      child = { requests: this.httpRequests.labels(method, route, String(status)), duration: this.httpDuration.labels(method, route) };
      this.httpChildren.set(key, child);
    }
    child.requests.inc();
    child.duration.observe(seconds);
  }

  readonly tokensIssued = new Counter({
    name: 'mandate_tokens_issued_total',
    help: 'Tokens issued by grant type.',
    labelNames: ['grant_type'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'mandate_errors_total',
    help: 'Error responses by error code.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly auditSinkDeliveries = new Counter({
    name: 'mandate_audit_sink_deliveries_total',
    help: 'Batches POSTed to audit webhook sinks, by result (success: a 2xx; failure: anything else).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly auditSinkDeadLetters = new Counter({
    name: 'mandate_audit_sink_dead_letters_total',
    help: 'Audit webhook batches given up on after MANDATE_AUDIT_SINK_MAX_ATTEMPTS attempts.',
    registers: [this.registry],
  });

  /** 1 in each process serving; summed across the workers of `mandate serve --workers` (ops/cluster-metrics.ts). */
  readonly workers = new Gauge({
    name: 'mandate_workers',
    help: 'Worker processes serving.',
    registers: [this.registry],
  });

  /** 1 while the cluster-wide counter is out of reach and this process counts limits alone (docs/architecture.md §12). */
  readonly counterLocal = new Gauge({
    name: 'mandate_counter_local',
    help: 'Whether per-agent rate limits and anomaly windows count in this process only, their shared store being unreachable.',
    registers: [this.registry],
  });

  /**
   * What `/metrics` serves: this registry, or in a worker of `mandate serve --workers` every
   * worker's, merged by the primary (ops/cluster-metrics.ts).
   */
  exposition: () => Promise<string> = () => this.registry.metrics();

  constructor(options: { processMetrics?: boolean } = {}) {
    this.workers.set(1);
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'mandate_' });
  }
}
