/**
 * The one error model (docs/architecture.md §3.4). Domain code throws a {@link MandateError}: a
 * code from {@link ERROR_CODES}, a client-safe description and, when a credential was refused, the
 * challenge to answer with. Nothing here knows HTTP: http/error-handler.ts renders the status
 * (http/status.ts), the headers and the body at the edge.
 */

/** Every error code Mandate answers with: stable strings that clients and tests match on. */
export const ERROR_CODES = [
  // The `/v1` API (README, "Errors").
  'invalid_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'conflict',
  // A connected account whose refresh the provider refused: send the user a new authorization link.
  'reauthorization_required',
  'payload_too_large',
  'unsupported_media_type',
  'rate_limited',
  'server_error',
  // A third party (a provider of the token vault) failed or is unreachable; nothing was changed.
  'provider_unavailable',
  'not_ready',
  // The database does not answer (lost, timed out, pool exhausted): retry after Retry-After.
  // RFC 6749 §4.1.2.1 names it for the authorization endpoint; Mandate answers it on every endpoint.
  'temporarily_unavailable',
  // OAuth: RFC 6749 §5.2, RFC 8707 §2 (`invalid_target`), RFC 6750 §3.1 (`invalid_token`),
  // RFC 7591 §3.2.2, RFC 8693 §2.2.2, RFC 9396 §5.
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'unsupported_token_type',
  'invalid_redirect_uri',
  'invalid_client_metadata',
  'invalid_token',
  'access_denied',
  'invalid_authorization_details',
  // OpenID CIBA Core §13 (authentication request) and §11 (token request).
  'unknown_user_id',
  'invalid_binding_message',
  'authorization_pending',
  'slow_down',
  'expired_token',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Auth-params of a challenge, rendered in this order. */
export interface ChallengeParams {
  realm: string;
  /** RFC 6750 §3.1: set only when a credential was presented and refused. */
  error?: 'invalid_token';
  error_description?: string;
  /** RFC 9728 §5.1: where a client finds the protected resource's metadata. */
  resource_metadata?: string;
}

/** An authentication challenge (RFC 9110 §11.6.1): the edge renders it into `WWW-Authenticate`. */
export interface Challenge {
  scheme: 'Bearer' | 'Basic';
  params: ChallengeParams;
}

/** RFC 6750 §3: the challenge of Mandate's bearer-protected APIs. */
export function bearerChallenge(params: Omit<ChallengeParams, 'realm'> = {}, realm = 'mandate'): Challenge {
  return { scheme: 'Bearer', params: { realm, ...params } };
}

/** RFC 7617: the challenge for a client that authenticated with HTTP Basic (RFC 6749 §2.3.1). */
export function basicChallenge(realm = 'mandate'): Challenge {
  return { scheme: 'Basic', params: { realm } };
}

export interface MandateErrorOptions {
  challenge?: Challenge;
  /** How long a rate-limited client should wait before trying again. */
  retryAfterSeconds?: number;
  /**
   * `oauth` for an OAuth protocol error: its clients parse only the RFC 6749 §5.2 answer, so the
   * edge answers in that shape, whichever endpoint raised it.
   */
  protocol?: 'oauth';
  /** For logs only: never shown to the client. */
  detail?: string;
  cause?: unknown;
}

/** An error with a stable code and a description safe to show the client. */
export class MandateError extends Error {
  override name = 'MandateError';
  readonly challenge: Challenge | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly protocol: 'oauth' | undefined;
  readonly detail: string | undefined;

  constructor(
    readonly code: ErrorCode,
    /** Shown to the client: never a secret, never internal detail. */
    readonly description: string,
    options: MandateErrorOptions = {},
  ) {
    super(description, { cause: options.cause });
    this.challenge = options.challenge;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.protocol = options.protocol;
    this.detail = options.detail;
  }
}

export class NotFoundError extends MandateError {
  constructor(what: string) {
    super('not_found', `${what} not found`);
  }
}

export class ConflictError extends MandateError {
  constructor(description: string) {
    super('conflict', description);
  }
}

export class InvalidRequestError extends MandateError {
  constructor(description: string) {
    super('invalid_request', description);
  }
}
