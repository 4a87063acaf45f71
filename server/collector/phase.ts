import 'server-only';

// Nodes that come up together would keep doing their periodic heavy reads together: every node
// of a 1,000-node cluster started in the same two seconds read its links (`nodes_info`, a
// thousand entries) in the same cycle every 40 s, and the server spent seconds in a row on them,
// with every change on its way to the page waiting behind. Each node's first wait is cut by a
// fraction of the period its name sets, so that the reads of a cluster spread over the period.

/**
 * A fraction in [0, 1) fixed by the node's name: FNV-1a over its characters, mixed by
 * MurmurHash3's finaliser (names that differ in a last digit alone would otherwise bunch).
 */
export function phaseOf(node: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < node.length; index += 1)
    hash = Math.imul(hash ^ node.charCodeAt(index), 0x01000193);
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) / 2 ** 32;
}

/** How many of a `period`'s steps a node's first wait leaves out: 0 to `period - 1`. */
export function phaseSteps(node: string, period: number): number {
  return Math.min(period - 1, Math.floor(period * phaseOf(node)));
}
