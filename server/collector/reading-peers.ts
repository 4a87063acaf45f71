import 'server-only';

// One array of peer names per links reading, shared by whoever keeps it. The link tracker and
// the flap detector each hold a node's last `nodes_info` reading by peer, in the reading's order:
// at 1,000 nodes in a whole mesh that is a million names each, and as two arrays (grown by
// `push`, with their slack) they held 20 MB of the heap; as one, exact in size, 8 MB.

import type { LinkCounter } from '../erlang/probes';

const peersOf = new WeakMap<readonly LinkCounter[], readonly string[]>();

/** The peers of a reading's counters, in their order: the same array for the same counters. */
export function readingPeers(counters: readonly LinkCounter[]): readonly string[] {
  let peers = peersOf.get(counters);
  if (!peers) {
    peers = counters.map((counter) => counter.node);
    peersOf.set(counters, peers);
  }
  return peers;
}
