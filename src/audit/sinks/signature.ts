import { createHmac } from 'node:crypto';

/** The header that carries a delivery's signature. */
export const SIGNATURE_HEADER = 'x-mandate-signature';

/** Hex HMAC-SHA256 of `"<t>.<body>"` under the sink's secret (the whole `mnd_whs_…` string, UTF-8). */
export function signPayload(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
}

/** `t=<unix seconds>,v1=<hex>`: the timestamp is signed too, so a captured delivery cannot be replayed later. */
export function signatureHeader(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${signPayload(secret, timestamp, body)}`;
}
