import type { IncomingMessage } from 'node:http';
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/** Field names whose values never reach a log line: secrets, tokens, credentials, cookies. */
const SENSITIVE_KEY = /secret|token|password|passwd|authorization|cookie|api[-_]?key|private|assertion|^code$|credential/i;
const REDACTED = '[redacted]';

/** Deep copy of `value` with every sensitive field replaced, however deeply nested. */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, depth + 1));
  // Only plain objects are copied; requests, errors and other instances go to their serializers.
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = SENSITIVE_KEY.test(key) ? REDACTED : redactSecrets(inner, depth + 1);
  }
  return out;
}

/** A URL with the values of sensitive query parameters (`?code=`, `?token=`) replaced. */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  for (const key of [...params.keys()]) if (SENSITIVE_KEY.test(key)) params.set(key, REDACTED);
  return `${url.slice(0, q)}?${params.toString()}`;
}

/** Options for the process logger: JSON lines, request ids, secrets redacted at every depth. */
export function loggerOptions(level: LoggerOptions['level']): LoggerOptions {
  return {
    level,
    base: { service: 'mandate' },
    formatters: { log: (object) => redactSecrets(object) as Record<string, unknown> },
    serializers: {
      req: (req: IncomingMessage & { id?: string; ip?: string }) => ({
        id: req.id,
        method: req.method,
        url: redactUrl(req.url ?? ''),
        remoteAddress: req.ip ?? req.socket?.remoteAddress,
      }),
      err: pino.stdSerializers.err,
    },
  };
}

export function createLogger(level: LoggerOptions['level'], destination?: DestinationStream): Logger {
  return pino(loggerOptions(level), destination);
}
