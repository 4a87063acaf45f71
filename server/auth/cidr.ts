import 'server-only';

import { BlockList, isIP } from 'node:net';

/** The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`), else the address. */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/**
 * A set of addresses and CIDR blocks (`10.0.0.0/8`, `127.0.0.1`, `fd00::/8`), as the `proxy`
 * mode's `trustedProxies` lists them. Node's `BlockList` does the matching; this adds strict
 * parsing (an entry that is not an address or a block is an error, not a silent no-match) and
 * treats an IPv4-mapped IPv6 peer (a dual-stack socket's view of an IPv4 client) as IPv4.
 */
export class AddressSet {
  private readonly list = new BlockList();

  /** Throws an Error naming the first entry that is not an address or a CIDR block. */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [address = '', prefix, extra] = entry.trim().split('/');
      const family = isIP(address);
      const bits = family === 4 ? 32 : 128;
      if (family === 0 || extra !== undefined) {
        throw new Error(`"${entry}" is not an IP address or a CIDR block such as 10.0.0.0/8`);
      }
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (prefix === undefined) {
        this.list.addAddress(
          normalizeAddress(address),
          isIP(normalizeAddress(address)) === 4 ? 'ipv4' : type,
        );
        continue;
      }
      if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > bits) {
        throw new Error(`"${entry}" has a prefix length outside 0-${bits}`);
      }
      this.list.addSubnet(address, Number(prefix), type);
    }
  }

  /** Whether `address` (as a socket reports it) is in the set; false for anything unparsable. */
  has(address: string | undefined): boolean {
    if (!address) return false;
    const normalized = normalizeAddress(address);
    const family = isIP(normalized);
    if (family === 0) return false;
    return this.list.check(normalized, family === 4 ? 'ipv4' : 'ipv6');
  }
}
