import { describe, expect, it } from 'vitest';
import { genericProvider, PROVIDERS, providerFor } from './catalog.js';
import { ProviderConfigError } from './errors.js';
import { NORMALIZERS } from './normalizers.js';

describe('PROVIDERS', () => {
  it('has the built-in providers, each keyed by its own name', () => {
    expect(Object.keys(PROVIDERS).sort()).toEqual(
      ['atlassian', 'github', 'google', 'hubspot', 'linear', 'microsoft', 'notion', 'salesforce', 'slack', 'zoom'].sort(),
    );
    for (const [key, entry] of Object.entries(PROVIDERS)) expect(entry.name).toBe(key);
  });

  it.each(Object.values(PROVIDERS))('$name: https endpoints, a known normalizer, docs', (entry) => {
    for (const url of [entry.authorizationUrl, entry.tokenUrl, entry.revocationUrl, entry.apiBaseUrl, entry.docsUrl]) {
      if (url !== undefined) expect(new URL(url).protocol).toBe('https:');
    }
    if (entry.normalizer) expect(NORMALIZERS[entry.normalizer]).toBeDefined();
    expect(entry.docsUrl).toBeDefined();
  });

  it('is frozen and has no prototype to reach through', () => {
    expect(Object.isFrozen(PROVIDERS)).toBe(true);
    expect(Object.isFrozen(PROVIDERS.github?.refresh)).toBe(true);
    expect(PROVIDERS.constructor).toBeUndefined();
    expect(Object.getPrototypeOf(PROVIDERS)).toBeNull();
  });

  it('carries the documented quirks as data', () => {
    expect(PROVIDERS.slack).toMatchObject({ scopeParam: 'user_scope', scopeSeparator: ',' });
    expect(PROVIDERS.atlassian?.authorizationParams).toMatchObject({ audience: 'api.atlassian.com' });
    expect(PROVIDERS.atlassian?.defaultScopes).toContain('offline_access');
    expect(PROVIDERS.github).toMatchObject({ pkce: true, refresh: { supported: true, rotating: true } });
    expect(PROVIDERS.microsoft?.authorizationUrl).toContain('/common/oauth2/v2.0/');
    expect(PROVIDERS.google?.authorizationParams).toMatchObject({ access_type: 'offline' });
  });
});

describe('providerFor', () => {
  it('returns a copy of the entry', () => {
    const entry = providerFor('github');
    expect(entry).toEqual(PROVIDERS.github);
    entry.defaultScopes.push('x');
    expect(PROVIDERS.github?.defaultScopes).toEqual([]);
  });

  it('points an entry at GitHub Enterprise Server', () => {
    const entry = providerFor('github', {
      authorizationUrl: 'https://ghe.example.com/login/oauth/authorize',
      tokenUrl: 'https://ghe.example.com/login/oauth/access_token',
      apiBaseUrl: 'https://ghe.example.com/api/v3',
    });
    expect(entry).toMatchObject({
      authorizationUrl: 'https://ghe.example.com/login/oauth/authorize',
      tokenUrl: 'https://ghe.example.com/login/oauth/access_token',
      apiBaseUrl: 'https://ghe.example.com/api/v3',
      normalizer: 'github',
      clientAuth: 'client_secret_post',
    });
  });

  it.each([
    ['unknown', {}],
    ['constructor', {}],
    ['__proto__', {}],
  ])('refuses the unknown provider %s', (name, overrides) => {
    expect(() => providerFor(name, overrides)).toThrow(ProviderConfigError);
  });

  it.each([
    [{ tokenUrl: 'http://ghe.example.com/token' }, 'https'],
    [{ tokenUrl: 'ghe.example.com/token' }, 'absolute'],
    [{ tokenUrl: '/login/oauth/access_token' }, 'absolute'],
    [{ tokenUrl: 'javascript:alert(1)' }, 'https'],
    [{ tokenUrl: 'https://user:pass@ghe.example.com/token' }, 'credentials'],
    [{ authorizationUrl: 'https://ghe.example.com/authorize#x' }, 'fragment'],
    [{ apiBaseUrl: 'https://ghe.example.com/api?x=1' }, 'query'],
    [{ clientAuth: 'none' } as never, 'cannot be overridden'],
    [{ tokenUrl: 'http://127.0.0.1:8080/token' }, 'https'],
  ])('refuses the override %j', (overrides, message) => {
    expect(() => providerFor('github', overrides)).toThrow(message);
  });

  it('allows http to a loopback host only with allowHttp', () => {
    const loopback = { tokenUrl: 'http://127.0.0.1:8080/token', apiBaseUrl: 'http://localhost:9000/api' };
    expect(providerFor('github', loopback, { allowHttp: true })).toMatchObject({ tokenUrl: 'http://127.0.0.1:8080/token' });
    expect(() => providerFor('github', { tokenUrl: 'http://example.com/token' }, { allowHttp: true })).toThrow(ProviderConfigError);
  });
});

describe('genericProvider', () => {
  const config = {
    authorizationUrl: 'https://idp.example.com/authorize',
    tokenUrl: 'https://idp.example.com/token',
    apiBaseUrl: 'https://api.example.com/v1',
  };

  it('builds an RFC 6749 entry with safe defaults', () => {
    expect(genericProvider({ ...config, scopes: ['read', 'write'] })).toEqual({
      name: 'generic',
      displayName: 'OAuth 2.0 provider',
      ...config,
      defaultScopes: ['read', 'write'],
      scopeSeparator: ' ',
      pkce: true,
      clientAuth: 'client_secret_basic',
      refresh: { supported: true, rotating: false },
    });
  });

  it('takes a revocation URL, pkce and client auth', () => {
    const entry = genericProvider({
      ...config,
      revocationUrl: 'https://idp.example.com/revoke',
      pkce: false,
      clientAuth: 'client_secret_post',
    });
    expect(entry).toMatchObject({ revocationUrl: 'https://idp.example.com/revoke', pkce: false, clientAuth: 'client_secret_post' });
  });

  it.each([
    { ...config, tokenUrl: 'http://idp.example.com/token' },
    { ...config, apiBaseUrl: 'not a url' },
    { ...config, revocationUrl: 'ftp://idp.example.com/revoke' },
    { ...config, scopes: ['has space'] },
    { ...config, scopes: ['quote"'] },
    { ...config, clientAuth: 'private_key_jwt' as never },
  ])('refuses %j', (bad) => {
    expect(() => genericProvider(bad)).toThrow(ProviderConfigError);
  });

  it('allows loopback http with allowHttp', () => {
    expect(genericProvider({ ...config, tokenUrl: 'http://[::1]:4000/token' }, { allowHttp: true }).tokenUrl).toBe(
      'http://[::1]:4000/token',
    );
  });
});
