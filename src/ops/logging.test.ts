import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { createLogger, deferredChildLogger, redactSecrets, redactUrl } from './logging.js';

const R = '[redacted]';

function captureLogger() {
  const lines: string[] = [];
  const logger = createLogger('info', {
    write(line: string) {
      lines.push(line);
    },
  });
  return { logger, lines };
}

describe('redactSecrets', () => {
  it.each([
    'client_secret',
    'access_token',
    'refresh_token',
    'password',
    'authorization',
    'Authorization',
    'cookie',
    'set-cookie',
    'api_key',
    'apiKey',
    'private_jwk',
    'client_assertion',
    'code',
    'credentials',
  ])('replaces the value of %s', (key) => {
    expect(redactSecrets({ [key]: 'SECRET', keep: 'me' })).toEqual({ [key]: R, keep: 'me' });
  });

  it('redacts nested secrets at any depth, including inside arrays, and keeps other fields', () => {
    const input = {
      request: {
        headers: { authorization: 'Bearer abc', cookie: 'sid=1', 'user-agent': 'curl' },
        body: { grant_type: 'refresh_token', refresh_token: 'rt_SECRET', client_id: 'cli_1' },
      },
      clients: [{ id: 'cli_1', client_secret: 's1' }, [{ password: 'p', name: 'n' }]],
      key: { private_jwk: { d: 'x' }, kid: 'k1' },
      count: 3,
      flag: null,
    };
    expect(redactSecrets(input)).toEqual({
      request: {
        headers: { authorization: R, cookie: R, 'user-agent': 'curl' },
        body: { grant_type: 'refresh_token', refresh_token: R, client_id: 'cli_1' },
      },
      clients: [{ id: 'cli_1', client_secret: R }, [{ password: R, name: 'n' }]],
      key: { private_jwk: R, kid: 'k1' },
      count: 3,
      flag: null,
    });
  });

  it('does not mutate its input', () => {
    const input = { a: { access_token: 'at_SECRET' } };
    const output = redactSecrets(input);
    expect(input.a.access_token).toBe('at_SECRET');
    expect(output).not.toBe(input);
  });

  it('redacts secrets in objects several levels deep', () => {
    let value: Record<string, unknown> = { password: 'deep', other: 1 };
    for (let i = 0; i < 6; i += 1) value = { nested: value };
    expect(JSON.stringify(redactSecrets(value))).not.toContain('deep');
  });

  it('returns class instances as they are', () => {
    const url = new URL('https://example.com/?token=abc');
    const error = new Error('boom');
    const date = new Date(0);
    expect(redactSecrets(url)).toBe(url);
    expect(redactSecrets(error)).toBe(error);
    const wrapped = redactSecrets({ url, date }) as { url: unknown; date: unknown };
    expect(wrapped.url).toBe(url);
    expect(wrapped.date).toBe(date);
  });

  it('copies null-prototype objects and redacts them', () => {
    const input = Object.assign(Object.create(null) as Record<string, unknown>, { token: 't', x: 1 });
    expect(redactSecrets(input)).toEqual({ token: R, x: 1 });
  });

  it('returns primitives unchanged', () => {
    expect(redactSecrets('password')).toBe('password');
    expect(redactSecrets(42)).toBe(42);
    expect(redactSecrets(null)).toBe(null);
    expect(redactSecrets(undefined)).toBe(undefined);
  });
});

describe('redactUrl', () => {
  function params(url: string): URLSearchParams {
    return new URLSearchParams(url.slice(url.indexOf('?') + 1));
  }

  it('hides the secret a vault authorization link carries in its path', () => {
    const link = `/vault/authorize/mnd_vl_${'a'.repeat(43)}`;
    expect(redactUrl(link)).toBe('/vault/authorize/[redacted]');
    expect(redactUrl(`${link}?x=1`)).not.toContain('mnd_vl_');
  });

  it('replaces the values of code, token and client_secret but keeps state', () => {
    const url = redactUrl('/oauth/callback?code=AUTHCODE123&state=xyz&token=TOK456&client_secret=CS789');
    expect(url.startsWith('/oauth/callback?')).toBe(true);
    expect(url).not.toContain('AUTHCODE123');
    expect(url).not.toContain('TOK456');
    expect(url).not.toContain('CS789');
    const p = params(url);
    expect(p.get('code')).toBe(R);
    expect(p.get('token')).toBe(R);
    expect(p.get('client_secret')).toBe(R);
    expect(p.get('state')).toBe('xyz');
  });

  it('redacts every occurrence of a repeated parameter', () => {
    const url = redactUrl('/cb?code=one&code=two');
    expect(url).not.toContain('one');
    expect(url).not.toContain('two');
    expect(params(url).getAll('code')).toEqual([R]);
  });

  it('leaves URLs without a query untouched', () => {
    expect(redactUrl('/v1/organizations')).toBe('/v1/organizations');
  });

  it('leaves harmless parameters alone', () => {
    expect(params(redactUrl('/v1/orgs?limit=10&cursor=abc')).get('limit')).toBe('10');
    expect(params(redactUrl('/v1/orgs?limit=10&cursor=abc')).get('cursor')).toBe('abc');
  });
});

