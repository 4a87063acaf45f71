import 'server-only';

// Each node's links over time: packet rates from successive counter readings, since when each
// connection has been up (the node does not say), which port queues the next probe reads, and how
// often a node's links are read at all in a large cluster.

import type { PeerLink } from '@/lib/cluster-state';
import { isBusyLink } from '@/lib/links';
import { compareNames } from '@/lib/names';

import type { LinkReport, QueueChoice } from '../erlang/probes';
import { busiestByCount, MAX_QUEUE_READS } from '../erlang/probes';
import { PackedRows, type FieldPacking } from './link-columns';
import { NO_PEERS, PeerArray, readingPeers, type PeerNames } from './reading-peers';

/** A node's links kept on its BeamSide, busiest first: the rest are idle or nearly. */
export const LINKS_PER_NODE = 32;

/**
 * Up to this many peers a node's links are read at every probe. `nodes_info` costs the node a
 * round trip to each connection's owner, so beyond it they are read every `peers / this` probes,
 * which keeps that share of a probe's cost flat as the cluster grows.
 */
export const LINK_PEERS_PER_PROBE = 100;

/**
 * At most about this many link entries are read across the cluster per poll interval: at 1,000
 * nodes a node's links are then read every 20 probes (40 s at 2 s), at 2,000 every 80.
 */
export const LINK_ENTRIES_PER_INTERVAL = 50_000;

/**
 * Rates are taken over at least this long: a quiet link sends a tick every 15 s, so over one 2 s
 * interval it would read 0 and 0.5 packets/s in turn; over 5 s it flickers less, and the rates
 * travel to the browser at most every 5 s.
 */
export const RATE_WINDOW_MS = 5000;

// A node's links are held as columns, not objects: at 1,000 nodes in a whole mesh every node has
// 999 links, and a reading plus a PeerLink per link (with their boxed numbers and two Maps per
// node) held about 200 MB of the collector's 370 MB of live heap. As seven Float64s a link they
// weighed 56 bytes; packed (link-columns.ts: times as one-byte indices into the node's few
// reading times, counts in the narrowest unsigned array that holds them, rates as their two
// digits) 15 with 32-bit counters. `null` is stored as NaN (no field is ever NaN itself). A
// reading is written as Float64 rows into one scratch array, then packed.
const AT = 0;
const IN_PACKETS = 1;
const OUT_PACKETS = 2;
const SINCE = 3;
const IN_RATE = 4;
const OUT_RATE = 5;
const QUEUE_BYTES = 6;
const FIELDS = 7;
/** How each of a link's seven fields is packed (see `PackedRows`). */
export const LINK_PACKING: readonly FieldPacking[] = [
  'time',
  'count',
  'count',
  'time',
  'rate',
  'rate',
  'count',
];

const orNull = (value: number): number | null => (Number.isNaN(value) ? null : value);

/**
 * Every how many probes a node with `peers` peers has its links read, in a cluster of
 * `clusterSize` nodes (see {@link LinkTracker.due}): 1 up to 100 peers, 20 at 1,000 nodes.
 */
export function linkReadEvery(peers: number, clusterSize: number): number {
  return Math.max(
    1,
    Math.ceil(peers / LINK_PEERS_PER_PROBE),
    Math.ceil((peers * clusterSize) / LINK_ENTRIES_PER_INTERVAL),
  );
}

interface NodeLinks {
  /**
   * Each link's peer, in the order of the last reading (as `nodes_info` listed them): the ids
   * the flap detector holds for the same reading, when no peer is listed twice.
   */
  peers: PeerNames;
  /** {@link FIELDS} numbers per link, in the order of `peers`. */
  values: PackedRows;
  /** The links as last shown: busiest first, at most {@link LINKS_PER_NODE}. */
  shown: PeerLink[] | null;
  /** Probes since the links were last read. */
  skipped: number;
  /** Where the round-robin of queue reads stands: the peer it read last. */
  cursor: string | null;
}

/** The link in `slot` of a node's columns, as the state shows it. */
function linkAt(entry: NodeLinks, slot: number): PeerLink {
  const values = entry.values;
  return {
    peer: entry.peers.at(slot),
    inRate: orNull(values.get(slot, IN_RATE)),
    outRate: orNull(values.get(slot, OUT_RATE)),
    queueBytes: orNull(values.get(slot, QUEUE_BYTES)),
    since: values.get(slot, SINCE),
  };
}

