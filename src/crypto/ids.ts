import { randomBytesFromPool } from './random-pool.js';

/** Prefixes of Mandate's identifiers (docs/architecture.md §3.10), so an id says what it names. */
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
  | 'elv'
  | 'run'
  | 'snk'
  | 'con'
  | 'apr'
  | 'sso'
  | 'imp'
  | 'scg'
  | 'sct'
  | 'rsc'
  | 'fen';

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

/** Per prefix, the last id's time and random part, for monotonic ids within one millisecond. */
const lastByPrefix = new Map<IdPrefix, { ms: number; random: Buffer }>();

/** Adds one to a big-endian number in place (the random part of a ULID). */
function increment(bytes: Buffer): void {
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = ((bytes[i] as number) + 1) & 0xff;
    if (bytes[i] !== 0) return;
  }
}

/**
 * A new identifier: prefix, 48-bit millisecond time, 80 random bits (ULID layout, lower case).
 * Time first makes ids sort by creation, which cursor pagination relies on; within one
 * millisecond the random part counts up (the ULID spec's monotonic mode), so ids made in one
 * process sort in the order they were made, e.g. a burst of audit events in chain order.
 */
export function newId(prefix: IdPrefix, now: number = Date.now()): string {
  const bytes = Buffer.alloc(16);
  bytes.writeUIntBE(now, 0, 6);
  let last = lastByPrefix.get(prefix);
  if (last?.ms === now) increment(last.random);
  else {
    last = { ms: now, random: Buffer.from(randomBytesFromPool(10)) };
    lastByPrefix.set(prefix, last);
  }
  last.random.copy(bytes, 6);
  return `${prefix}_${encodeBase32(bytes, 26)}`;
}

/** True when `value` has the shape of an id with this prefix. */
export function isId(prefix: IdPrefix, value: string): boolean {
  return new RegExp(`^${prefix}_[0-9a-hjkmnp-tv-z]{26}$`).test(value);
}
