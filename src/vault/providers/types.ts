/**
 * A third-party OAuth provider as data (docs/architecture.md §3.1): the vault never branches on a provider's
 * name; what differs between providers is here, and quirks live in an opt-in normalizer.
 */
export interface ProviderEntry {
  /** Catalog key, e.g. `github`. */
  name: string;
  displayName: string;
  authorizationUrl: string;
  tokenUrl: string;
  /**
   * Revocation endpoint that takes a form (or, with a `tokenRequestFormat: 'json'` normalizer, JSON)
   * POST of `token=…` with the client's authentication, as RFC 7009 does. Absent when the provider
   * has none or only a differently shaped one (GitHub's `DELETE /applications/{client_id}/token`,
   * HubSpot's `DELETE /oauth/v1/refresh-tokens/{token}`).
   */
  revocationUrl?: string;
  defaultScopes: string[];
  /** How scopes are joined in the authorization request (RFC 6749 says a space; some use commas). */
  scopeSeparator: ' ' | ',';
  /**
   * Authorization-request parameter that carries the scopes; `scope` when absent. Slack's v2 flow
   * takes user-token scopes in `user_scope` (its `scope` asks for a bot token).
   */
  scopeParam?: string;
  /** Whether the provider supports PKCE S256 (RFC 7636); sent whenever it does. */
  pkce: boolean;
  /** How Mandate authenticates to the token endpoint with the organization's app credentials. */
  clientAuth: 'client_secret_basic' | 'client_secret_post';
  refresh: {
    /** Refresh tokens are issued at all. */
    supported: boolean;
    /**
     * A refresh returns a new refresh token that replaces the old one. Informational: some
     * providers make rotation an app setting (Salesforce, Slack), so a refresh token in any refresh
     * response must always be stored.
     */
    rotating: boolean;
    /** Refresh token lifetime, when the provider documents one. */
    lifetimeSeconds?: number;
  };
  /** Base URL of the provider's API: proxied requests and tools may only reach paths under it. */
  apiBaseUrl: string;
  /** Extra authorization-request parameters (e.g. Google's `access_type=offline`). */
  authorizationParams?: Record<string, string>;
  /** Headers sent on every API request to this provider (e.g. `Notion-Version`), besides the bearer token. */
  apiHeaders?: Record<string, string>;
  /** Name of an opt-in normalizer in providers/normalizers.ts. */
  normalizer?: string;
  docsUrl?: string;
}

/** What a provider's token endpoint answered, after the entry's normalizer. */
export interface ProviderTokens {
  accessToken: string;
  refreshToken?: string | undefined;
  /** Seconds, from `expires_in`. */
  expiresIn?: number | undefined;
  /** Space-delimited, when the provider says what it granted. */
  scope?: string | undefined;
  tokenType?: string | undefined;
  /** Seconds until the refresh token expires, when the provider says (GitHub's `refresh_token_expires_in`). */
  refreshTokenExpiresIn?: number | undefined;
  /**
   * The API base for this account when it differs per account (Salesforce's `instance_url`): it
   * replaces the entry's `apiBaseUrl` for the connected account.
   */
  apiBaseUrl?: string | undefined;
}

/** Provider quirks, applied only for entries that name them. */
export interface Normalizer {
  /** Headers added to token requests (e.g. GitHub's `accept: application/json`). */
  tokenRequestHeaders?: Record<string, string>;
  /**
   * Body encoding of token and revocation requests: RFC 6749's `application/x-www-form-urlencoded`
   * when absent; `json` for providers that document a JSON body (Notion).
   */
  tokenRequestFormat?: 'form' | 'json';
  /** Turns a provider's token response into standard fields (e.g. Slack's nested `authed_user`). */
  tokenResponse?(body: Record<string, unknown>): ProviderTokens;
}

/** A named tool as data: its input schema and how its input becomes one API request. */
export interface ToolEntry {
  /** e.g. `github_issue_create`. */
  name: string;
  /** Catalog key of the provider it calls. */
  provider: string;
  description: string;
  /** The permission checked before it runs (the delegation decision's `tool:action`). */
  permission: { tool: string; action: 'read' | 'write' | 'export' | 'admin' | 'approve' };
  /** Data classification of what it touches. */
  classification: 'public' | 'internal' | 'confidential' | 'regulated';
  /** JSON Schema (draft 2020-12 subset ajv understands) of `tool_input`. */
  inputSchema: Record<string, unknown>;
  request: {
    method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
    /** Path under the API base; `{name}` is replaced by the URL-encoded input field. */
    path: string;
    /** Query parameters; string values `$input.x` are replaced by input fields (absent ones dropped). */
    query?: Record<string, string>;
    /** JSON body template; any string value exactly `$input.x` is replaced by that input field. */
    body?: unknown;
  };
}

/** One HTTP request to a provider's API, relative to its base URL. */
export interface ApiRequest {
  method: string;
  path: string;
  query?: Record<string, string>;
  body?: unknown;
}
