import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, OPTIONS } from './config.js';

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw new Error(`expected a ConfigError, got ${String(error)}`);
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('loadConfig defaults', () => {
  it('uses the documented defaults when the environment is empty', () => {
    const config = loadConfig({});
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(4000);
    expect(config.issuer).toBe('http://localhost:4000');
    expect(config.signingAlg).toBe('ES256');
    expect(config.accessTokenTtlSeconds).toBe(600);
    expect(config.migrateOnStart).toBe(true);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.masterKey).toBeUndefined();
    expect(config.previousMasterKeys).toEqual([]);
    expect(config.bootstrapAdminKey).toBeUndefined();
    expect(config.logLevel).toBe('info');
    expect(config.bodyLimitBytes).toBe(65_536);
    expect(config.publicRateLimitPerMinute).toBe(1200);
    expect(config.reconcileIntervalSeconds).toBe(30);
  });

  it('resolves the default data dir to an absolute path ending in .mandate', () => {
    const { dataDir } = loadConfig({});
    expect(path.isAbsolute(dataDir)).toBe(true);
    expect(path.basename(dataDir)).toBe('.mandate');
  });

  it('treats empty strings like unset variables', () => {
    const config = loadConfig({ MANDATE_PORT: '', MANDATE_HOST: '', MANDATE_SIGNING_ALG: '', MANDATE_MIGRATE_ON_START: '' });
    expect(config.port).toBe(4000);
    expect(config.host).toBe('127.0.0.1');
    expect(config.signingAlg).toBe('ES256');
    expect(config.migrateOnStart).toBe(true);
  });

  it('defaults the issuer to localhost on the configured port', () => {
    const config = loadConfig({ MANDATE_PORT: '8123' });
    expect(config.port).toBe(8123);
    expect(config.issuer).toBe('http://localhost:8123');
  });

  it('lets overrides win over the environment', () => {
    const config = loadConfig({ MANDATE_PORT: '8123' }, { port: 0, host: '0.0.0.0' });
    expect(config.port).toBe(0);
    expect(config.host).toBe('0.0.0.0');
  });
});

describe('loadConfig rejects invalid values', () => {
  const cases: Array<[variable: string, value: string]> = [
    ['MANDATE_PORT', 'abc'],
    ['MANDATE_PORT', '70000'],
    ['MANDATE_PORT', '-1'],
    ['MANDATE_ISSUER', 'http://example.com'],
    ['MANDATE_ISSUER', 'https://x.example/?a=1'],
    ['MANDATE_ISSUER', 'https://x.example/#frag'],
    ['MANDATE_ISSUER', 'not a url'],
    ['MANDATE_DATABASE_URL', 'mysql://x'],
    ['MANDATE_MASTER_KEY', 'short'],
    ['MANDATE_PREVIOUS_MASTER_KEYS', 'short'],
    ['MANDATE_BOOTSTRAP_ADMIN_KEY', 'abc'],
    ['MANDATE_BOOTSTRAP_ADMIN_KEY', `mnd_ak_${'a'.repeat(31)}`],
    ['MANDATE_SIGNING_ALG', 'RS256'],
    ['MANDATE_REDIS_URL', 'http://127.0.0.1:6379'],
    ['MANDATE_REDIS_KEY_PREFIX', 'has space'],
    ['MANDATE_REDIS_KEY_PREFIX', '{tag}:'],
    ['MANDATE_LOG_LEVEL', 'loud'],
    ['MANDATE_MIGRATE_ON_START', 'yes'],
    ['MANDATE_ACCESS_TOKEN_TTL', '5'],
    ['MANDATE_ACCESS_TOKEN_TTL', '86401'],
    ['MANDATE_BODY_LIMIT', '1.5'],
  ];

  it.each(cases)('%s=%s throws a ConfigError naming the variable', (variable, value) => {
    const error = configErrorOf(() => loadConfig({ [variable]: value }));
    expect(error.variable).toBe(variable);
    expect(error.name).toBe('ConfigError');
    expect(error.message).toContain(variable);
  });
});

