import { randomFillSync } from 'node:crypto';

/**
 * Random bytes from a pool refilled 4 KiB at a time: a token endpoint needs two small random
 * values per request, and one kernel call per few hundred tokens is far cheaper than two each.
 * The bytes are the same CSPRNG output as randomBytes(); each is handed out once.
 */
const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

export function randomBytesFromPool(size: number): Buffer {
  if (size > POOL_SIZE) throw new RangeError('request too large for the random pool');
  if (offset + size > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = Buffer.from(pool.subarray(offset, offset + size));
  // Wipe what was handed out, so the pool never holds a copy of a live secret.
  pool.fill(0, offset, offset + size);
  offset += size;
  return out;
}
