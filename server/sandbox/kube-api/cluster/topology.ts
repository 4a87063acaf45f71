import 'server-only';

// The sandbox's fixed topology: three nodes, one per zone, and pod IPs from the sandbox's pod
// network (10.244.0.2 up; see ../../pod-network.ts for where their nodes really listen).

import { compareAddresses } from '../../../erlang/address-map';
import { podIpFromIndex } from '../../pod-network';

export const NODE_NAMES = ['sandbox-node-1', 'sandbox-node-2', 'sandbox-node-3'] as const;
const ZONES = ['sandbox-zone-a', 'sandbox-zone-b', 'sandbox-zone-c'] as const;

/** The zone of a node, as its topology.kubernetes.io/zone label would say. */
export function zoneOf(nodeName: string | undefined): string {
  const node = NODE_NAMES.indexOf(nodeName as (typeof NODE_NAMES)[number]);
  return ZONES[Math.max(0, node)]!;
}

/** The `index`th pod address: 10.244.0.2 for 0. */
export const ipFromIndex = podIpFromIndex;

/** Orders pods by address numerically, as the controllers list them (10.244.0.10 after .9). */
export function byIp(a: { ip: string }, b: { ip: string }): number {
  return compareAddresses(a.ip, b.ip);
}
