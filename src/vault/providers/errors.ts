import { InvalidRequestError } from '../../errors.js';

/**
 * A provider entry or its configuration is unusable: an unknown catalog name, an override or
 * generic-provider URL that is not absolute https. Raised when a connection is configured, so it
 * answers `invalid_request`.
 */
export class ProviderConfigError extends InvalidRequestError {
  override name = 'ProviderConfigError';
  constructor(description: string) {
    super(description);
  }
}

/**
 * A provider's token endpoint answered something that is not a usable token response: an OAuth
 * error (RFC 6749 §5.2, or the provider's own error shape) or a body without `access_token`.
 * `error` is the provider's code (`invalid_grant`, `bad_verification_code`, …) or
 * `invalid_token_response` when the body itself is malformed; `description` is the provider's
 * text, which may be shown to an administrator but never carries a token.
 */
export class ProviderResponseError extends Error {
  override name = 'ProviderResponseError';
  constructor(
    readonly error: string,
    readonly description?: string,
  ) {
    super(description ? `${error}: ${description}` : error);
  }
}
