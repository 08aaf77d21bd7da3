import { describe, expect, it } from 'vitest';
import { genericProvider, PROVIDERS } from './catalog.js';
import { ProviderResponseError } from './errors.js';
import { NORMALIZERS, normalizeTokenResponse } from './normalizers.js';
import type { ProviderEntry } from './types.js';

function entry(name: string): ProviderEntry {
  const found = PROVIDERS[name];
  if (!found) throw new Error(name);
  return found;
}

const generic = genericProvider({
  authorizationUrl: 'https://idp.example.com/a',
  tokenUrl: 'https://idp.example.com/t',
  apiBaseUrl: 'https://api.example.com',
});

function providerError(run: () => unknown): ProviderResponseError {
  try {
    run();
  } catch (error) {
    if (error instanceof ProviderResponseError) return error;
    throw error;
  }
  throw new Error('did not throw');
}

describe('normalizeTokenResponse: RFC 6749 §5.1', () => {
  it('reads the standard fields (Google)', () => {
    const body = {
      access_token: 'ya29.a0AfH6SMB',
      expires_in: 3599,
      refresh_token: '1//0gLq',
      scope: 'openid https://www.googleapis.com/auth/calendar.readonly https://www.googleapis.com/auth/userinfo.email',
      token_type: 'Bearer',
      id_token: 'eyJhbGciOi...',
    };
    expect(normalizeTokenResponse(entry('google'), body)).toEqual({
      accessToken: 'ya29.a0AfH6SMB',
      refreshToken: '1//0gLq',
      expiresIn: 3599,
      scope: 'openid https://www.googleapis.com/auth/calendar.readonly https://www.googleapis.com/auth/userinfo.email',
      tokenType: 'Bearer',
    });
  });

  it('reads Microsoft, Atlassian, Zoom and Linear responses', () => {
    expect(
      normalizeTokenResponse(entry('microsoft'), {
        token_type: 'Bearer',
        scope: 'User.Read openid offline_access',
        expires_in: 3599,
        ext_expires_in: 3599,
        access_token: 'eyJ0eXAiOiJKV1Qi',
        refresh_token: 'AwABAAAAvPM1KaPl',
      }),
    ).toMatchObject({ accessToken: 'eyJ0eXAiOiJKV1Qi', refreshToken: 'AwABAAAAvPM1KaPl', expiresIn: 3599 });
    expect(
      normalizeTokenResponse(entry('atlassian'), {
        access_token: 'eyJraWQi',
        refresh_token: 'eyJraWQiOiJ',
        expires_in: 3600,
        scope: 'read:jira-work offline_access',
        token_type: 'Bearer',
      }),
    ).toMatchObject({ refreshToken: 'eyJraWQiOiJ', scope: 'read:jira-work offline_access' });
    expect(
      normalizeTokenResponse(entry('zoom'), {
        access_token: 'eyJhbGciOiJIUzUxMiJ9',
        token_type: 'bearer',
        refresh_token: 'eyJhbGciOiJIUzUxMiJ9.r',
        expires_in: 3599,
        scope: 'meeting:read:list_meetings user:read:user',
      }),
    ).toMatchObject({ expiresIn: 3599, tokenType: 'bearer' });
    expect(
      normalizeTokenResponse(entry('linear'), {
        access_token: 'lin_oauth_00a21d8b',
        token_type: 'Bearer',
        expires_in: 86399,
        scope: ['read', 'issues:create'],
        refresh_token: 'lin_refresh_3a5f',
      }),
    ).toMatchObject({ scope: 'read issues:create', refreshToken: 'lin_refresh_3a5f' });
  });

  it('accepts a numeric-string expires_in and ignores nonsense ones', () => {
    expect(normalizeTokenResponse(generic, { access_token: 'a', expires_in: '3600' }).expiresIn).toBe(3600);
    expect(normalizeTokenResponse(generic, { access_token: 'a', expires_in: 'soon' }).expiresIn).toBeUndefined();
    expect(normalizeTokenResponse(generic, { access_token: 'a', expires_in: -5 }).expiresIn).toBeUndefined();
  });

  it.each([
    [{ error: 'invalid_grant', error_description: 'Bad Request' }, 'invalid_grant', 'Bad Request'],
    [{ error: 'invalid_client' }, 'invalid_client', undefined],
    [{ token_type: 'Bearer' }, 'invalid_token_response', 'the token response has no access_token'],
    [{ access_token: '' }, 'invalid_token_response', 'the token response has no access_token'],
    [{ access_token: 42 }, 'invalid_token_response', 'the token response has no access_token'],
  ])('throws for %j', (body, error, description) => {
    const thrown = providerError(() => normalizeTokenResponse(generic, body));
    expect(thrown.error).toBe(error);
    expect(thrown.description).toBe(description);
  });

  it.each([null, [], 'x', 42])('throws for a body that is not an object: %j', (body) => {
    expect(providerError(() => normalizeTokenResponse(generic, body)).error).toBe('invalid_token_response');
  });
});

