import type { IncomingMessage } from 'node:http';
import pino, { type Bindings, type ChildLoggerOptions, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/** Field names whose values never reach a log line: secrets, tokens, credentials, cookies. */
const SENSITIVE_KEY =
  /secret|token|password|passwd|authorization|cookie|api[-_]?key|private|assertion|^code$|auth_req_id|verifier|credential|totp|otp$/i;
const REDACTED = '[redacted]';

/**
 * Child-logger fields (`logger.child({...})`) bypass `formatters.log`, so the usual secret names
 * are also listed for pino's path redaction, which does cover them.
 */
const SECRET_NAMES = [
  'access_token',
  'refresh_token',
  'id_token',
  'session_token',
  'token',
  'client_secret',
  'secret',
  'password',
  'authorization',
  'cookie',
  'code',
  'code_verifier',
  'api_key',
  'private_jwk',
  'client_assertion',
  'assertion',
];
const REDACT_PATHS = SECRET_NAMES.flatMap((name) => [name, `*.${name}`]);

/** Deep copy of `value` with every sensitive field replaced, however deeply nested. */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  // Deeper than any structure Mandate logs: drop it rather than risk an unredacted secret.
  if (depth > 8) return '[redacted: too deep]';
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
export function redactUrl(raw: string): string {
  // A vault authorization link carries its bearer secret in the path.
  const url = raw.replace(/\/vault\/authorize\/[^/?]+/, `/vault/authorize/${REDACTED}`);
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
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    formatters: {
      log: (object) => redactSecrets(object) as Record<string, unknown>,
    },
    serializers: {
      req: (req: IncomingMessage & { id?: string; ip?: string }) => ({
        id: req.id,
        method: req.method,
        url: redactUrl(req.url ?? ''),
        remoteAddress: req.ip ?? req.socket?.remoteAddress,
      }),
      // Errors may carry request options or headers as extra properties.
      err: (error: Error) => redactSecrets({ ...pino.stdSerializers.err(error) }),
    },
  };
}

export function createLogger(level: LoggerOptions['level'], destination?: DestinationStream): Logger {
  return pino(loggerOptions(level), destination);
}

type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * A request's logger (Fastify's `childLoggerFactory`) that creates pino's child, with the request
 * id bound, only when a line is written at an enabled level. Creating a child redacts and
 * serializes its bindings, a measurable cost on every request (README "Benchmarks") that a
 * request logging nothing at the configured level need not pay. Output is unchanged.
 */
class DeferredChildLogger {
  private created: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  get level(): string {
    return this.created?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.real().level = level;
  }

  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }
  error(...args: unknown[]): void {
    this.write('error', args);
  }
  warn(...args: unknown[]): void {
    this.write('warn', args);
  }
  info(...args: unknown[]): void {
    this.write('info', args);
  }
  debug(...args: unknown[]): void {
    this.write('debug', args);
  }
  trace(...args: unknown[]): void {
    this.write('trace', args);
  }
  silent(): void {}

  isLevelEnabled(level: string): boolean {
    return (this.created ?? this.parent).isLevelEnabled(level);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.real().child(bindings, options);
  }

  private write(level: LogLevel, args: unknown[]): void {
    if (!this.created && !this.parent.isLevelEnabled(level)) return;
    (this.real()[level] as (...a: unknown[]) => void)(...args);
  }

  private real(): Logger {
    this.created ??= this.parent.child(this.bindings, this.options);
    return this.created;
  }
}

/** Fastify's `childLoggerFactory`: a {@link DeferredChildLogger}, or pino's own child when the route sets its own level. */
export function deferredChildLogger(parent: Logger, bindings: Bindings, options: ChildLoggerOptions): Logger {
  if (options.level !== undefined) return parent.child(bindings, options);
  return new DeferredChildLogger(parent, bindings, options) as unknown as Logger;
}
