import type { ErrorCode } from '../errors.js';

/** The HTTP status each error code answers with (README, "Errors"; RFC 6749 §5.2 for OAuth). */
export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  reauthorization_required: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  server_error: 500,
  provider_unavailable: 502,
  not_ready: 503,
  temporarily_unavailable: 503,
  // RFC 6749 §5.2: 400, except 401 for a client that tried to authenticate; RFC 6750 §3.1: 401.
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  invalid_target: 400,
  unsupported_token_type: 400,
  invalid_redirect_uri: 400,
  invalid_client_metadata: 400,
  invalid_token: 401,
  access_denied: 400,
  invalid_authorization_details: 400,
  unknown_user_id: 400,
  invalid_binding_message: 400,
  authorization_pending: 400,
  slow_down: 400,
  expired_token: 400,
};

export function statusOf(code: ErrorCode): number {
  return ERROR_STATUS[code];
}