describe('loadConfig accepts valid values', () => {
  it('parses a 32-byte base64 master key into a 32-byte Buffer', () => {
    const raw = Buffer.alloc(32, 7);
    const config = loadConfig({ MANDATE_MASTER_KEY: raw.toString('base64') });
    expect(Buffer.isBuffer(config.masterKey)).toBe(true);
    expect(config.masterKey?.length).toBe(32);
    expect(config.masterKey?.equals(raw)).toBe(true);
  });

  it('parses comma-separated previous master keys', () => {
    const a = Buffer.alloc(32, 1);
    const b = Buffer.alloc(32, 2);
    const config = loadConfig({ MANDATE_PREVIOUS_MASTER_KEYS: `${a.toString('base64')}, ${b.toString('base64')}` });
    expect(config.previousMasterKeys).toHaveLength(2);
    expect(config.previousMasterKeys[0]?.equals(a)).toBe(true);
    expect(config.previousMasterKeys[1]?.equals(b)).toBe(true);
  });

  it('removes a trailing slash from the issuer', () => {
    expect(loadConfig({ MANDATE_ISSUER: 'https://auth.example.com/' }).issuer).toBe('https://auth.example.com');
    expect(loadConfig({ MANDATE_ISSUER: 'https://auth.example.com/tenant/' }).issuer).toBe('https://auth.example.com/tenant');
  });

  it('allows http only for localhost issuers', () => {
    expect(loadConfig({ MANDATE_ISSUER: 'http://127.0.0.1:9000' }).issuer).toBe('http://127.0.0.1:9000');
    expect(loadConfig({ MANDATE_ISSUER: 'http://[::1]:9000' }).issuer).toBe('http://[::1]:9000');
  });

  it('accepts the other valid settings', () => {
    const config = loadConfig({
      MANDATE_DATABASE_URL: 'postgresql://u@h:5432/db',
      MANDATE_SIGNING_ALG: 'EdDSA',
      MANDATE_LOG_LEVEL: 'debug',
      MANDATE_MIGRATE_ON_START: 'false',
      MANDATE_ACCESS_TOKEN_TTL: '30',
      MANDATE_BOOTSTRAP_ADMIN_KEY: `mnd_ak_${'a'.repeat(32)}`,
      MANDATE_DATA_DIR: '/var/lib/mandate',
    });
    expect(config.databaseUrl).toBe('postgresql://u@h:5432/db');
    expect(config.signingAlg).toBe('EdDSA');
    expect(config.logLevel).toBe('debug');
    expect(config.migrateOnStart).toBe(false);
    expect(config.accessTokenTtlSeconds).toBe(30);
    expect(config.bootstrapAdminKey).toBe(`mnd_ak_${'a'.repeat(32)}`);
    expect(config.dataDir).toBe(path.resolve('/var/lib/mandate'));
  });
});

describe('OPTIONS', () => {
  it('documents every option with a MANDATE_ variable, a description and a default', () => {
    expect(OPTIONS.length).toBeGreaterThan(0);
    for (const option of OPTIONS) {
      expect(option.env).toMatch(/^MANDATE_[A-Z0-9_]+$/);
      expect(option.description.trim().length).toBeGreaterThan(0);
      expect(option.default.trim().length).toBeGreaterThan(0);
    }
  });

  it('has unique variables and keys, covering every key loadConfig returns', () => {
    const envs = OPTIONS.map((o) => o.env);
    const keys = OPTIONS.map((o) => o.key);
    expect(new Set(envs).size).toBe(envs.length);
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Set(keys)).toEqual(new Set(Object.keys(loadConfig({}))));
  });
});

describe('issuer spelling', () => {
  it.each([
    ['https://auth.example.com/?', 'query'],
    ['https://user:pw@auth.example.com', 'credentials'],
    ['HTTPS://AUTH.EXAMPLE.COM', 'normalized'],
  ])('refuses %s', (issuer, reason) => {
    expect(() => loadConfig({ MANDATE_ISSUER: issuer })).toThrow(reason);
  });

  it('requires an explicit issuer when the port is picked at random', () => {
    expect(() => loadConfig({ MANDATE_PORT: '0' })).toThrow(/MANDATE_ISSUER/);
    expect(loadConfig({ MANDATE_PORT: '0', MANDATE_ISSUER: 'https://auth.example.com' }).issuer).toBe('https://auth.example.com');
  });
});
