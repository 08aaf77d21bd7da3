import { isLoopbackHostname } from '../../outbound/address-guard.js';
import { ProviderResponseError } from './errors.js';
import type { Normalizer, ProviderEntry, ProviderTokens } from './types.js';

type Body = Record<string, unknown>;

function isRecord(value: unknown): value is Body {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(body: Body, key: string): string | undefined {
  const value = body[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** `expires_in` as seconds; some providers send it as a numeric string. */
function optionalSeconds(body: Body, key: string): number | undefined {
  const value = body[key];
  const seconds = typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : value;
  return typeof seconds === 'number' && Number.isSafeInteger(seconds) && seconds >= 0 ? seconds : undefined;
}

/** Granted scopes as one space-delimited string: some providers send commas or an array. */
function scopeString(value: unknown, separator: ' ' | ','): string | undefined {
  const parts = Array.isArray(value)
    ? value.filter((s): s is string => typeof s === 'string')
    : typeof value === 'string'
      ? value.split(separator === ',' ? /[\s,]+/ : /\s+/)
      : [];
  const scope = parts.filter((s) => s !== '').join(' ');
  return scope === '' ? undefined : scope;
}

/** RFC 6749 §5.2 error responses, whatever the HTTP status they came with. */
function throwIfOAuthError(body: Body): void {
  if (typeof body.error === 'string' && body.error !== '') {
    throw new ProviderResponseError(body.error, optionalString(body, 'error_description'));
  }
}

/**
 * RFC 6749 §5.1 parsing of a successful token response (after §5.2 errors are ruled out):
 * `access_token` is required, the rest optional.
 */
function standardTokens(body: Body, options: { scopeSeparator?: ' ' | ',' } = {}): ProviderTokens {
  throwIfOAuthError(body);
  const accessToken = optionalString(body, 'access_token');
  if (!accessToken) throw new ProviderResponseError('invalid_token_response', 'the token response has no access_token');
  const tokens: ProviderTokens = { accessToken };
  const refreshToken = optionalString(body, 'refresh_token');
  if (refreshToken) tokens.refreshToken = refreshToken;
  const expiresIn = optionalSeconds(body, 'expires_in');
  if (expiresIn !== undefined) tokens.expiresIn = expiresIn;
  const scope = scopeString(body.scope, options.scopeSeparator ?? ' ');
  if (scope) tokens.scope = scope;
  const tokenType = optionalString(body, 'token_type');
  if (tokenType) tokens.tokenType = tokenType;
  const refreshTokenExpiresIn = optionalSeconds(body, 'refresh_token_expires_in');
  if (refreshTokenExpiresIn !== undefined) tokens.refreshTokenExpiresIn = refreshTokenExpiresIn;
  return tokens;
}

/**
 * Vendor quirks of token endpoints (docs/architecture.md §3.7), applied only for catalog entries that name
 * them in `normalizer`.
 */
export const NORMALIZERS: Readonly<Record<string, Normalizer>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, Normalizer>, {
    /**
     * GitHub answers form-encoded unless asked for JSON, and reports errors such as
     * `bad_verification_code` or `bad_refresh_token` with status 200. OAuth-app scopes are
     * comma-separated; GitHub App user tokens carry an empty scope.
     */
    github: {
      tokenRequestHeaders: { accept: 'application/json' },
      tokenResponse: (body) => standardTokens(body, { scopeSeparator: ',' }),
    },
    /**
     * Slack's oauth.v2.access wraps every answer in `ok`; with only user scopes requested (the
     * `user_scope` parameter) the user token is in `authed_user`, and the top level carries no
     * token. A refresh of a user token answers at the top level with `token_type: "user"`.
     */
    slack: {
      tokenResponse(body) {
        if (body.ok !== true) {
          throw new ProviderResponseError(optionalString(body, 'error') ?? 'invalid_token_response', 'Slack answered ok: false');
        }
        const user = isRecord(body.authed_user) ? body.authed_user : undefined;
        if (user && optionalString(user, 'access_token')) return standardTokens(user, { scopeSeparator: ',' });
        return standardTokens(body, { scopeSeparator: ',' });
      },
    },
    /**
     * Notion's token endpoint takes a JSON body (with HTTP Basic client authentication) and
     * requires `Notion-Version`; its errors are `{ object: "error", code, message }`. The
     * response's workspace and owner fields are not token fields and are left out.
     */
    notion: {
      tokenRequestHeaders: { 'notion-version': '2025-09-03' },
      tokenRequestFormat: 'json',
      tokenResponse(body) {
        if (body.object === 'error') {
          throw new ProviderResponseError(optionalString(body, 'code') ?? 'invalid_token_response', optionalString(body, 'message'));
        }
        return standardTokens(body);
      },
    },
    /**
     * Salesforce answers without `expires_in` (the session timeout is an org setting) and with
     * `instance_url`, the org's own API host, which becomes the account's API base.
     */
    salesforce: {
      tokenResponse(body) {
        const tokens = standardTokens(body);
        const instanceUrl = optionalString(body, 'instance_url');
        if (!instanceUrl) throw new ProviderResponseError('invalid_token_response', 'the token response has no instance_url');
        let url: URL;
        try {
          url = new URL(instanceUrl);
        } catch {
          throw new ProviderResponseError('invalid_token_response', 'instance_url is not an absolute URL');
        }
        const loopbackHttp = url.protocol === 'http:' && isLoopbackHostname(url.hostname);
        if ((url.protocol !== 'https:' && !loopbackHttp) || url.username || url.password) {
          throw new ProviderResponseError('invalid_token_response', 'instance_url must be an https URL');
        }
        tokens.apiBaseUrl = url.origin;
        return tokens;
      },
    },
    /**
     * HubSpot reports token errors as `{ status: "BAD_AUTH_CODE", message, correlationId }`
     * rather than RFC 6749 §5.2.
     */
    hubspot: {
      tokenResponse(body) {
        if (typeof body.status === 'string' && !('access_token' in body)) {
          throw new ProviderResponseError(body.status, optionalString(body, 'message'));
        }
        return standardTokens(body);
      },
    },
  } satisfies Record<string, Normalizer>),
);

/** The normalizer an entry names, if any; an unknown name is a catalog bug and throws. */
export function normalizerFor(entry: ProviderEntry): Normalizer | undefined {
  if (entry.normalizer === undefined) return undefined;
  const normalizer = Object.hasOwn(NORMALIZERS, entry.normalizer) ? NORMALIZERS[entry.normalizer] : undefined;
  if (!normalizer) throw new Error(`provider ${entry.name} names an unknown normalizer ${entry.normalizer}`);
  return normalizer;
}

/**
 * Turns a token endpoint's parsed body into `ProviderTokens`: the entry's normalizer when it has
 * one, RFC 6749 §5.1 otherwise. A string body is read as `application/x-www-form-urlencoded`
 * (GitHub's default answer). Throws `ProviderResponseError` for an OAuth error (§5.2, or the
 * provider's own shape) or a body without `access_token`.
 */
export function normalizeTokenResponse(entry: ProviderEntry, body: unknown): ProviderTokens {
  const record = typeof body === 'string' ? Object.fromEntries(new URLSearchParams(body)) : body;
  if (!isRecord(record)) throw new ProviderResponseError('invalid_token_response', 'the token response is not a JSON object');
  const normalizer = normalizerFor(entry);
  if (normalizer?.tokenResponse) return normalizer.tokenResponse(record);
  return standardTokens(record, { scopeSeparator: entry.scopeSeparator });
}
