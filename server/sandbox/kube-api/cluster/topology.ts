import 'server-only';

// The sandbox's fixed topology: three nodes, one per zone, and pods on loopback addresses from
// 127.0.0.2 up, so real BEAM nodes can listen on a pod's own address on one machine.

export const NODE_NAMES = ['sandbox-node-1', 'sandbox-node-2', 'sandbox-node-3'] as const;
const ZONES = ['sandbox-zone-a', 'sandbox-zone-b', 'sandbox-zone-c'] as const;

/** The zone of a node, as its topology.kubernetes.io/zone label would say. */
export function zoneOf(nodeName: string | undefined): string {
  const node = NODE_NAMES.indexOf(nodeName as (typeof NODE_NAMES)[number]);
  return ZONES[Math.max(0, node)]!;
}

/** The `index`th pod address: 127.0.0.2 for 0. */
export function ipFromIndex(index: number): string {
  const value = (127 << 24) + 2 + index;
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** Orders pods by address numerically, as the controllers list them (127.0.0.10 after .9). */
export function byIp(a: { ip: string }, b: { ip: string }): number {
  return ipNumber(a.ip) - ipNumber(b.ip);
}

function ipNumber(ip: string): number {
  return ip.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
}
