/** Fastify's `trustProxy` option: whom to believe about the client's address. */
export type TrustProxyOption = false | string[] | ((address: string, hop: number) => boolean);

/**
 * Turns `MANDATE_TRUST_PROXY` (config.ts) into Fastify's `trustProxy`, which `request.ip` follows
 * through `X-Forwarded-For` (docs/architecture.md §13):
 * - `false`: the socket's peer address; the header is ignored.
 * - a hop count n: the n nearest hops are proxies, so the client is the n-th entry from the
 *   right. Fastify itself reads a bare number as "trust nothing", hence the function.
 * - addresses and CIDRs: the header is believed only from a peer in the list, and the walk
 *   back stops at the first address not in it (proxy-addr).
 */
export function trustProxyOption(setting: boolean | number | string[]): TrustProxyOption {
  if (typeof setting === 'number') return (_address, hop) => hop < setting;
  if (Array.isArray(setting)) return setting;
  return false;
}
