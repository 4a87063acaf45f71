import 'server-only';

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

import { normalizeAddress } from './cidr';

/** Whether an IP address is a loopback address (127.0.0.0/8, ::1, or IPv4-mapped 127/8). */
export function isLoopbackAddress(address: string): boolean {
  const normalized = normalizeAddress(address);
  if (isIP(normalized) === 4) return normalized.startsWith('127.');
  return /^(0{0,4}:){7}0{0,3}1$|^::1$/i.test(normalized);
}

/**
 * Whether the server listening on `host` (the standalone server's `HOSTNAME`) is reachable only
 * from this machine. A name is resolved as `listen()` resolves it, and counts as loopback only if
 * every address it resolves to is one; the wildcard addresses (`0.0.0.0`, `::`) never are.
 */
export async function listensOnLoopbackOnly(host: string): Promise<boolean> {
  if (isIP(host)) return isLoopbackAddress(host);
  try {
    const addresses = await lookup(host, { all: true });
    return addresses.length > 0 && addresses.every((entry) => isLoopbackAddress(entry.address));
  } catch {
    return false;
  }
}
