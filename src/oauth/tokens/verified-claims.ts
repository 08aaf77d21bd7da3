import { createHash } from 'node:crypto';

/** Tokens whose verified claims are kept; the least recently used one goes first when full. */
const DEFAULT_CAPACITY = 10_000;

/**
 * Claims of access tokens whose signature, `typ` and issuer were verified, so a resource server
 * that introspects the same token again does not pay an ES256 verification each time
 * (README "Benchmarks"). Bounded (least recently used evicted), keyed by the token's SHA-256 so
 * the cache holds no bearer token, and an entry is never returned once the token's `exp` has
 * passed. It caches the signature check only: whether the token is still live (revoked, kill
 * switch, restore fence, freshness) is decided on every call by whoever reads it
 * (oauth/tokens/live-tokens.ts, docs/architecture.md §9).
 */
export class VerifiedClaimsCache<C extends { exp: number }> {
  private readonly entries = new Map<string, C>();

  constructor(private readonly capacity = DEFAULT_CAPACITY) {}

  /** The claims cached for `token`, if any and its `exp` is still after `nowSeconds`. */
  get(token: string, nowSeconds: number): C | undefined {
    const key = keyOf(token);
    const claims = this.entries.get(key);
    if (!claims) return undefined;
    this.entries.delete(key);
    if (claims.exp <= nowSeconds) return undefined;
    // Re-inserted: a Map iterates in insertion order, so the first key is the least recently used.
    this.entries.set(key, claims);
    return claims;
  }

  /** Remembers the verified claims of `token`; evicts the least recently used entry when full. */
  set(token: string, claims: C): void {
    const key = keyOf(token);
    this.entries.delete(key);
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, claims);
  }

  get size(): number {
    return this.entries.size;
  }
}

function keyOf(token: string): string {
  return createHash('sha256').update(token).digest('base64');
}
