/**
 * The mesh's links as traffic: each link's packet rate and queue as both of its nodes report them,
 * which are busy, the busiest ("hot links"), and `net_ticktime` agreement. Pure; the graph, the
 * hot links list, the node drawer and the doctor read it, and an adjacency view can too.
 */
import type { BeamSide, ClusterMember, PeerLink, TickSkew } from './cluster-state';
import { linkKey } from './mesh';
import { compareNames } from './names';

/**
 * Bytes in a distribution port's queue from which the link counts as busy: OTP's default high
 * watermark for the distribution socket (`inet` `high_watermark`, 8 kB). Past it the port is
 * busy and messages pile up in the node's distribution buffer (`dist_buf_busy_limit`); a queue
 * forms at all only once the kernel's socket send buffer is full.
 */
export const BUSY_QUEUE_BYTES = 8192;

/** Whether one side's view of a link says it is busy. */
export function isBusyLink(link: Pick<PeerLink, 'queueBytes'>): boolean {
  return link.queueBytes !== null && link.queueBytes >= BUSY_QUEUE_BYTES;
}

/** A link's traffic, joined from both ends. */
export interface LinkTraffic {
  /** {@link linkKey} of the two nodes. */
  key: string;
  /** The two nodes, `a` before `b`. */
  a: string;
  b: string;
  /** Packets per second both ways, the larger of the two ends' readings; null before any rate. */
  rate: number | null;
  /** Packets per second from `a` to `b` and back, as the sender counts them. */
  aToB: number | null;
  bToA: number | null;
  /** The larger queue either end reported, bytes; null when neither was read. */
  queueBytes: number | null;
  /** Either end's queue is past {@link BUSY_QUEUE_BYTES}. */
  busy: boolean;
  /** The ends whose queue is busy: the senders that cannot get their data out. */
  busyAt: string[];
  /** Since when the link has been up without a break, as beamscope saw it; null if unknown. */
  since: number | null;
}

/** Two readings added up; null when neither was read. */
export const sumOfReadings = (x: number | null, y: number | null): number | null =>
  x === null && y === null ? null : (x ?? 0) + (y ?? 0);
/** The larger of two readings; null when neither was read. */
const largerReading = (x: number | null, y: number | null): number | null =>
  x === null ? y : y === null ? x : Math.max(x, y);

/** The BEAM sides of `members` that report links, by node. */
function sidesWithLinks(members: readonly ClusterMember[]): BeamSide[] {
  return members
    .map((member) => member.beam)
    .filter((side): side is BeamSide => side !== null && side.links !== null);
}

/**
 * Every link some node reports traffic for, joined across its two ends, keyed by
 * {@link linkKey}. Each end's readings count: a link one end reports (the other not connected to
 * beamscope, or its list cut short) still has the one view. `only` keeps the views it accepts
 * (the graph past 40 members wants the busy links alone, not a thousand nodes' worth).
 */
export function linkTraffic(
  members: readonly ClusterMember[],
  only?: (view: PeerLink) => boolean,
): Map<string, LinkTraffic> {
  const links = new Map<string, LinkTraffic>();
  for (const side of sidesWithLinks(members)) {
    for (const view of side.links!) {
      if (only && !only(view)) continue;
      addLinkView(links, side.node, view);
    }
  }
  return links;
}

/**
 * Joins one end's view of a link into `links` (by {@link linkKey}): what {@link linkTraffic} does
 * for every view. The result does not depend on the order the two ends are joined in.
 */
