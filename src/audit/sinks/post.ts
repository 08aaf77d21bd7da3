import { OutboundRequestError, outboundRequest } from '../../outbound/request.js';

/** A delivery that did not reach a 2xx; the message is short and safe to store as `last_error`. */
export class SinkDeliveryError extends Error {
  override name = 'SinkDeliveryError';
}

export interface PostOptions {
  /** Development only: allow http:// and loopback receivers. */
  allowLoopback: boolean;
  timeoutMs: number;
}

/** A receiver's answer is read up to this size; only its status matters. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * POSTs `body` and resolves with the status code when the receiver answered 2xx; anything else
 * (another status, a refused or reset connection, the deadline) rejects with a
 * {@link SinkDeliveryError}. No redirects are followed; the SSRF guard is outboundRequest's.
 */
export async function postJson(target: string, body: string, headers: Record<string, string>, options: PostOptions): Promise<number> {
  let response: Awaited<ReturnType<typeof outboundRequest>>;
  try {
    response = await outboundRequest({ method: 'POST', url: new URL(target), headers, body, maxBytes: MAX_RESPONSE_BYTES, ...options });
  } catch (error) {
    throw error instanceof OutboundRequestError ? new SinkDeliveryError(error.message) : error;
  }
  if (response.status < 200 || response.status >= 300) throw new SinkDeliveryError(`the receiver answered HTTP ${response.status}`);
  return response.status;
}
