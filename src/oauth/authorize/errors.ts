/**
 * Authorization endpoint errors (RFC 6749 §4.1.2.1). Until the client and its redirect URI are
 * verified, nothing may be sent to the redirect URI: those errors render a page
 * ({@link AuthorizationPageError}). After that, errors go back to the client
 * ({@link AuthorizationRedirectError}) with `state` and `iss` (RFC 9207).
 */
export class AuthorizationPageError extends Error {
  override name = 'AuthorizationPageError';
  constructor(
    readonly title: string,
    readonly description: string,
    readonly status = 400,
  ) {
    super(description);
  }
}

export type AuthorizationErrorCode =
  | 'invalid_request'
  | 'unauthorized_client'
  | 'access_denied'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'server_error'
  | 'login_required'
  | 'consent_required';

export class AuthorizationRedirectError extends Error {
  override name = 'AuthorizationRedirectError';
  constructor(
    readonly error: AuthorizationErrorCode,
    readonly description: string,
  ) {
    super(description);
  }
}
