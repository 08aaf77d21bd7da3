/**
 * OAuth error codes: RFC 6749 §5.2, RFC 8707 §2 (`invalid_target`), RFC 6750 §3.1.
 * Protocol endpoints answer `{ "error", "error_description" }` with `Cache-Control: no-store`.
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'unsupported_token_type'
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  | 'invalid_token'
  | 'access_denied'
  | 'server_error'
  // OpenID CIBA Core §13 (authentication request) and §11 (token request).
  | 'unknown_user_id'
  | 'invalid_binding_message'
  | 'authorization_pending'
  | 'slow_down'
  | 'expired_token'
  // RFC 9396 §5.
  | 'invalid_authorization_details';

/** Base of every protocol error: the RFC code, a status, and a description safe to show the client. */
export class OAuthError extends Error {
  override name = 'OAuthError';
  constructor(
    readonly error: OAuthErrorCode,
    /** Client-safe: never a secret, never internal state. */
    readonly description: string,
    readonly status = 400,
    /** For logs only. */
    readonly detail?: string,
  ) {
    super(description);
  }
}

export class InvalidRequest extends OAuthError {
  constructor(description: string) {
    super('invalid_request', description);
  }
}

/**
 * RFC 6749 §5.2: 401 when the client tried to authenticate; the token endpoint adds
 * `WWW-Authenticate` matching the scheme it used.
 */
export class InvalidClient extends OAuthError {
  constructor(
    description: string,
    readonly usedBasic = false,
    detail?: string,
  ) {
    super('invalid_client', description, 401, detail);
  }
}

export class InvalidGrant extends OAuthError {
  constructor(description: string, detail?: string) {
    super('invalid_grant', description, 400, detail);
  }
}

export class UnauthorizedClient extends OAuthError {
  constructor(description: string) {
    super('unauthorized_client', description);
  }
}

export class UnsupportedGrantType extends OAuthError {
  constructor(grantType: string) {
    super('unsupported_grant_type', `grant_type "${grantType}" is not supported`);
  }
}

export class InvalidScope extends OAuthError {
  constructor(description: string) {
    super('invalid_scope', description);
  }
}

export class InvalidTarget extends OAuthError {
  constructor(description: string) {
    super('invalid_target', description);
  }
}

/** RFC 7591 §3.2.2. */
export class InvalidClientMetadata extends OAuthError {
  constructor(description: string) {
    super('invalid_client_metadata', description);
  }
}

export class InvalidRedirectUri extends OAuthError {
  constructor(description: string) {
    super('invalid_redirect_uri', description);
  }
}

/** RFC 6750 §3.1 for the registration management endpoint's bearer token (RFC 7592 §3). */
export class InvalidToken extends OAuthError {
  constructor(description: string) {
    super('invalid_token', description, 401);
  }
}

/** CIBA Core §11: the token endpoint's answers while a backchannel request waits or ends. */
export class CibaPollError extends OAuthError {
  constructor(error: 'authorization_pending' | 'slow_down' | 'expired_token' | 'access_denied', description: string) {
    super(error, description, 400);
  }
}
