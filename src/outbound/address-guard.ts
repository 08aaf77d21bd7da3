import { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * Addresses an outbound fetch on a user's behalf must never reach (SSRF): loopback, private,
 * link-local, carrier-grade NAT, multicast, reserved, and their IPv6 counterparts.
 */
const BLOCKED = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  BLOCKED.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const) {
  BLOCKED.addSubnet(net, prefix, 'ipv6');
}
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether an address is off limits; IPv4-mapped IPv6 addresses are judged by their IPv4 part. */
export function isBlockedAddress(address: string, options: { allowLoopback: boolean }): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  const ip = mapped ?? address;
  const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
  if (options.allowLoopback && LOOPBACK.check(ip, family)) return false;
  return BLOCKED.check(ip, family);
}

/**
 * A socket `lookup` that refuses hosts resolving to a private or reserved address. It runs inside
 * the socket's own DNS lookup, so the connection goes to the address that was checked and DNS
 * rebinding cannot swap it. `refuse` builds the caller's own error type.
 */
export function guardedLookup(options: { allowLoopback: boolean }, refuse: (message: string) => Error): LookupFunction {
  return (hostname, lookupOptions, callback) => {
    dnsLookup(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 4);
      const list = addresses as unknown as { address: string; family: number }[];
      if (list.length === 0 || list.some((a) => isBlockedAddress(a.address, options)))
        return callback(refuse('the host resolves to a private or reserved address'), '', 4);
      if ((lookupOptions as { all?: boolean }).all) return (callback as unknown as (e: null, a: typeof list) => void)(null, list);
      const first = list[0] as { address: string; family: number };
      return callback(null, first.address, first.family);
    });
  };
}

const LOOPBACK_HOSTNAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/** A URL hostname that names this machine: where plain http is tolerated for development (RFC 8252 §7.3). */
export function isLoopbackHostname(hostname: string): boolean {
  return LOOPBACK_HOSTNAMES.has(hostname);
}
