/**
 * The management API's error codes: one constant map, stable strings that clients and tests
 * match on (docs/architecture.md §3.4). Every `/v1` error answers
 * `{ "error": <code>, "error_description": <text>, "request_id": <id> }`.
 */
export const API_ERRORS = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  /** A connected account whose refresh the provider refused: send the user a new authorization link. */
  reauthorization_required: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  server_error: 500,
  /** A third party (a provider of the token vault) failed or is unreachable; nothing was changed. */
  provider_unavailable: 502,
  not_ready: 503,
} as const;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** A management API error with a stable code and a client-safe description. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  /** Extra response headers, e.g. `WWW-Authenticate` on 401. */
  readonly headers: Record<string, string>;

  constructor(
    readonly code: ApiErrorCode,
    /** Shown to the client: never a secret, never internal detail. */
    readonly description: string,
    options: { headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(description, { cause: options.cause });
    this.status = API_ERRORS[code];
    this.headers = options.headers ?? {};
  }
}

export class NotFoundError extends ApiError {
  constructor(what: string) {
    super('not_found', `${what} not found`);
  }
}

export class ConflictError extends ApiError {
  constructor(description: string) {
    super('conflict', description);
  }
}

export class InvalidRequestError extends ApiError {
  constructor(description: string) {
    super('invalid_request', description);
  }
}

/** The body of every management API error. */
export interface ApiErrorBody {
  error: ApiErrorCode;
  error_description: string;
  request_id: string;
}
