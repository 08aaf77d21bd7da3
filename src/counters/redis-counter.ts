import { createClient } from '@redis/client';
import { bucketsOf, type Count, type Counter, CounterUnavailableError, type CounterWindow, storedKey } from './counter.js';

/**
 * Adds ARGV[1] to the current bucket (KEYS[1]) and sets its expiry (ARGV[2] ms), then adds the
 * older buckets (KEYS[2..], newest first). One script runs atomically: no other client's
 * command runs in between. Returns the total and the position of the oldest bucket with a count.
 */
const ADD_SCRIPT = `
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local oldest = 1
for i = 2, #KEYS do
  local value = redis.call('GET', KEYS[i])
  if value then
    total = total + tonumber(value)
    oldest = i
  end
end
return {total, oldest}
`;

export interface RedisCounterOptions {
  url: string;
  /** Put before every key (`MANDATE_REDIS_KEY_PREFIX`). */
  keyPrefix: string;
  /** How long connecting may take before Redis counts as unreachable. */
  connectTimeoutMs?: number;
  /** The client's errors (a lost connection, a refused reconnect): logged, never thrown. */
  onError?: (error: unknown) => void;
}

/**
 * Counts in Redis (`MANDATE_REDIS_URL`, docs/architecture.md §12): one `EVAL` per add. While
 * Redis is out of reach the client reconnects in the background and every add fails at once
 * (no offline queue), so the caller can count elsewhere instead of waiting.
 */
export class RedisCounter implements Counter {
  readonly kind = 'redis' as const;
  private readonly client;
  private readonly connecting: Promise<unknown>;
  private closed = false;

  constructor(private readonly options: RedisCounterOptions) {
    const onError = options.onError ?? (() => {});
    this.client = createClient({
      url: options.url,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: options.connectTimeoutMs ?? 1000,
        // Keep trying, at most every 2 s: the node counts in memory meanwhile and never gives up on Redis.
        reconnectStrategy: (retries: number) => Math.min(100 * 2 ** Math.min(retries, 5), 2000),
      },
    });
    // Without a listener an 'error' event would end the process (Node's EventEmitter rule).
    this.client.on('error', onError);
    this.connecting = this.client.connect().catch(onError);
  }

  /** Whether Redis is connected now. */
  get connected(): boolean {
    return this.client.isReady;
  }

  async add(key: string, n: number, at: number, window: CounterWindow): Promise<Count> {
    if (!this.client.isReady) throw new CounterUnavailableError('Redis is not connected');
    const buckets = bucketsOf(at, window);
    const name = `${this.options.keyPrefix}{${storedKey(key, buckets)}}`;
    // Every bucket of a key shares one hash tag, so a Redis Cluster keeps them on one shard.
    const keys = Array.from({ length: buckets.span }, (_, i) => `${name}:${buckets.current - i * buckets.bucketMs}`);
    const ttlMs = buckets.expiresAt - at + 1000;
    const reply = (await this.client.eval(ADD_SCRIPT, { keys, arguments: [String(n), String(Math.max(1, ttlMs))] })) as [number, number];
    const [total, oldest] = reply;
    return {
      count: Number(total),
      since: buckets.current - (Number(oldest) - 1) * buckets.bucketMs,
      resetAt: buckets.current + buckets.bucketMs,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Connected: let the commands in flight finish. Still trying to connect: stop trying.
    if (this.client.isReady) await this.client.close().catch(() => {});
    else if (this.client.isOpen) this.client.destroy();
    await this.connecting;
  }
}