describe('github', () => {
  it('asks for JSON', () => {
    expect(NORMALIZERS.github?.tokenRequestHeaders).toEqual({ accept: 'application/json' });
  });

  it('reads an expiring GitHub App user token', () => {
    const body = {
      access_token: 'ghu_16C7e42F292c6912E7710c838347Ae178B4a',
      expires_in: 28800,
      refresh_token: 'ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498',
      refresh_token_expires_in: 15811200,
      scope: '',
      token_type: 'bearer',
    };
    expect(normalizeTokenResponse(entry('github'), body)).toEqual({
      accessToken: 'ghu_16C7e42F292c6912E7710c838347Ae178B4a',
      refreshToken: 'ghr_1B4a2e77838347a7E420ce178F2E7c6912E169246c34E1ccbF66C46812d16D5B1A9Dc86A1498',
      expiresIn: 28800,
      refreshTokenExpiresIn: 15811200,
      tokenType: 'bearer',
    });
  });

  it('turns comma-separated OAuth-app scopes into spaces', () => {
    expect(normalizeTokenResponse(entry('github'), { access_token: 'gho_x', scope: 'repo,gist', token_type: 'bearer' }).scope).toBe(
      'repo gist',
    );
  });

  it('reads the form-encoded answer GitHub gives without accept: application/json', () => {
    expect(normalizeTokenResponse(entry('github'), 'access_token=gho_abc&scope=repo%2Cgist&token_type=bearer')).toMatchObject({
      accessToken: 'gho_abc',
      scope: 'repo gist',
    });
  });

  it.each([
    {
      error: 'bad_verification_code',
      error_description: 'The code passed is incorrect or expired.',
      error_uri:
        'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code',
    },
    { error: 'bad_refresh_token', error_description: 'The refresh token passed is incorrect or expired.' },
  ])('throws for the error GitHub answers with status 200: $error', (body) => {
    const thrown = providerError(() => normalizeTokenResponse(entry('github'), body));
    expect(thrown.error).toBe(body.error);
    expect(thrown.description).toBe(body.error_description);
  });
});

describe('slack', () => {
  it('takes the user token from authed_user when only user scopes were asked for', () => {
    const body = {
      ok: true,
      app_id: 'A0KRD7HC3',
      authed_user: {
        id: 'U1234',
        scope: 'chat:write,channels:read',
        access_token: 'xoxe.xoxp-1-Mi0yLTE',
        token_type: 'user',
        refresh_token: 'xoxe-1-My0xLTE',
        expires_in: 43200,
      },
      team: { id: 'T9TK3CUKW', name: 'Slack Softball Team' },
      enterprise: null,
      is_enterprise_install: false,
    };
    expect(normalizeTokenResponse(entry('slack'), body)).toEqual({
      accessToken: 'xoxe.xoxp-1-Mi0yLTE',
      refreshToken: 'xoxe-1-My0xLTE',
      expiresIn: 43200,
      scope: 'chat:write channels:read',
      tokenType: 'user',
    });
  });

  it('prefers the user token when a bot token came too', () => {
    const body = {
      ok: true,
      access_token: 'xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy',
      token_type: 'bot',
      scope: 'commands,incoming-webhook',
      bot_user_id: 'U0KRQLJ9H',
      authed_user: { id: 'U1234', scope: 'chat:write', access_token: 'xoxp-1234', token_type: 'user' },
    };
    expect(normalizeTokenResponse(entry('slack'), body)).toMatchObject({ accessToken: 'xoxp-1234', tokenType: 'user' });
  });

  it('reads a refreshed user token at the top level', () => {
    const body = {
      ok: true,
      access_token: 'xoxe.xoxp-2',
      token_type: 'user',
      refresh_token: 'xoxe-2',
      expires_in: 43200,
      scope: 'chat:write',
    };
    expect(normalizeTokenResponse(entry('slack'), body)).toMatchObject({ accessToken: 'xoxe.xoxp-2', refreshToken: 'xoxe-2' });
  });

  it.each([
    [{ ok: false, error: 'invalid_code' }, 'invalid_code'],
    [{ ok: false, error: 'invalid_refresh_token' }, 'invalid_refresh_token'],
    [{ ok: false }, 'invalid_token_response'],
    [{ access_token: 'xoxp-no-ok' }, 'invalid_token_response'],
  ])('throws for %j', (body, error) => {
    expect(providerError(() => normalizeTokenResponse(entry('slack'), body)).error).toBe(error);
  });
});