export function addLinkView(links: Map<string, LinkTraffic>, node: string, view: PeerLink): void {
  const key = linkKey(node, view.peer);
  const [a, b] = compareNames(node, view.peer) < 0 ? [node, view.peer] : [view.peer, node];
  const entry = links.get(key) ?? {
    key,
    a,
    b,
    rate: null,
    aToB: null,
    bToA: null,
    queueBytes: null,
    busy: false,
    busyAt: [],
    since: null,
  };
  const fromA = node === a;
  // The sender's count of what it sent is the direction's figure; the receiver's stands in.
  if (fromA) {
    entry.aToB = view.outRate ?? entry.aToB;
    entry.bToA = entry.bToA ?? view.inRate;
  } else {
    entry.bToA = view.outRate ?? entry.bToA;
    entry.aToB = entry.aToB ?? view.inRate;
  }
  entry.rate = largerReading(entry.rate, sumOfReadings(view.inRate, view.outRate));
  entry.queueBytes = largerReading(entry.queueBytes, view.queueBytes);
  if (isBusyLink(view)) {
    entry.busy = true;
    entry.busyAt = [...entry.busyAt, node].sort(compareNames);
  }
  // Both ends saw it up since their own first reading: the later one bounds it for both.
  entry.since = entry.since === null ? view.since : Math.max(entry.since, view.since);
  links.set(key, entry);
}

/**
 * The busiest links, busy ones first, then by packet rate (links without a rate left out), at
 * most `limit`; ties by the nodes' names so the list does not shuffle.
 */
export function hotLinks(traffic: ReadonlyMap<string, LinkTraffic>, limit = 5): LinkTraffic[] {
  return [...traffic.values()].filter(isHotCandidate).sort(compareHot).slice(0, limit);
}

/** Whether a link may be listed among the hot ones: busy, or some traffic measured. */
export function isHotCandidate(link: LinkTraffic): boolean {
  return link.busy || (link.rate !== null && link.rate > 0);
}

/** The hot links' order: busy first, then by rate, then by the nodes' names. */
export function compareHot(x: LinkTraffic, y: LinkTraffic): number {
  return (
    Number(y.busy) - Number(x.busy) ||
    (y.rate ?? 0) - (x.rate ?? 0) ||
    compareNames(x.a, y.a) ||
    compareNames(x.b, y.b)
  );
}

/** How a link's rate compares with the busiest one's: 0 (idle) to 1, on a log scale. */
export function trafficLevel(rate: number | null, maxRate: number): number {
  if (rate === null || rate <= 0 || maxRate <= 0) return 0;
  // Ticks alone are a fraction of a packet per second; a flood is tens of thousands: a log
  // scale keeps both visible.
  return Math.min(1, Math.log10(1 + rate) / Math.log10(1 + Math.max(maxRate, 10)));
}

/** `12/s`, `3.4k/s`, `0.07/s`: a packet rate for a label. */
export function formatRate(rate: number | null): string {
  if (rate === null) return '–';
  if (rate >= 1000) return `${(rate / 1000).toFixed(rate >= 10_000 ? 0 : 1)}k/s`;
  if (rate >= 10) return `${Math.round(rate)}/s`;
  return `${rate.toFixed(rate >= 1 ? 1 : 2)}/s`;
}

/** Nodes grouped by `net_ticktime`; null unless at least two values are in use. */
export function tickSkewOf(sides: readonly BeamSide[]): TickSkew | null {
  const bySeconds = new Map<number, string[]>();
  for (const side of sides) {
    if (side.netTicktimeSeconds === null || side.connection.status !== 'connected') continue;
    const nodes = bySeconds.get(side.netTicktimeSeconds);
    if (nodes) nodes.push(side.node);
    else bySeconds.set(side.netTicktimeSeconds, [side.node]);
  }
  if (bySeconds.size < 2) return null;
  return {
    values: [...bySeconds.entries()]
      .map(([seconds, nodes]) => ({ seconds, nodes: nodes.sort(compareNames) }))
      // The most common value first: the others are the odd ones out.
      .sort((x, y) => y.nodes.length - x.nodes.length || x.seconds - y.seconds),
  };
}

/**
 * The `net_ticktime` most nodes run with, and whether `side`'s differs from it; null when the
 * nodes agree (or `side`'s is unknown).
 */
export function tickMismatchOf(
  side: Pick<BeamSide, 'node' | 'netTicktimeSeconds'>,
  skew: TickSkew | null,
): { seconds: number; usual: number } | null {
  if (!skew || side.netTicktimeSeconds === null) return null;
  const usual = skew.values[0]!.seconds;
  return side.netTicktimeSeconds === usual ? null : { seconds: side.netTicktimeSeconds, usual };
}
