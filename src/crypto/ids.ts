import { randomBytesFromPool } from './random-pool.js';

/** Prefixes of Mandate's identifiers (DESIGN.md §3.10), so an id says what it names. */
export type IdPrefix =
  | 'org'
  | 'mbr'
  | 'agt'
  | 'cli'
  | 'grt'
  | 'ses'
  | 'evt'
  | 'ca'
  | 'ak'
  | 'key'
  | 'req'
  | 'res'
  | 'cs'
  | 'at'
  | 'ttp'
  | 'azr'
  | 'rol'
  | 'prm'
  | 'elv';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

function encodeBase32(bytes: Uint8Array, length: number): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += CROCKFORD[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += CROCKFORD[(value << (5 - bits)) & 31];
  return out.slice(0, length);
}

/**
 * A new identifier: prefix, 48-bit millisecond time, 80 random bits (ULID layout, lower case).
 * Time first makes ids sort by creation, which cursor pagination relies on.
 */
export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  const bytes = Buffer.alloc(16);
  bytes.writeUIntBE(now, 0, 6);
  randomBytesFromPool(10).copy(bytes, 6);
  return `${prefix}_${encodeBase32(bytes, 26)}`;
}

/** True when `value` has the shape of an id with this prefix. */
export function isId(prefix: IdPrefix, value: string): boolean {
  return new RegExp(`^${prefix}_[0-9a-hjkmnp-tv-z]{26}$`).test(value);
}
