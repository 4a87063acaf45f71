/**
 * What the collector's per-link state weighs in a whole mesh of `size` nodes (issue 16, item 2):
 * the link tracker (`server/collector/links.ts`) and the flap detector (`link-flaps.ts`) each
 * take two readings of every node's `size − 1` links, as a 2 s poll does over a round of link
 * reads; prints the JS heap and the ArrayBuffers they hold after a full collection. No nodes, no
 * network: the structures alone, at the size asked.
 *
 * Run: `node_modules/.bin/node --expose-gc --import tsx --conditions=react-server
 *   bench/link-memory.ts [size]` (default 1,000).
 */
import { FlapDetector } from '../server/collector/link-flaps';
import { LinkTracker } from '../server/collector/links';
import { atom, Port } from '../server/erlang/codec';
import type { LinkReport } from '../server/erlang/probes';

const size = Number(process.argv[2] ?? 1000);
const names = Array.from({ length: size }, (_, i) => `myapp@10.0.${i >> 8}.${i & 255}`);
const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error('run with --expose-gc');
const MB = (bytes: number) => Math.round(bytes / 1e5) / 10;

collect();
const before = process.memoryUsage();
const tracker = new LinkTracker();
const flaps = new FlapDetector();
const start = 1_700_000_000_000;
for (const round of [0, 1]) {
  for (const [index, node] of names.entries()) {
    const counters = names
      .filter((peer) => peer !== node)
      .map((peer, slot) => ({
        node: peer,
        hidden: false,
        // Quiet links (a tick every 15 s) and busy ones: the busy ones' counters need 32 bits.
        inPackets: (slot % 2 === 0 ? 4000 : 3_000_000) + slot * (round + 1),
        outPackets: (slot % 2 === 0 ? 4000 : 5_000_000) + slot * (round + 1),
      }));
    const report: LinkReport = {
      counters,
      truncated: false,
      busyLimitBytes: 1024 * 1024,
      queues: [],
      controllers: counters.map((counter, slot) => ({
        node: counter.node,
        // Port ids grow with every port the node opened: past 16 bits on a node up for days.
        controller: new Port(atom(node), BigInt(70_000 + slot), 1),
      })),
    };
    // A round of link reads at 1,000 nodes takes 40 s.
    tracker.observe(node, report, start + round * 40_000 + index);
    flaps.observe(node, report, start + round * 40_000 + index);
  }
}
// A reading let go hands its peers' ids back in a FinalizationRegistry callback, a later task.
for (let round = 0; round < 5; round += 1) {
  collect();
  await new Promise((resolve) => setTimeout(resolve, 10));
}
collect();
const after = process.memoryUsage();
console.log(
  JSON.stringify({
    size,
    links: size * (size - 1),
    heapMB: MB(after.heapUsed - before.heapUsed),
    arrayBuffersMB: MB(after.arrayBuffers - before.arrayBuffers),
  }),
);
// Held to here, so the collection above cannot take them.
if (tracker.last(names[0]!) === null || !flaps) process.exitCode = 1;