/** The slot of `peer` in the node's columns: where it was read last time in most readings. */
function slotOf(entry: NodeLinks, peer: string, guess: number, index: () => Map<string, number>) {
  return guess < entry.peers.length && entry.peers.at(guess) === peer ? guess : index().get(peer);
}

/** Two significant digits: a rate that wobbles in its third digit is not news on the wire. */
function roundRate(rate: number): number {
  if (rate === 0) return 0;
  const magnitude = 10 ** (Math.floor(Math.log10(Math.abs(rate))) - 1);
  return Math.round(rate / magnitude) * magnitude;
}

const activity = (link: PeerLink): number => (link.inRate ?? 0) + (link.outRate ?? 0);

/** Busy links first, then by traffic, then by name: the order links are shown in. */
const showOrder = (x: PeerLink, y: PeerLink): number =>
  Number(isBusyLink(y)) - Number(isBusyLink(x)) ||
  activity(y) - activity(x) ||
  compareNames(x.peer, y.peer);

/**
 * The first {@link LINKS_PER_NODE} of a node's `count` links in {@link showOrder}, as sorting
 * them all would give: kept in order as they are met, each compared with the last one kept. At
 * 1,000 peers, sorting them all by name was most of a reading's cost.
 */
function busiestLinks(entry: NodeLinks, count: number): PeerLink[] {
  const top: PeerLink[] = [];
  for (let slot = 0; slot < count; slot += 1) {
    const link = linkAt(entry, slot);
    if (top.length === LINKS_PER_NODE && showOrder(link, top[top.length - 1]!) >= 0) continue;
    let at = top.length;
    while (at > 0 && showOrder(link, top[at - 1]!) < 0) at -= 1;
    top.splice(at, 0, link);
    if (top.length > LINKS_PER_NODE) top.pop();
  }
  return top;
}

/** Follows every node's links for one collector. */
export class LinkTracker {
  private readonly nodes = new Map<string, NodeLinks>();
  /** Where a reading is written before it is packed: reused, grown to the largest reading. */
  private scratch = new Float64Array(0);

  private of(node: string): NodeLinks {
    let entry = this.nodes.get(node);
    if (!entry) {
      entry = { peers: NO_PEERS, values: PackedRows.EMPTY, shown: null, skipped: 0, cursor: null };
      this.nodes.set(node, entry);
    }
    return entry;
  }

  /**
   * Whether the next probe of `node` reads its links, given how many peers it has (null: not
   * known yet) in a cluster of `clusterSize` nodes. Every `peers / 100` probes keeps the node's
   * share flat; every `peers × clusterSize / LINK_ENTRIES_PER_INTERVAL` keeps beamscope's own
   * (decoding every node's `nodes_info`, a thousand entries each at 1,000 nodes) flat. In a large
   * cluster a node's first probe waits for its peer count before reading links.
   */
  due(node: string, peers: number | null, clusterSize = 0): boolean {
    if (peers === null) return clusterSize <= LINK_PEERS_PER_PROBE;
    return this.of(node).skipped + 1 >= linkReadEvery(peers, clusterSize);
  }

  /** Records a probe that did not read the links. */
  skipped(node: string): void {
    this.of(node).skipped += 1;
  }

  /**
   * The next probe's choice of port queues to read: links queued last time, then the ones with
   * the most traffic (by rate, or by packets sent before there is a rate), then one more in turn
   * so that every link's queue is read now and then — a link stuck with a full buffer sends
   * nothing, so its rate alone would never pick it.
   */
  chooser(node: string): QueueChoice {
    const entry = this.of(node);
    return (counters) => {
      const present = new Set(counters.map((counter) => counter.node));
      const known: PeerLink[] = [];
      for (let slot = 0; slot < entry.peers.length; slot += 1) {
        const link = linkAt(entry, slot);
        if (present.has(link.peer)) known.push(link);
      }
      const chosen = new Set<string>();
      for (const link of known) if ((link.queueBytes ?? 0) > 0) chosen.add(link.peer);
      const byRate = known.filter((link) => activity(link) > 0);
      const busiest =
        byRate.length > 0
          ? byRate.sort((x, y) => activity(y) - activity(x)).map((link) => link.peer)
          : busiestByCount(counters);
      for (const peer of busiest.slice(0, 2)) chosen.add(peer);
      if (chosen.size < MAX_QUEUE_READS) {
        // The turn goes to the first name after the last one taken (in code-unit order, any
        // order will do), round again past the end: one pass, no sort of a thousand names.
        const cursor = entry.cursor;
        let next: string | null = null;
        let first: string | null = null;
        for (const { node: name } of counters) {
          if (chosen.has(name)) continue;
          if (first === null || name < first) first = name;
          if (cursor !== null && name > cursor && (next === null || name < next)) next = name;
        }
        const taken = next ?? first;
        if (taken !== null) {
          chosen.add(taken);
          entry.cursor = taken;
        }
      }
      return [...chosen].slice(0, MAX_QUEUE_READS);
    };
  }

