/**
 * Mandate's configuration: every option, its environment variable, its default and why.
 *
 * This module is the single documented defaults file (docs/architecture.md §3.5). The README's
 * configuration table is generated from {@link OPTIONS} by `npm run docs:config`, and a
 * test fails when the two drift apart.
 */
import os from 'node:os';
import path from 'node:path';

/** Signing algorithms Mandate can mint with. */
export type SigningAlg = 'ES256' | 'EdDSA';

/** Typed configuration, resolved once at start-up and passed down explicitly. */
export interface Config {
  /** Interface the HTTP server binds to. */
  host: string;
  /** TCP port of the HTTP server (0 picks a free port). */
  port: number;
  /** Issuer identifier (RFC 8414 §2): an https URL, or http for localhost development. */
  issuer: string;
  /** Directory for the SQLite file and the generated master key. */
  dataDir: string;
  /** `postgres://…` selects PostgreSQL; unset selects SQLite in {@link Config.dataDir}. */
  databaseUrl: string | undefined;
  /** 32-byte AES-256-GCM master key (base64); unset: a key file in the data dir. */
  masterKey: Buffer | undefined;
  /** Older master keys still accepted for decryption while ciphertexts re-seal. */
  previousMasterKeys: Buffer[];
  /** Admin API key installed when no admin key exists yet. */
  bootstrapAdminKey: string | undefined;
  /** Algorithm of newly generated signing keys. */
  signingAlg: SigningAlg;
  /** Lifetime of access tokens in seconds; retired signing keys stay published this long. */
  accessTokenTtlSeconds: number;
  /** Sliding lifetime of a refresh token in seconds: unused this long, it lapses. */
  refreshTokenTtlSeconds: number;
  /**
   * Seconds after a rotation during which the previous refresh token, presented again, returns the
   * same successor pair instead of revoking the grant (concurrent refreshes, lost responses); 0 disables.
   */
  refreshTokenReuseWindowSeconds: number;
  /** Absolute lifetime of a grant (consent) in seconds; its refresh tokens end with it. */
  grantTtlSeconds: number;
  /** RFC 7591 dynamic client registration: open to anyone, behind an initial access token, or off. */
  registrationPolicy: 'open' | 'initial_access_token' | 'off';
  /** The initial access token that registration requires when the policy says so. */
  registrationInitialAccessToken: string | undefined;
  /** Accept client IDs that are URLs of client ID metadata documents (the MCP-preferred registration). */
  clientMetadataDocuments: boolean;
  /** Development only: let outbound fetches (client metadata documents) reach http:// and loopback. */
  devAllowLoopbackFetch: boolean;
  /** Largest request body accepted, in bytes. */
  bodyLimitBytes: number;
  /** Requests per minute per client IP on public (unauthenticated) endpoints. */
  publicRateLimitPerMinute: number;
  /** Seconds between safety-net reloads of cached state (signing keys) from the database. */
  reconcileIntervalSeconds: number;
  /** pino log level. */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Run pending migrations when the server starts. */
  migrateOnStart: boolean;
  /** Sign an audit checkpoint once a chain has grown by this many events. */
  auditCheckpointEvents: number;
  /** Seconds between audit maintenance passes: checkpoints of chains that moved, and retention. */
  auditCheckpointIntervalSeconds: number;
  /** Where retention writes the JSONL of the events it prunes. */
  auditArchiveDir: string;
  /** Attempts at delivering one batch to an audit webhook before it is dead-lettered. */
  auditSinkMaxAttempts: number;
  /**
   * The JWKS file `mandate audit verify` trusts (like `--jwks`): kept outside the database, so a
   * key someone adds to signing_keys cannot vouch for a rewritten checkpoint. Unset: the
   * database's own keys, which the command reports as unpinned.
   */
  auditTrustJwks: string | undefined;
  /**
   * Seconds a node may go without confirming its database and events are current before it fails
   * closed: introspection answers inactive and decisions deny (docs/architecture.md §11).
   */
  failClosedAfterSeconds: number;
  /** Milliseconds between a node's catch-ups on the events outbox (a safety net under NOTIFY). */
  eventsPollMs: number;
  /** PostgreSQL pool size of one process. */
  dbPoolSize: number;
  /** Milliseconds to wait for a new PostgreSQL connection before the request fails. */
  dbConnectTimeoutMs: number;
  /** Milliseconds a query may wait on the client side (a hung server or network), then fails. */
  dbQueryTimeoutMs: number;
  /** PostgreSQL `statement_timeout` in milliseconds: the server cancels a statement running longer. */
  dbStatementTimeoutMs: number;
  /** Milliseconds a client has to send a whole request before the server answers 408. */
  httpRequestTimeoutMs: number;
  /** Milliseconds a client has to send the request headers. */
  httpHeadersTimeoutMs: number;
  /** Deepest nesting of arrays and objects accepted in a JSON body. */
  jsonMaxDepth: number;
  /** Which proxies to believe about the client address: false, a hop count, or addresses and CIDRs. */
  trustProxy: boolean | number | string[];
  /** `redis://…` counts cluster-wide limits in Redis; unset: PostgreSQL, or memory on SQLite. */
  redisUrl: string | undefined;
  /** Prefix of every key Mandate writes in Redis, so several deployments can share one. */
  redisKeyPrefix: string;
  /** Worker processes `mandate serve` runs: a number, or `auto` for one per core. */
  workers: number | 'auto';
}

