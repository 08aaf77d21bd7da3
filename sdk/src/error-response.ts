import type { MandateAuthOptions } from './authorize-request.js';
import { MandateAuthError } from './errors.js';
import { protectedResourceMetadataUrl } from './protected-resource.js';

/** An HTTP error response for a refused request, ready for any framework to send. */
export interface MandateErrorResponse {
  /** 401 or 403. */
  status: 401 | 403;
  /** `www-authenticate` (the RFC 6750 §3 challenge) and `cache-control: no-store`. */
  headers: { 'www-authenticate': string; 'cache-control': 'no-store' };
  /** The JSON body. */
  body: { error: string; error_description: string };
}

/**
 * The `resource_metadata` URL a middleware announces.
 *
 * @param options - The middleware options.
 * @returns `options.resourceMetadataUrl`, or the RFC 9728 §3.1 URL derived from `options.resource`.
 */
export function resourceMetadataUrlOf(options: Pick<MandateAuthOptions, 'resource' | 'resourceMetadataUrl'>): string {
  return options.resourceMetadataUrl ?? protectedResourceMetadataUrl(options.resource);
}

/**
 * Turns an authorization failure into the response to send.
 *
 * @param error - What {@link authorizeRequest} threw.
 * @param resourceMetadataUrl - The RFC 9728 metadata URL to announce in the challenge.
 * @returns The response, or undefined when `error` is not a {@link MandateAuthError} (a bug or
 *   misconfiguration the caller should rethrow).
 */
export function errorResponseOf(error: unknown, resourceMetadataUrl: string): MandateErrorResponse | undefined {
  if (!(error instanceof MandateAuthError)) return undefined;
  return {
    status: error.status,
    headers: { 'www-authenticate': error.wwwAuthenticate(resourceMetadataUrl), 'cache-control': 'no-store' },
    body: { error: error.error, error_description: error.description },
  };
}