  /**
   * The node's links after a reading at `at`: rates against the last reading, each connection's
   * first sighting kept while it stays up (a counter that went backwards is a new connection),
   * queues where read, the last queue reading elsewhere. Busiest first, at most
   * {@link LINKS_PER_NODE}.
   */
  observe(node: string, report: LinkReport, at: number): PeerLink[] {
    const entry = this.of(node);
    entry.skipped = 0;
    const queues = new Map(report.queues.map((queue) => [queue.node, queue.queueBytes]));
    // Built only when a peer moved in `nodes_info`'s order (or a reading lists one twice).
    let lastIndex: Map<string, number> | undefined;
    const index = () => {
      if (!lastIndex) {
        lastIndex = new Map();
        for (let slot = 0; slot < entry.peers.length; slot += 1) {
          lastIndex.set(entry.peers.at(slot), slot);
        }
      }
      return lastIndex;
    };
    const last = entry.values;
    const peers: string[] = [];
    const slots = new Map<string, number>();
    if (this.scratch.length < report.counters.length * FIELDS) {
      this.scratch = new Float64Array(report.counters.length * FIELDS);
    }
    const values = this.scratch;
    for (const counter of report.counters) {
      // A peer listed twice keeps its first place and its last reading, as a Map would.
      let slot = slots.get(counter.node);
      if (slot === undefined) {
        slot = peers.length;
        slots.set(counter.node, slot);
        peers.push(counter.node);
      }
      const into = slot * FIELDS;
      const lastSlot = slotOf(entry, counter.node, slot, index);
      const from = lastSlot ?? -1;
      const continued =
        from >= 0 &&
        counter.inPackets >= last.get(from, IN_PACKETS) &&
        counter.outPackets >= last.get(from, OUT_PACKETS);
      const since = continued ? last.get(from, SINCE) : at;
      const queueBytes =
        queues.get(counter.node) ?? (continued ? last.get(from, QUEUE_BYTES) : Number.NaN);
      values[into + SINCE] = since;
      values[into + QUEUE_BYTES] = queueBytes;
      if (continued && at - last.get(from, AT) < RATE_WINDOW_MS) {
        // Too soon for a new rate: the window goes on from the last reading.
        values[into + AT] = last.get(from, AT);
        values[into + IN_PACKETS] = last.get(from, IN_PACKETS);
        values[into + OUT_PACKETS] = last.get(from, OUT_PACKETS);
        values[into + IN_RATE] = last.get(from, IN_RATE);
        values[into + OUT_RATE] = last.get(from, OUT_RATE);
        continue;
      }
      const seconds = continued ? (at - last.get(from, AT)) / 1000 : 0;
      const rate = (now: number, before: number) =>
        continued && seconds > 0 ? roundRate((now - before) / seconds) : Number.NaN;
      values[into + AT] = at;
      values[into + IN_PACKETS] = counter.inPackets;
      values[into + OUT_PACKETS] = counter.outPackets;
      values[into + IN_RATE] = rate(counter.inPackets, continued ? last.get(from, IN_PACKETS) : 0);
      values[into + OUT_RATE] = rate(
        counter.outPackets,
        continued ? last.get(from, OUT_PACKETS) : 0,
      );
    }
    entry.peers =
      peers.length === report.counters.length
        ? readingPeers(report.counters)
        : new PeerArray(peers);
    entry.values = PackedRows.pack(values, peers.length, LINK_PACKING);
    entry.shown = busiestLinks(entry, peers.length);
    return entry.shown;
  }

  /** The links last shown for a node, for a probe that did not read them. */
  last(node: string): PeerLink[] | null {
    return this.nodes.get(node)?.shown ?? null;
  }

  forget(node: string): void {
    this.nodes.delete(node);
  }
}
