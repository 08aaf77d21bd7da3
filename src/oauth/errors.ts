import { basicChallenge, bearerChallenge, type Challenge, type ErrorCode, MandateError } from '../errors.js';

/**
 * OAuth error codes: RFC 6749 §5.2, RFC 8707 §2 (`invalid_target`), RFC 6750 §3.1. Protocol
 * endpoints answer `{ "error", "error_description" }` with `Cache-Control: no-store`
 * (http/error-handler.ts).
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
  // OpenID CIBA Core §13 (authentication request) and §11 (token request).
  | 'unknown_user_id'
  | 'invalid_binding_message'
  | 'authorization_pending'
  | 'slow_down'
  | 'expired_token'
  // RFC 9396 §5.
  | 'invalid_authorization_details';

/** The codes that answer 401: the client or its token failed to authenticate. */
type UnauthenticatedCode = 'invalid_client' | 'invalid_token';

/**
 * Base of every protocol error: the RFC code, a description safe to show the client, and a
 * detail for logs only. A neutral {@link MandateError} marked `oauth`: the status follows the
 * code (http/status.ts), except two answers RFC 6749 has no code for, which travel as their own
 * code and reach the client as the RFC code given here: a rate limit (429, `rate_limited`) and a
 * policy refusal (403, `forbidden`).
 */
export class OAuthError extends MandateError {
  override name = 'OAuthError';
  /** The RFC code the client receives. */
  readonly error: OAuthErrorCode;

  constructor(error: Exclude<OAuthErrorCode, UnauthenticatedCode>, description: string, status?: 400, detail?: string);
  constructor(error: UnauthenticatedCode, description: string, status: 401, detail?: string);
  constructor(error: 'invalid_request', description: string, status: 429, detail?: string);
  constructor(error: 'access_denied', description: string, status: 403, detail?: string);
  constructor(error: OAuthErrorCode, description: string, status: 400 | 401 | 403 | 429 = 400, detail?: string) {
    super(neutralCode(error, status), description, {
      protocol: 'oauth',
      detail,
      challenge: error === 'invalid_token' ? bearerChallenge({ error: 'invalid_token' }) : undefined,
    });
    this.error = error;
  }
}

function neutralCode(error: OAuthErrorCode, status: 400 | 401 | 403 | 429): ErrorCode {
  if (status === 429) return 'rate_limited';
  if (status === 403) return 'forbidden';
  return error;
}

export class InvalidRequest extends OAuthError {
  constructor(description: string) {
    super('invalid_request', description);
  }
}

/**
 * RFC 6749 §5.2: 401 when the client tried to authenticate, with a challenge matching the scheme
 * it used: Basic for HTTP Basic, none for credentials in the body.
 */
export class InvalidClient extends OAuthError {
  override readonly challenge: Challenge | undefined;

  constructor(
    description: string,
    readonly usedBasic = false,
    detail?: string,
  ) {
    super('invalid_client', description, 401, detail);
    this.challenge = usedBasic ? basicChallenge() : undefined;
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
