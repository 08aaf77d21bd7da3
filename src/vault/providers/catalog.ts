import { ProviderConfigError } from './errors.js';
import { checkProviderUrl, type ProviderUrlOptions } from './provider-url.js';
import type { ProviderEntry } from './types.js';

const DAY = 24 * 60 * 60;

/**
 * The built-in providers (docs/architecture.md §3.1): data only. What differs between them is in these
 * fields, and quirks of their token endpoints are in the normalizer each entry names
 * (normalizers.ts, §3.7).
 */
export const PROVIDERS: Readonly<Record<string, ProviderEntry>> = catalog<ProviderEntry>({
  google: {
    name: 'google',
    displayName: 'Google',
    authorizationUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
    tokenUrl: 'https://oauth2.googleapis.com/token',
    revocationUrl: 'https://oauth2.googleapis.com/revoke',
    defaultScopes: ['openid', 'email', 'https://www.googleapis.com/auth/calendar.readonly'],
    scopeSeparator: ' ',
    pkce: true,
    clientAuth: 'client_secret_post',
    // Refresh tokens do not rotate and have no fixed lifetime, but expire after 6 months unused,
    // on password change for Gmail scopes, and after 7 days while the consent screen is in "Testing".
    refresh: { supported: true, rotating: false },
    apiBaseUrl: 'https://www.googleapis.com',
    // A refresh token is issued only with access_type=offline, and again only on a consent prompt.
    authorizationParams: { access_type: 'offline', prompt: 'consent', include_granted_scopes: 'true' },
    docsUrl: 'https://developers.google.com/identity/protocols/oauth2/web-server',
  },
  microsoft: {
    name: 'microsoft',
    displayName: 'Microsoft (Entra ID)',
    authorizationUrl: 'https://login.microsoftonline.com/common/oauth2/v2.0/authorize',
    tokenUrl: 'https://login.microsoftonline.com/common/oauth2/v2.0/token',
    // Microsoft identity platform has no token revocation endpoint for third-party clients.
    defaultScopes: ['openid', 'offline_access', 'User.Read'],
    scopeSeparator: ' ',
    pkce: true,
    clientAuth: 'client_secret_post',
    // Each refresh returns a new refresh token (the old one is not invalidated); 90 days, 24 h for SPAs.
    refresh: { supported: true, rotating: true, lifetimeSeconds: 90 * DAY },
    apiBaseUrl: 'https://graph.microsoft.com',
    docsUrl: 'https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow',
  },
  github: {
    name: 'github',
    displayName: 'GitHub',
    authorizationUrl: 'https://github.com/login/oauth/authorize',
    tokenUrl: 'https://github.com/login/oauth/access_token',
    // Revocation is `DELETE /applications/{client_id}/token` on the REST API, not RFC 7009.
    // GitHub Apps use fine-grained permissions set on the app, not scopes.
    defaultScopes: [],
    scopeSeparator: ' ',
    pkce: true,
    clientAuth: 'client_secret_post',
    // GitHub App user-to-server tokens: 8 h access tokens (ghu_), 6-month refresh tokens (ghr_);
    // a used refresh token and the old access token stop working.
    refresh: { supported: true, rotating: true, lifetimeSeconds: 15_897_600 },
    apiBaseUrl: 'https://api.github.com',
    apiHeaders: { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' },
    normalizer: 'github',
    docsUrl:
      'https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-user-access-token-for-a-github-app',
  },
  slack: {
    name: 'slack',
    displayName: 'Slack',
    authorizationUrl: 'https://slack.com/oauth/v2/authorize',
    tokenUrl: 'https://slack.com/api/oauth.v2.access',
    revocationUrl: 'https://slack.com/api/auth.revoke',
    defaultScopes: ['chat:write', 'channels:read'],
    scopeSeparator: ',',
    scopeParam: 'user_scope',
    // Enabling PKCE turns a Slack app into a public client (one-way), which a server-side vault
    // holding a client secret does not want.
    pkce: false,
    // Slack asks for HTTP Basic rather than client_id/client_secret parameters.
    clientAuth: 'client_secret_basic',
    // Only with token rotation enabled on the app: 12 h access tokens, a new refresh token each refresh.
    refresh: { supported: true, rotating: true },
    apiBaseUrl: 'https://slack.com/api',
    normalizer: 'slack',
    docsUrl: 'https://docs.slack.dev/authentication/installing-with-oauth',
  },
  notion: {
    name: 'notion',
    displayName: 'Notion',
    authorizationUrl: 'https://api.notion.com/v1/oauth/authorize',
    tokenUrl: 'https://api.notion.com/v1/oauth/token',
    revocationUrl: 'https://api.notion.com/v1/oauth/revoke',
    // Notion has no scopes: capabilities are set on the integration, pages are picked by the user.
    defaultScopes: [],
    scopeSeparator: ' ',
    pkce: false,
    clientAuth: 'client_secret_basic',
    // A refresh returns a new access token and a new refresh token.
    refresh: { supported: true, rotating: true },
    apiBaseUrl: 'https://api.notion.com',
    apiHeaders: { 'notion-version': '2025-09-03' },
    authorizationParams: { owner: 'user' },
    normalizer: 'notion',
    docsUrl: 'https://developers.notion.com/docs/authorization',
  },
  atlassian: {
    name: 'atlassian',
    displayName: 'Atlassian (Jira, Confluence)',
    authorizationUrl: 'https://auth.atlassian.com/authorize',
    tokenUrl: 'https://auth.atlassian.com/oauth/token',
    // No revocation endpoint: users revoke the app from their account's connected apps.
    defaultScopes: ['read:jira-work', 'write:jira-work', 'read:jira-user', 'offline_access'],
    scopeSeparator: ' ',
    pkce: false,
    clientAuth: 'client_secret_post',
    // Rotating refresh tokens (offline_access): 90 days of inactivity, 365 days absolute.
    refresh: { supported: true, rotating: true, lifetimeSeconds: 90 * DAY },
    // Calls go through the gateway: /ex/jira/{cloudid}/rest/api/3/…
    apiBaseUrl: 'https://api.atlassian.com',
    authorizationParams: { audience: 'api.atlassian.com', prompt: 'consent' },
    docsUrl: 'https://developer.atlassian.com/cloud/oauth/getting-started/implementing-oauth-3lo/',
  },
  salesforce: {
    name: 'salesforce',
    displayName: 'Salesforce',
    authorizationUrl: 'https://login.salesforce.com/services/oauth2/authorize',
    tokenUrl: 'https://login.salesforce.com/services/oauth2/token',
    revocationUrl: 'https://login.salesforce.com/services/oauth2/revoke',
    defaultScopes: ['api', 'refresh_token'],
    scopeSeparator: ' ',
    pkce: true,
    clientAuth: 'client_secret_post',
    // Rotation and lifetime are settings of the org's connected app / external client app.
    refresh: { supported: true, rotating: false },
    // Placeholder: each account's API base is the token response's instance_url (normalizer).
    apiBaseUrl: 'https://login.salesforce.com',
    normalizer: 'salesforce',
    docsUrl: 'https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm&type=5',
  },
  hubspot: {
    name: 'hubspot',
    displayName: 'HubSpot',
    authorizationUrl: 'https://app.hubspot.com/oauth/authorize',
    // v3 takes every parameter in the body; v1 is deprecated (removal 2027-02-16).
    tokenUrl: 'https://api.hubapi.com/oauth/v3/token',
    // Revocation is `DELETE /oauth/v1/refresh-tokens/{token}`, not RFC 7009.
    defaultScopes: ['oauth', 'crm.objects.contacts.read'],
    scopeSeparator: ' ',
    pkce: true,
    clientAuth: 'client_secret_post',
    // 30-minute access tokens; refresh tokens do not rotate and last until the app is uninstalled.
    refresh: { supported: true, rotating: false },
    apiBaseUrl: 'https://api.hubapi.com',
    normalizer: 'hubspot',
    docsUrl: 'https://developers.hubspot.com/docs/api-reference/auth-oauth-v3/guide',
  },
  linear: {
    name: 'linear',
    displayName: 'Linear',
    authorizationUrl: 'https://linear.app/oauth/authorize',
    tokenUrl: 'https://api.linear.app/oauth/token',
    revocationUrl: 'https://api.linear.app/oauth/revoke',
    defaultScopes: ['read', 'issues:create'],
    scopeSeparator: ',',
    pkce: true,
    clientAuth: 'client_secret_post',
    // Since 2026-04-01 every app: 24 h access tokens with rotating refresh tokens.
    refresh: { supported: true, rotating: true },
    apiBaseUrl: 'https://api.linear.app',
    docsUrl: 'https://linear.app/developers/oauth-2-0-authentication',
  },
  zoom: {
    name: 'zoom',
    displayName: 'Zoom',
    authorizationUrl: 'https://zoom.us/oauth/authorize',
    tokenUrl: 'https://zoom.us/oauth/token',
    revocationUrl: 'https://zoom.us/oauth/revoke',
    // Zoom grants the scopes configured on the app; none need to be requested.
    defaultScopes: [],
    scopeSeparator: ' ',
    pkce: true,
    clientAuth: 'client_secret_basic',
    // 1 h access tokens; each refresh returns a new refresh token and invalidates the old one.
    refresh: { supported: true, rotating: true, lifetimeSeconds: 90 * DAY },
    apiBaseUrl: 'https://api.zoom.us/v2',
    docsUrl: 'https://developers.zoom.us/docs/integrations/oauth/',
  },
});

/** A frozen, prototype-less copy, so `PROVIDERS['constructor']` is undefined, not Object. */
function catalog<T>(entries: Record<string, T>): Readonly<Record<string, T>> {
  return deepFreeze(Object.assign(Object.create(null) as Record<string, T>, entries));
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** The endpoints a connection may point elsewhere (e.g. GitHub Enterprise Server). */
export interface ProviderOverrides {
  authorizationUrl?: string;
  tokenUrl?: string;
  revocationUrl?: string;
  apiBaseUrl?: string;
}

const OVERRIDABLE = ['authorizationUrl', 'tokenUrl', 'revocationUrl', 'apiBaseUrl'] as const;

/**
 * The catalog entry `name`, with a connection's endpoint overrides applied. Override URLs must be
 * absolute https (http to a loopback host only with `allowHttp`, for development and tests); any
 * other key in `overrides` is refused, so a connection cannot change, say, `clientAuth`.
 */
export function providerFor(name: string, overrides: ProviderOverrides = {}, options: ProviderUrlOptions = {}): ProviderEntry {
  const entry = Object.hasOwn(PROVIDERS, name) ? PROVIDERS[name] : undefined;
  if (!entry) throw new ProviderConfigError(`unknown provider ${JSON.stringify(name)}`);
  const result = structuredClone(entry) as ProviderEntry;
  for (const key of Object.keys(overrides)) {
    if (!(OVERRIDABLE as readonly string[]).includes(key)) throw new ProviderConfigError(`${key} cannot be overridden`);
  }
  for (const key of OVERRIDABLE) {
    const value = overrides[key];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new ProviderConfigError(`${key} must be a string`);
    result[key] = checkProviderUrl(value, key, { ...options, apiBase: key === 'apiBaseUrl' });
  }
  return result;
}

/** An OAuth 2.0 provider an organization configures itself. */
export interface GenericProviderConfig {
  authorizationUrl: string;
  tokenUrl: string;
  revocationUrl?: string;
  apiBaseUrl: string;
  scopes?: string[];
  /** Send PKCE S256; default true (RFC 9700 §2.1.1 recommends it for every client). */
  pkce?: boolean;
  /** Default `client_secret_basic`, the method RFC 6749 §2.3.1 requires servers to support. */
  clientAuth?: ProviderEntry['clientAuth'];
}

/**
 * A catalog entry for a generic RFC 6749 provider: space-separated scopes, standard token
 * responses (no normalizer), refresh tokens stored whenever one is returned.
 */
export function genericProvider(config: GenericProviderConfig, options: ProviderUrlOptions = {}): ProviderEntry {
  const scopes = config.scopes ?? [];
  for (const scope of scopes) {
    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
    if (typeof scope !== 'string' || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope)) {
      throw new ProviderConfigError(`invalid scope ${JSON.stringify(scope)}`);
    }
  }
  if (config.clientAuth !== undefined && config.clientAuth !== 'client_secret_basic' && config.clientAuth !== 'client_secret_post') {
    throw new ProviderConfigError('clientAuth must be client_secret_basic or client_secret_post');
  }
  const entry: ProviderEntry = {
    name: 'generic',
    displayName: 'OAuth 2.0 provider',
    authorizationUrl: checkProviderUrl(config.authorizationUrl, 'authorizationUrl', options),
    tokenUrl: checkProviderUrl(config.tokenUrl, 'tokenUrl', options),
    defaultScopes: [...scopes],
    scopeSeparator: ' ',
    pkce: config.pkce ?? true,
    clientAuth: config.clientAuth ?? 'client_secret_basic',
    refresh: { supported: true, rotating: false },
    apiBaseUrl: checkProviderUrl(config.apiBaseUrl, 'apiBaseUrl', { ...options, apiBase: true }),
  };
  if (config.revocationUrl !== undefined) entry.revocationUrl = checkProviderUrl(config.revocationUrl, 'revocationUrl', options);
  return entry;
}
