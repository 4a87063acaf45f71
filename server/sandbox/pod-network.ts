import 'server-only';

// The sandbox's pod network. The API publishes pod IPs from POD_CIDR, a private range a real
// cluster could hand out (flannel's default), because a real API server refuses loopback
// endpoint addresses (kube-api/validation.ts). Where a pod's node really listens depends on the
// mode: in loopback mode (no root needed) on the same host bits in 127.0.0.0/16, reached through
// an explicit mapping that beamscope's dialler and the demo app's epmd module apply; in netns mode
// (root) on the pod IP itself, inside the pod's own network namespace.

import { addressAt, inNetwork, mapAddress, type AddressMapping } from '../erlang/address-map';
import type { NetworkFault } from './kube-api/cluster/sandbox-control';

/** The range pod IPs come from. */
export const POD_CIDR = '10.244.0.0/16';

/** Loopback mode: pod 10.244.x.y listens on 127.0.x.y. */
export const LOOPBACK_MAPPING: AddressMapping = { from: POD_CIDR, to: '127.0.0.0/16' };

/** The `index`th pod IP: 10.244.0.2 for 0 (.0 is the network, .1 the gateway in netns mode). */
export const podIpFromIndex = (index: number): string => addressAt(POD_CIDR, 2 + index);

/** Whether `ip` is one the sandbox may give a pod. */
export const isPodIp = (ip: string): boolean => inNetwork(ip, POD_CIDR);

/** Where the node of the pod with `podIp` listens in loopback mode. */
export const loopbackAddressOf = (podIp: string): string => mapAddress(podIp, [LOOPBACK_MAPPING]);

/** How a pod's node is reached: where it listens, and the mapping its peers dial it through. */
export interface PodNetworkPlan {
  listenAddress(podIp: string): string;
  /** Applied by the demo app's epmd module and, through the config, by beamscope's dialler. */
  addressMap: readonly AddressMapping[];
  /** Whether every node's port is one machine-wide port (loopback), so another run may hold it. */
  sharesPorts: boolean;
  /** Makes the pod's network ready before its node starts (netns: its namespace). */
  addPod?(podIp: string): Promise<unknown>;
  /** Makes a kernel network fault (netns); absent: the mode has none. */
  fault?(fault: NetworkFault): Promise<void>;
  /** Undoes every kernel network fault. */
  heal?(): Promise<void>;
  /** How the pod's `erl` is run (netns: inside its namespace). */
  wrap?(podIp: string, command: string, args: string[]): { command: string; args: string[] };
}

/** No root needed: every node on its loopback image, reached through LOOPBACK_MAPPING. */
export const LOOPBACK_NETWORK: PodNetworkPlan = {
  listenAddress: loopbackAddressOf,
  addressMap: [LOOPBACK_MAPPING],
  sharesPorts: true,
};