describe('createLogger', () => {
  it('writes JSON lines with secrets redacted', () => {
    const { logger, lines } = captureLogger();
    logger.info({ user: { refresh_token: 'rt_SECRET' }, ok: 1 }, 'msg');
    expect(lines).toHaveLength(1);
    const line = lines[0] ?? '';
    expect(line).not.toContain('rt_SECRET');
    expect(line).toContain(R);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(parsed).toMatchObject({ msg: 'msg', ok: 1, service: 'mandate', user: { refresh_token: R } });
  });

  it('respects the level', () => {
    const lines: string[] = [];
    const logger = createLogger('warn', {
      write(line: string) {
        lines.push(line);
      },
    });
    logger.info('hidden');
    logger.warn('shown');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('shown');
  });

  it('redacts the query of a request URL through the req serializer', () => {
    const { logger, lines } = captureLogger();
    logger.info({ req: { method: 'GET', url: '/cb?code=AUTHCODE&state=s', id: 'req_1', ip: '10.0.0.1' } }, 'request');
    const line = lines[0] ?? '';
    expect(line).not.toContain('AUTHCODE');
    const parsed = JSON.parse(line) as { req: Record<string, unknown> };
    expect(parsed.req).toMatchObject({ method: 'GET', id: 'req_1', remoteAddress: '10.0.0.1' });
    expect(String(parsed.req.url)).toContain('state=s');
  });
});

describe('redaction edge cases', () => {
  const capture = () => {
    const lines: string[] = [];
    return { lines, logger: createLogger('info', { write: (line: string) => void lines.push(line) }) };
  };

  it('never returns a secret nested deeper than it walks', () => {
    let value: Record<string, unknown> = { password: 'LEAKED' };
    for (let i = 0; i < 12; i++) value = { nested: value };
    expect(JSON.stringify(redactSecrets(value))).not.toContain('LEAKED');
  });

  it('redacts child-logger bindings and extra properties of logged errors', () => {
    const { lines, logger } = capture();
    logger.child({ access_token: 'CHILD_SECRET' }).info('from child');
    const error = Object.assign(new Error('upstream failed'), { headers: { authorization: 'Bearer ERRSECRET' } });
    logger.error({ err: error }, 'failed');
    const joined = lines.join('');
    expect(joined).toContain('upstream failed');
    expect(joined).not.toContain('CHILD_SECRET');
    expect(joined).not.toContain('ERRSECRET');
  });

  it('treats a PKCE code_verifier as a secret', () => {
    expect(redactSecrets({ code_verifier: 'v' })).toEqual({ code_verifier: '[redacted]' });
  });
});

describe('deferredChildLogger (request loggers)', () => {
  async function requestLogs(level: 'info' | 'warn'): Promise<Record<string, unknown>[]> {
    const lines: string[] = [];
    const logger = createLogger(level, { write: (line: string) => lines.push(line) });
    const app = Fastify({ loggerInstance: logger, childLoggerFactory: deferredChildLogger as never, genReqId: () => 'req_fixed' });
    app.get('/', async (request) => {
      request.log.info('an info line');
      request.log.warn({ client_secret: 'SECRET', note: 'kept' }, 'a warn line');
      request.log.child({ step: 'inner' }).error('an error line');
      return { ok: true };
    });
    expect((await app.inject({ method: 'GET', url: '/' })).statusCode).toBe(200);
    await app.close();
    return lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  it('writes the lines of enabled levels with the request id bound and secrets redacted, and nothing below the level', async () => {
    const logs = await requestLogs('warn');
    expect(logs.map((l) => l.msg)).toEqual(['a warn line', 'an error line']);
    for (const line of logs) expect(line.reqId).toBe('req_fixed');
    expect(logs[0]).toMatchObject({ client_secret: R, note: 'kept' });
    expect(logs[1]).toMatchObject({ step: 'inner' });
  });

  it("keeps Fastify's request lines at info, with the request id", async () => {
    const logs = await requestLogs('info');
    expect(logs.map((l) => l.msg)).toEqual(['incoming request', 'an info line', 'a warn line', 'an error line', 'request completed']);
    for (const line of logs) expect(line.reqId).toBe('req_fixed');
  });
});