/** Raised when an environment variable cannot be parsed; the message names the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super(`invalid configuration: ${variable} ${reason}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** One documented option: how to read it and what it defaults to. */
export interface OptionSpec {
  env: string;
  key: keyof Config;
  default: string;
  description: string;
  parse: (raw: string | undefined, env: Env, variable: string) => unknown;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

function parseInteger(min: number, max: number, fallback: number) {
  return (raw: string | undefined, _env: Env, variable: string): number => {
    if (raw === undefined || raw === '') return fallback;
    if (!/^\d+$/.test(raw)) throw new ConfigError(variable, `must be a whole number, got "${raw}"`);
    const value = Number(raw);
    if (value < min || value > max) throw new ConfigError(variable, `must be between ${min} and ${max}, got ${value}`);
    return value;
  };
}

function parseBoolean(raw: string | undefined, fallback: boolean, variable: string): boolean {
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new ConfigError(variable, 'must be true or false');
}

function parseKey(raw: string, variable: string): Buffer {
  const key = Buffer.from(raw, 'base64');
  if (key.length !== 32 || key.toString('base64').replace(/=+$/, '') !== raw.trim().replace(/=+$/, '')) {
    throw new ConfigError(variable, 'must be 32 bytes encoded as base64 (openssl rand -base64 32)');
  }
  return key;
}

function defaultPort(env: Env): number {
  return parseInteger(0, 65535, 4000)(env.MANDATE_PORT, env, 'MANDATE_PORT');
}

/** Every option Mandate reads, in the order the README lists them. */
export const OPTIONS: readonly OptionSpec[] = [
  {
    env: 'MANDATE_HOST',
    key: 'host',
    default: '127.0.0.1',
    description: 'Interface to listen on. Use `0.0.0.0` behind a load balancer.',
    parse: (raw) => raw || '127.0.0.1',
  },
  {
    env: 'MANDATE_PORT',
    key: 'port',
    default: '4000',
    description: 'TCP port to listen on.',
    parse: (_raw, env) => defaultPort(env),
  },
  {
    env: 'MANDATE_ISSUER',
    key: 'issuer',
    default: 'http://localhost:<port>',
    description:
      'Issuer identifier (RFC 8414 §2): https with no query or fragment; http only for localhost. Every node of a cluster uses the same value.',
    parse: (raw, env, variable) => {
      const port = defaultPort(env);
      const value = raw || (port === 80 ? 'http://localhost' : `http://localhost:${port}`);
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        throw new ConfigError(variable, `must be an absolute URL, got "${value}"`);
      }
      const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
      if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
        throw new ConfigError(variable, 'must use https (http is allowed only for localhost)');
      }
      if (value.includes('?') || value.includes('#')) throw new ConfigError(variable, 'must not have a query or fragment (RFC 8414 §2)');
      if (url.username || url.password) throw new ConfigError(variable, 'must not contain credentials');
      const issuer = value.replace(/\/+$/, '');
      // Clients compare the issuer as a string (RFC 8414 §3.3): accept only its normalized spelling.
      const normalized = `${url.origin}${url.pathname}`.replace(/\/+$/, '');
      if (issuer !== normalized) throw new ConfigError(variable, `must be written in normalized form: ${normalized}`);
      if (!raw && url.port === '0') throw new ConfigError(variable, 'must be set when MANDATE_PORT is 0 (the issuer names the real port)');
      return issuer;
    },
  },
  {
    env: 'MANDATE_DATA_DIR',
    key: 'dataDir',
    default: './.mandate',
    description: 'Directory for the SQLite database file and, when no master key is set, the generated key file.',
    parse: (raw) => path.resolve(raw || './.mandate'),
  },
  {
    env: 'MANDATE_DATABASE_URL',
    key: 'databaseUrl',
    default: '(unset: SQLite file in the data dir)',
    description: '`postgres://user@host:5432/db` runs on PostgreSQL (required for more than one node).',
    parse: (raw, _env, variable) => {
      if (!raw) return undefined;
      if (!/^postgres(ql)?:\/\//.test(raw)) throw new ConfigError(variable, 'must start with postgres:// or postgresql://');
      return raw;
    },
  },
  {
    env: 'MANDATE_MASTER_KEY',
    key: 'masterKey',
    default: '(unset: generated key file in the data dir)',
    description:
      'Base64 32-byte key that seals private signing keys and secrets at rest (AES-256-GCM). Production must set it; when unset a key file is created with mode 0600 and a warning is logged.',
    parse: (raw, _env, variable) => (raw ? parseKey(raw, variable) : undefined),
  },
  {
    env: 'MANDATE_PREVIOUS_MASTER_KEYS',
    key: 'previousMasterKeys',
    default: '(none)',
    description: 'Comma-separated older master keys, still accepted to decrypt while ciphertexts are re-sealed.',
    parse: (raw, _env, variable) =>
      raw
        ? raw
            .split(',')
            .filter(Boolean)
            .map((k) => parseKey(k.trim(), variable))
        : [],
  },
  {
    env: 'MANDATE_BOOTSTRAP_ADMIN_KEY',
    key: 'bootstrapAdminKey',
    default: '(unset)',
    description: 'If set and no admin API key exists, it becomes the first admin key (`mnd_ak_` followed by at least 32 characters).',
    parse: (raw, _env, variable) => {
      if (!raw) return undefined;
      if (!/^mnd_ak_[A-Za-z0-9_-]{32,}$/.test(raw)) {
        throw new ConfigError(variable, 'must be mnd_ak_ followed by at least 32 characters of [A-Za-z0-9_-]');
      }
      return raw;
    },
  },
  {
    env: 'MANDATE_SIGNING_ALG',
    key: 'signingAlg',
    default: 'ES256',
    description: 'Algorithm of new signing keys: `ES256` or `EdDSA` (Ed25519).',
    parse: (raw, _env, variable) => {
      const value = raw || 'ES256';
      if (value !== 'ES256' && value !== 'EdDSA') throw new ConfigError(variable, `must be ES256 or EdDSA, got "${value}"`);
      return value;
    },
  },
  {
    env: 'MANDATE_ACCESS_TOKEN_TTL',
    key: 'accessTokenTtlSeconds',
    default: '600',
    description: 'Access-token lifetime in seconds; a retired signing key stays in the JWKS this long after rotation.',
    parse: (raw, env, variable) => parseInteger(30, 86_400, 600)(raw, env, variable),
  },
  {
    env: 'MANDATE_REFRESH_TOKEN_TTL',
    key: 'refreshTokenTtlSeconds',
    default: '1209600',
    description:
      'Sliding refresh-token lifetime in seconds (14 days): each use rotates it and restarts the clock, within the grant lifetime.',
    parse: (raw, env, variable) => parseInteger(300, 31_536_000, 1_209_600)(raw, env, variable),
  },
  {
    env: 'MANDATE_REFRESH_TOKEN_REUSE_WINDOW',
    key: 'refreshTokenReuseWindowSeconds',
    default: '30',
    description:
      'Grace period in seconds after a refresh-token rotation: the previous token, while its successor is unused, returns that same successor (concurrent refreshes, a lost response) instead of revoking the grant as reuse; 0 disables.',
    parse: (raw, env, variable) => parseInteger(0, 300, 30)(raw, env, variable),
  },
  {
    env: 'MANDATE_GRANT_TTL',
    key: 'grantTtlSeconds',
    default: '2592000',
    description: 'Absolute lifetime of a consent grant in seconds (30 days); every token derived from it ends with it.',
    parse: (raw, env, variable) => parseInteger(300, 31_536_000, 2_592_000)(raw, env, variable),
  },
  {
    env: 'MANDATE_REGISTRATION',
    key: 'registrationPolicy',
    default: 'open',
    description:
      'Dynamic client registration (RFC 7591): `open` (MCP clients register themselves; they get no organization and act only within what a user consents to), `initial_access_token`, or `off`.',
    parse: (raw, _env, variable) => {
      const value = raw || 'open';
      if (value !== 'open' && value !== 'initial_access_token' && value !== 'off') {
        throw new ConfigError(variable, 'must be open, initial_access_token or off');
      }
      return value;
    },
  },
  {
    env: 'MANDATE_REGISTRATION_TOKEN',
    key: 'registrationInitialAccessToken',
    default: '(unset)',
    description: 'The initial access token registration requires when MANDATE_REGISTRATION=initial_access_token (at least 32 characters).',
    parse: (raw, env, variable) => {
      if (env.MANDATE_REGISTRATION === 'initial_access_token' && (!raw || raw.length < 32)) {
        throw new ConfigError(variable, 'must be set (at least 32 characters) when MANDATE_REGISTRATION=initial_access_token');
      }
      return raw || undefined;
    },
  },
  {
    env: 'MANDATE_CLIENT_METADATA_DOCUMENTS',
    key: 'clientMetadataDocuments',
    default: 'true',
    description:
      'Accept a client_id that is the https URL of a client ID metadata document (fetched with SSRF guards, cached per Cache-Control).',
    parse: (raw, _env, variable) => parseBoolean(raw, true, variable),
  },
  {
    env: 'MANDATE_DEV_ALLOW_LOOPBACK_FETCH',
    key: 'devAllowLoopbackFetch',
    default: 'false',
    description:
      'Development only: let outbound fetches (client metadata documents, SSO identity providers, trusted-token JWKS, webhooks) use http:// and reach loopback addresses. Never in production.',
    parse: (raw, _env, variable) => parseBoolean(raw, false, variable),
  },
  {
    env: 'MANDATE_BODY_LIMIT',
    key: 'bodyLimitBytes',
    default: '65536',
    description: 'Largest request body accepted, in bytes; larger bodies get 413.',
    parse: (raw, env, variable) => parseInteger(1024, 10 * 1024 * 1024, 65_536)(raw, env, variable),
  },
  {
    env: 'MANDATE_PUBLIC_RATE_LIMIT',
    key: 'publicRateLimitPerMinute',
    default: '1200',
    description: 'Requests per minute per client IP on public endpoints (discovery, JWKS); over it: 429.',
    parse: (raw, env, variable) => parseInteger(1, 10_000_000, 1200)(raw, env, variable),
  },
  {
    env: 'MANDATE_RECONCILE_INTERVAL',
    key: 'reconcileIntervalSeconds',
    default: '30',
    description: 'Seconds between safety-net reloads of cached state; the events bus makes changes visible sooner.',
    parse: (raw, env, variable) => parseInteger(1, 3600, 30)(raw, env, variable),
  },
  {
    env: 'MANDATE_LOG_LEVEL',
    key: 'logLevel',
    default: 'info',
    description: 'Log level: fatal, error, warn, info, debug, trace or silent. Logs are JSON (pino) with secrets redacted.',
    parse: (raw, _env, variable) => {
      const value = raw || 'info';
      if (!(LOG_LEVELS as readonly string[]).includes(value)) {
        throw new ConfigError(variable, `must be one of ${LOG_LEVELS.join(', ')}`);
      }
      return value;
    },
  },
  {
    env: 'MANDATE_MIGRATE_ON_START',
    key: 'migrateOnStart',
    default: 'true',
    description: 'Apply pending migrations at start-up. Set `false` to run `mandate migrate` as a separate step.',
    parse: (raw, _env, variable) => parseBoolean(raw, true, variable),
  },
  {
    env: 'MANDATE_AUDIT_CHECKPOINT_EVENTS',
    key: 'auditCheckpointEvents',
    default: '1000',
    description: 'Sign a checkpoint of an audit chain (its head, with the active signing key) once it has grown by this many events.',
    parse: (raw, env, variable) => parseInteger(1, 10_000_000, 1000)(raw, env, variable),
  },
  {
    env: 'MANDATE_AUDIT_CHECKPOINT_INTERVAL',
    key: 'auditCheckpointIntervalSeconds',
    default: '60',
    description: 'Seconds between audit maintenance passes: every chain that moved gets a signed checkpoint, and retention prunes.',
    parse: (raw, env, variable) => parseInteger(1, 86_400, 60)(raw, env, variable),
  },
  {
    env: 'MANDATE_AUDIT_ARCHIVE_DIR',
    key: 'auditArchiveDir',
    default: '<data dir>/audit-archive',
    description: 'Directory where retention writes the events it prunes (JSONL, verifiable offline with the JWKS).',
    parse: (raw, env) => path.resolve(raw || path.join(env.MANDATE_DATA_DIR || './.mandate', 'audit-archive')),
  },
  {
    env: 'MANDATE_AUDIT_SINK_MAX_ATTEMPTS',
    key: 'auditSinkMaxAttempts',
    default: '8',
    description: 'Attempts (with exponential backoff) at delivering a batch to an audit webhook before it is dead-lettered.',
    parse: (raw, env, variable) => parseInteger(1, 100, 8)(raw, env, variable),
  },
  {
    env: 'MANDATE_AUDIT_TRUST_JWKS',
    key: 'auditTrustJwks',
    default: "(unset: the database's own keys, reported as UNPINNED)",
    description:
      'Path to the JWKS `mandate audit verify` trusts, as `--jwks` does: a copy of `/v1/audit/jwks` kept outside the database. Without it, verification trusts the keys in the database it checks, which proves nothing against someone who can write that database.',
    parse: (raw) => raw || undefined,
  },
  {
    env: 'MANDATE_FAIL_CLOSED_AFTER',
    key: 'failClosedAfterSeconds',
    default: '5',
    description:
      'Seconds a node may go without reaching its database and catching up on cluster events before it fails closed: introspection answers `active: false`, decisions deny, and requests that need the database answer 503 (docs/architecture.md §11).',
    parse: (raw, env, variable) => parseInteger(1, 3600, 5)(raw, env, variable),
  },
  {
    env: 'MANDATE_EVENTS_POLL_MS',
    key: 'eventsPollMs',
    default: '250',
    description:
      'Milliseconds between catch-ups on the events outbox; PostgreSQL NOTIFY wakes nodes sooner, this bounds a lost notification.',
    parse: (raw, env, variable) => parseInteger(20, 60_000, 250)(raw, env, variable),
  },
  {
    env: 'MANDATE_DB_POOL_SIZE',
    key: 'dbPoolSize',
    default: '10',
    description: 'PostgreSQL connections per process.',
    parse: (raw, env, variable) => parseInteger(1, 1000, 10)(raw, env, variable),
  },
  {
    env: 'MANDATE_DB_CONNECT_TIMEOUT_MS',
    key: 'dbConnectTimeoutMs',
    default: '2000',
    description: 'Milliseconds to wait for a new PostgreSQL connection; past it the request answers 503 `temporarily_unavailable`.',
    parse: (raw, env, variable) => parseInteger(50, 600_000, 2000)(raw, env, variable),
  },
  {
    env: 'MANDATE_DB_QUERY_TIMEOUT_MS',
    key: 'dbQueryTimeoutMs',
    default: '5000',
    description: 'Milliseconds a query may wait for the database (client side, covers a hung server or network); past it: 503.',
    parse: (raw, env, variable) => parseInteger(50, 600_000, 5000)(raw, env, variable),
  },
  {
    env: 'MANDATE_DB_STATEMENT_TIMEOUT_MS',
    key: 'dbStatementTimeoutMs',
    default: '5000',
    description: 'PostgreSQL `statement_timeout`: the server cancels a statement that runs longer.',
    parse: (raw, env, variable) => parseInteger(50, 600_000, 5000)(raw, env, variable),
  },
  {
    env: 'MANDATE_HTTP_REQUEST_TIMEOUT_MS',
    key: 'httpRequestTimeoutMs',
    default: '30000',
    description: 'Milliseconds a client has to send a whole request (slow-body protection); past it: 408.',
    parse: (raw, env, variable) => parseInteger(1000, 600_000, 30_000)(raw, env, variable),
  },
  {
    env: 'MANDATE_HTTP_HEADERS_TIMEOUT_MS',
    key: 'httpHeadersTimeoutMs',
    default: '10000',
    description: 'Milliseconds a client has to send the request headers (slowloris protection).',
    parse: (raw, env, variable) => parseInteger(1000, 600_000, 10_000)(raw, env, variable),
  },
  {
    env: 'MANDATE_JSON_MAX_DEPTH',
    key: 'jsonMaxDepth',
    default: '32',
    description: 'Deepest nesting of objects and arrays accepted in a JSON body; deeper answers 400.',
    parse: (raw, env, variable) => parseInteger(2, 256, 32)(raw, env, variable),
  },
  {
    env: 'MANDATE_TRUST_PROXY',
    key: 'trustProxy',
    default: 'false',
    description:
      'Which proxies to believe about the client address (`X-Forwarded-For`): `false`; a hop count such as `1` (one load balancer in front); or a comma-separated list of addresses and CIDRs such as `10.0.0.0/8,127.0.0.1`. The address found serves rate limits, the audit `client_ip` and the anomaly rules.',
    parse: (raw, _env, variable) => {
      if (raw === undefined || raw === '' || raw === 'false') return false;
      if (raw === 'true') throw new ConfigError(variable, 'must name a hop count or the proxies (true would believe any client)');
      if (/^\d+$/.test(raw)) return parseInteger(1, 100, 1)(raw, _env, variable);
      const entries = raw
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean);
      for (const entry of entries) {
        if (!/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(entry)) throw new ConfigError(variable, `must list addresses or CIDRs, got "${entry}"`);
      }
      return entries;
    },
  },
  {
    env: 'MANDATE_REDIS_URL',
    key: 'redisUrl',
    default: "(unset: the database's counters table, or memory on a single SQLite process)",
    description: '`redis://host:6379` counts per-agent rate limits and anomaly windows across nodes in Redis instead of PostgreSQL.',
    parse: (raw, _env, variable) => {
      if (!raw) return undefined;
      if (!/^rediss?:\/\//.test(raw)) throw new ConfigError(variable, 'must start with redis:// or rediss://');
      return raw;
    },
  },
  {
    env: 'MANDATE_REDIS_KEY_PREFIX',
    key: 'redisKeyPrefix',
    default: 'mandate:',
    description: 'Prefix of the keys Mandate writes in Redis (with `MANDATE_REDIS_URL`), so deployments can share one Redis.',
    parse: (raw, _env, variable) => {
      const prefix = raw ?? 'mandate:';
      if (prefix.length > 64 || /[\s{}]/.test(prefix))
        throw new ConfigError(variable, 'must be at most 64 characters, without spaces or braces');
      return prefix;
    },
  },
  {
    env: 'MANDATE_WORKERS',
    key: 'workers',
    default: '1',
    description: 'Worker processes `mandate serve` runs on this machine: a number, or `auto` for one per core.',
    parse: (raw, env, variable) => (raw === 'auto' ? 'auto' : parseInteger(1, 256, 1)(raw, env, variable)),
  },
];

/** `workers` resolved: `auto` is one per core the process may use. */
export function workerCount(workers: Config['workers']): number {
  return workers === 'auto' ? os.availableParallelism() : workers;
}

/** Reads and validates the configuration; throws {@link ConfigError} naming the first bad variable. */
export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const entries = OPTIONS.map((option) => [option.key, option.parse(env[option.env], env, option.env)]);
  return { ...(Object.fromEntries(entries) as Config), ...overrides };
}