describe('notion', () => {
  it('sends JSON with Notion-Version', () => {
    expect(NORMALIZERS.notion).toMatchObject({ tokenRequestFormat: 'json', tokenRequestHeaders: { 'notion-version': expect.any(String) } });
  });

  it('keeps the standard fields and drops the workspace ones', () => {
    const body = {
      access_token: 'ntn_a1b2c3',
      token_type: 'bearer',
      refresh_token: 'nrt_d4e5f6',
      bot_id: 'b3414d65-9122-45f7-86ff-cc9d8773d601',
      workspace_name: "Ada's Notion Workspace",
      workspace_icon: 'https://website.domain/images/image.png',
      workspace_id: 'j565j4d7-2882-61b5-564a-cc9d9ec36fa7',
      owner: { type: 'user', user: { object: 'user', id: '4a3f-…' } },
      duplicated_template_id: null,
      request_id: '3c90c3cc-0d44-4b50-8888-8dd25736052a',
    };
    expect(normalizeTokenResponse(entry('notion'), body)).toEqual({
      accessToken: 'ntn_a1b2c3',
      refreshToken: 'nrt_d4e5f6',
      tokenType: 'bearer',
    });
  });

  it('throws for a Notion error object', () => {
    const thrown = providerError(() =>
      normalizeTokenResponse(entry('notion'), { object: 'error', status: 400, code: 'invalid_grant', message: 'Invalid code.' }),
    );
    expect([thrown.error, thrown.description]).toEqual(['invalid_grant', 'Invalid code.']);
  });
});

describe('salesforce', () => {
  const body = {
    access_token: '00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog',
    refresh_token: '5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJ',
    signature: 'SSSbLO/gBhmmyNUvN18ODBDFYHzakxOMgqYtu+hDPsc=',
    scope: 'refresh_token api',
    instance_url: 'https://mycompany.my.salesforce.com',
    id: 'https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS',
    token_type: 'Bearer',
    issued_at: '1278448384422',
  };

  it('returns instance_url as the API base', () => {
    expect(normalizeTokenResponse(entry('salesforce'), body)).toEqual({
      accessToken: '00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog',
      refreshToken: '5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJ',
      scope: 'refresh_token api',
      tokenType: 'Bearer',
      apiBaseUrl: 'https://mycompany.my.salesforce.com',
    });
  });

  it.each([
    { ...body, instance_url: undefined },
    { ...body, instance_url: 'http://mycompany.my.salesforce.com' },
    { ...body, instance_url: 'javascript:alert(1)' },
    { ...body, instance_url: 'not a url' },
    { ...body, instance_url: 'https://user:pw@evil.example' },
  ])('refuses a missing or unsafe instance_url: $instance_url', (bad) => {
    expect(providerError(() => normalizeTokenResponse(entry('salesforce'), bad)).error).toBe('invalid_token_response');
  });

  it('reads the RFC 6749 error Salesforce answers', () => {
    expect(
      providerError(() =>
        normalizeTokenResponse(entry('salesforce'), { error: 'invalid_grant', error_description: 'expired access/refresh token' }),
      ).error,
    ).toBe('invalid_grant');
  });
});

describe('hubspot', () => {
  it('reads the standard response', () => {
    const body = {
      token_type: 'bearer',
      refresh_token: '1e8fbfb1-8e96-4826-8b8d-c8af73715',
      access_token: 'CIrToaiiMhIHAAEAQAAAARiO1ooBIOP0sgEokuLtAToOAAoAQAAA',
      expires_in: 1800,
    };
    expect(normalizeTokenResponse(entry('hubspot'), body)).toMatchObject({
      expiresIn: 1800,
      refreshToken: '1e8fbfb1-8e96-4826-8b8d-c8af73715',
    });
  });

  it('throws for HubSpot error shape', () => {
    const thrown = providerError(() =>
      normalizeTokenResponse(entry('hubspot'), {
        status: 'BAD_REFRESH_TOKEN',
        message: 'missing or invalid refresh token',
        correlationId: 'abc',
      }),
    );
    expect([thrown.error, thrown.description]).toEqual(['BAD_REFRESH_TOKEN', 'missing or invalid refresh token']);
  });
});

it('refuses an entry that names an unknown normalizer', () => {
  expect(() => normalizeTokenResponse({ ...generic, normalizer: 'nope' }, { access_token: 'a' })).toThrow('unknown normalizer');
});
