import 'server-only';

// Where to dial a node whose name holds an address we cannot reach as such: a network mapped onto
// another of the same size, host bits kept (10.244.3.7 in 10.244.0.0/16 → 127.0.3.7 in
// 127.0.0.0/16), as a tunnel or port-forward would. Only a configuration sets one up (the sandbox's
// loopback mode writes it into the config it hands beamscope); without one a node is dialled at
// the address its name holds.

import { isIPv4 } from 'node:net';

/** One IPv4 network mapped onto another of the same prefix length. */
export interface AddressMapping {
  /** `a.b.c.d/n`: the addresses node names hold. */
  from: string;
  /** `a.b.c.d/n`, the same n: where those nodes are dialled. */
  to: string;
}

interface Network {
  base: number;
  mask: number;
  prefix: number;
}

const toNumber = (ip: string) =>
  ip.split('.').reduce((value, part) => value * 256 + Number(part), 0) >>> 0;
const toAddress = (value: number) =>
  [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');

/** Parses `a.b.c.d/n`; the error says what was expected (config validation words it). */
export function parseCidr(cidr: string): Network {
  const match = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  const prefix = match ? Number(match[2]) : NaN;
  if (!match || !isIPv4(match[1]!) || prefix > 32) {
    throw new Error(`expected an IPv4 network such as 10.244.0.0/16, got "${cidr}"`);
  }
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { base: (toNumber(match[1]!) & mask) >>> 0, mask, prefix };
}

/** Whether `ip` is an IPv4 address inside `cidr`. */
export function inNetwork(ip: string, cidr: string): boolean {
  const network = parseCidr(cidr);
  return isIPv4(ip) && (toNumber(ip) & network.mask) >>> 0 === network.base;
}

/** Checks a mapping: two networks of the same size. Throws a one-line reason otherwise. */
export function checkMapping(mapping: AddressMapping): void {
  const from = parseCidr(mapping.from);
  const to = parseCidr(mapping.to);
  if (from.prefix !== to.prefix) {
    throw new Error(
      `expected networks of the same size, got ${mapping.from} and ${mapping.to} (/${from.prefix} and /${to.prefix})`,
    );
  }
}

/**
 * The address to dial for `host`: its image under the first mapping whose `from` holds it, or
 * `host` itself (a name, or an address no mapping covers).
 */
export function mapAddress(host: string, mappings: readonly AddressMapping[]): string {
  if (!isIPv4(host)) return host;
  for (const mapping of mappings) {
    const from = parseCidr(mapping.from);
    const value = toNumber(host);
    if ((value & from.mask) >>> 0 !== from.base) continue;
    const to = parseCidr(mapping.to);
    return toAddress((to.base | (value & ~from.mask)) >>> 0);
  }
  return host;
}

/** The `index`th address of `cidr` (0 = the network's own address). */
export function addressAt(cidr: string, index: number): string {
  const network = parseCidr(cidr);
  if (index < 0 || index >= 2 ** (32 - network.prefix)) {
    throw new Error(`${cidr} has no address number ${index}`);
  }
  return toAddress((network.base + index) >>> 0);
}

/** Orders IPv4 addresses numerically (x.x.x.10 after x.x.x.9). */
export const compareAddresses = (a: string, b: string): number => toNumber(a) - toNumber(b);
