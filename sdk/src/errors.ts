/** The RFC 6750 §3.1 error codes a resource server returns. */
export type MandateErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

/** The realm Mandate resource servers announce in their challenges. */
const REALM = 'mandate';

/**
 * Makes `value` safe inside an RFC 7230 quoted-string: characters a header cannot carry (controls,
 * non-ASCII) become `?`, then backslashes and double quotes are escaped.
 */
export function quoteHeaderValue(value: string): string {
  const printable = value.replace(/[^\x20-\x7e]/g, '?');
  return `"${printable.replace(/[\\"]/g, (char) => `\\${char}`)}"`;
}

/** Builds `Bearer name="value", …` from the attributes that are set, in order. */
function bearerChallenge(attributes: ReadonlyArray<readonly [string, string | undefined]>): string {
  const parts = attributes.filter((entry): entry is readonly [string, string] => entry[1] !== undefined);
  return `Bearer ${parts.map(([name, value]) => `${name}=${quoteHeaderValue(value)}`).join(', ')}`;
}

/**
 * Base class of every authentication or authorization failure the SDK reports. It carries
 * what the HTTP response needs: the status, the RFC 6750 error code, a short description that
 * never echoes the token, and the `WWW-Authenticate` challenge.
 */
export class MandateAuthError extends Error {
  /** 401 when the request must be retried with (another) token, 403 when the token lacks scope. */
  readonly status: 401 | 403;
  /** The RFC 6750 §3.1 error code. */
  readonly error: MandateErrorCode;
  /** A short human-readable description, safe to send to the client. */
  readonly description: string;

  /**
   * @param status - The HTTP status to answer with.
   * @param error - The RFC 6750 §3.1 error code.
   * @param description - A short description, safe to show the client.
   * @param options - `cause`: the underlying error, kept for logs and never sent to the client.
   */
  constructor(status: 401 | 403, error: MandateErrorCode, description: string, options?: { cause?: unknown }) {
    super(description, options);
    this.name = new.target.name;
    this.status = status;
    this.error = error;
    this.description = description;
  }

  /**
   * The RFC 6750 §3 `WWW-Authenticate` header value for this error.
   *
   * @param resourceMetadataUrl - The RFC 9728 protected resource metadata URL, announced as
   *   `resource_metadata` so clients (MCP clients in particular) can discover the authorization server.
   * @returns For example `Bearer realm="mandate", error="invalid_token", error_description="…", resource_metadata="…"`.
   */
  wwwAuthenticate(resourceMetadataUrl?: string): string {
    return bearerChallenge([
      ['realm', REALM],
      ['error', this.error],
      ['error_description', this.description],
      ['resource_metadata', resourceMetadataUrl],
    ]);
  }
}

/**
 * The request carried no access token (RFC 6750 §3.1): 401 whose challenge names no error,
 * only where to discover the authorization server.
 */
export class MissingTokenError extends MandateAuthError {
  /** @param description - A short description, safe to show the client. */
  constructor(description = 'an access token is required') {
    super(401, 'invalid_request', description);
  }

  /**
   * RFC 6750 §3.1: a request without credentials gets a challenge with no error attribute.
   *
   * @param resourceMetadataUrl - The RFC 9728 protected resource metadata URL.
   * @returns `Bearer resource_metadata="…"`, or `Bearer realm="mandate"` when no URL is given.
   */
  override wwwAuthenticate(resourceMetadataUrl?: string): string {
    return resourceMetadataUrl === undefined
      ? bearerChallenge([['realm', REALM]])
      : bearerChallenge([['resource_metadata', resourceMetadataUrl]]);
  }
}

/** The Authorization header is malformed (RFC 6750 §3.1 `invalid_request`). */
export class InvalidRequestError extends MandateAuthError {
  /** @param description - A short description, safe to show the client. */
  constructor(description: string) {
    super(401, 'invalid_request', description);
  }
}

/** The access token is expired, revoked, malformed or not meant for this resource (RFC 6750 §3.1). */
export class InvalidTokenError extends MandateAuthError {
  /**
   * @param description - A short description, safe to show the client; never the token itself.
   * @param options - `cause`: the underlying error, for logs only.
   */
  constructor(description: string, options?: { cause?: unknown }) {
    super(401, 'invalid_token', description, options);
  }
}

/**
 * The token is valid but lacks scopes the request needs (RFC 6750 §3.1): 403 whose challenge
 * names every scope the route requires, so the client can ask for them (MCP authorization spec).
 */
export class InsufficientScopeError extends MandateAuthError {
  /** The required scopes the token does not grant. */
  readonly missingScopes: readonly string[];
  /** Every scope the route requires. */
  readonly requiredScopes: readonly string[];

  /**
   * @param details - `missingScopes`: required scopes the token lacks; `requiredScopes`: all scopes the route needs.
   */
  constructor(details: { missingScopes: readonly string[]; requiredScopes: readonly string[] }) {
    super(403, 'insufficient_scope', `the access token lacks the required scope: ${details.missingScopes.join(' ')}`);
    this.missingScopes = [...details.missingScopes];
    this.requiredScopes = [...details.requiredScopes];
  }

  /**
   * @param resourceMetadataUrl - The RFC 9728 protected resource metadata URL.
   * @returns The challenge, including `scope="<all required scopes>"`.
   */
  override wwwAuthenticate(resourceMetadataUrl?: string): string {
    return bearerChallenge([
      ['realm', REALM],
      ['error', this.error],
      ['error_description', this.description],
      ['scope', this.requiredScopes.join(' ')],
      ['resource_metadata', resourceMetadataUrl],
    ]);
  }
}
