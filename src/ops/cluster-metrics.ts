import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { MandateError } from '../errors.js';

const REQUEST = 'mandate:metrics-request';
const RESPONSE = 'mandate:metrics-response';
/** How long a worker waits for the primary's answer: prom-client gives up on workers after 5 s. */
const TIMEOUT_MS = 6_000;

interface MetricsRequest {
  type: typeof REQUEST;
  id: number;
}
interface MetricsResponse {
  type: typeof RESPONSE;
  id: number;
  text?: string;
  error?: string;
}

/**
 * In the primary of `mandate serve --workers N`: answers a worker's request for the whole
 * cluster's metrics with every worker's registry merged by prom-client's AggregatorRegistry
 * (counters and histograms summed), so a scrape through the shared port sees one process's
 * worth of series whichever worker takes it, and counters never jump between workers' values.
 */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: Partial<MetricsRequest>) => {
    if (message?.type !== REQUEST || typeof message.id !== 'number') return;
    const id = message.id;
    const reply = (response: Omit<MetricsResponse, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: RESPONSE, id, ...response } satisfies MetricsResponse);
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (error: unknown) => reply({ error: error instanceof Error ? error.message : String(error) }),
    );
  });
}

/**
 * In a worker, first thing: answers the primary's collection requests (with prom-client's empty
 * global registry until {@link shareClusterMetrics}), so a scrape while a worker starts still completes.
 */
export function joinClusterMetrics(): void {
  // The constructor installs the worker's answer to the primary's collection requests.
  new AggregatorRegistry();
}

/**
 * In a worker: makes `registry` the one the primary collects, and returns what `/metrics` serves
 * instead of the worker's own registry: the cluster's, asked of the primary.
 */
export function shareClusterMetrics(registry: Registry): () => Promise<string> {
  joinClusterMetrics();
  AggregatorRegistry.setRegistries([registry]);
  const pending = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  process.on('message', (message: Partial<MetricsResponse>) => {
    if (message?.type !== RESPONSE || typeof message.id !== 'number') return;
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (message.text !== undefined) waiter.resolve(message.text);
    else waiter.reject(new MandateError('not_ready', `cluster metrics unavailable: ${message.error ?? 'no answer'}`));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new MandateError('not_ready', 'cluster metrics unavailable: the primary did not answer'));
      }, TIMEOUT_MS);
      pending.set(id, {
        resolve: (text) => {
          clearTimeout(timer);
          resolve(text);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      process.send?.({ type: REQUEST, id } satisfies MetricsRequest);
    });
}
