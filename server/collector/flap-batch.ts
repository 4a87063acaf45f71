import 'server-only';

// Links made again between probes, told as one `link_flap` per change of the mesh. Both ends of a
// link see it, each at its own probe, and a node that reconnects to all its peers is seen by every
// one of them over a whole round of link readings (2 s in a small cluster, 40 s at 1,000 nodes):
// the flaps are held until a round has passed with no new one, merged by link, and released as
// one event — "myapp@X reconnected to 4 peers", or one summary when several nodes took part.
// A link whose going down the timeline already told (its `link_down`, its node's `node_down`, a
// partition) is not told again.

import type { TimelineEvent, TimelineEventDraft } from '@/lib/cluster-state';
import { compareNames } from '@/lib/names';
import {
  countText,
  linksOf,
  sampled,
  SAMPLE_SIZE,
  type EventDetails,
  type TimelineChange,
} from '@/lib/timeline-summary';

import { listOf } from './link-batch';
import type { LinkFlap } from './link-flaps';

/**
 * A down told this long before a flap's first reading still explains it: the mesh's link events
 * are held up to 5 s before they are told, so the one telling of this drop may be stamped after
 * the reading before it.
 */
export const DOWN_SLACK_MS = 5000;
/** Links held at most; past it a storm is counted, not listed (the event says how many). */
export const MAX_HELD_FLAPS = 50_000;
/** Links of a summary event checked against the downs told (a partition's are many). */
const MAX_DOWN_LINKS = 50_000;
/** Partitions and heals kept to compare flaps with: a few at once is already a storm. */
const MAX_SPLITS = 8;

function crosses(side: ReadonlyMap<string, number>, a: string, b: string): boolean {
  const x = side.get(a);
  const y = side.get(b);
  return x !== undefined && y !== undefined && x !== y;
}

interface HeldFlap {
  a: string;
  b: string;
  from: number;
  to: number;
}

const keyOf = (a: string, b: string) => (compareNames(a, b) <= 0 ? `${a}\n${b}` : `${b}\n${a}`);

/** Two readings' windows of the same drop overlap: the flap happened where they meet. */
function merge(held: HeldFlap, from: number, to: number): void {
  if (from <= held.to && to >= held.from) {
    held.from = Math.max(held.from, from);
    held.to = Math.min(held.to, to);
  } else {
    held.from = Math.min(held.from, from);
    held.to = Math.max(held.to, to);
  }
}

export interface FlapBatchOptions {
  now: () => number;
  /**
   * How long one round of link readings takes now: flaps are released once a round has passed
   * without a new one (or two rounds after the first, whatever comes).
   */
  roundMs: () => number;
  release: (changes: TimelineChange[]) => void;
}

/** Holds flaps, drops those already told as downs, and releases each batch as one event. */
export class FlapBatch {
  private readonly held = new Map<string, HeldFlap>();
  /** Flaps past {@link MAX_HELD_FLAPS} in this batch: counted only. */
  private overflow = 0;
  /** Downs told, by node and by link key: when (ms since the epoch). */
  private readonly downNodes = new Map<string, number>();
  private readonly downLinks = new Map<string, number>();
  /** Partitions and heals told (the last few): a link between their sides was told with them. */
  private splits: Array<{ at: number; side: Map<string, number> }> = [];
  /** Flaps told, by link key: the end of their window (the other end's reading comes later). */
  private readonly told = new Map<string, number>();
  private quiet: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;

  constructor(private readonly options: FlapBatchOptions) {}

  /** Takes the flaps one reading found. */
  hold(flaps: readonly LinkFlap[]): void {
    if (flaps.length === 0) return;
    for (const flap of flaps) {
      const key = keyOf(flap.node, flap.peer);
      const held = this.held.get(key);
      if (held) merge(held, flap.from, flap.to);
      else if (this.held.size >= MAX_HELD_FLAPS) this.overflow += 1;
      else {
        const [a, b] = key.split('\n') as [string, string];
        this.held.set(key, { a, b, from: flap.from, to: flap.to });
      }
    }
    this.arm();
  }

  /** Notes an event told on the timeline: a down it tells of is not told again as a flap. */
  published(event: TimelineEvent, details: EventDetails | undefined): void {
    const at = event.at;
    switch (event.kind) {
      case 'node_down':
      case 'member_left':
        if (event.node) this.downNodes.set(event.node, at);
        for (const member of details?.members ?? []) {
          if (member.node) this.downNodes.set(member.node, at);
        }
        break;
      case 'link_down':
      case 'link_up':
        if (event.link) this.downLinks.set(keyOf(...event.link), at);
        if (details?.links) {
          for (const [a, b] of linksOf(details.links, 0, MAX_DOWN_LINKS))
            this.downLinks.set(keyOf(a, b), at);
        }
        break;
      case 'partition_detected':
      case 'partition_healed':
        // The links between its sides went down (or came back) where the mesh shows it.
        if (details?.sides) {
          const side = new Map<string, number>();
          details.sides.forEach((nodes, index) => {
            for (const node of nodes) side.set(node, index);
          });
          this.splits.push({ at, side });
          if (this.splits.length > MAX_SPLITS) this.splits.shift();
        }
        break;
      default:
    }
  }

  /** Releases what is held now. */
  flush(): void {
    this.disarm();
    const now = this.options.now();
    const fresh: HeldFlap[] = [];
    for (const [key, flap] of this.held) {
      const since = flap.from - DOWN_SLACK_MS;
      const toldDown =
        (this.downNodes.get(flap.a) ?? -Infinity) >= since ||
        (this.downNodes.get(flap.b) ?? -Infinity) >= since ||
        (this.downLinks.get(key) ?? -Infinity) >= since ||
        this.splits.some((split) => split.at >= since && crosses(split.side, flap.a, flap.b));
      // The other end's reading of a drop already told: the same flap.
      const toldFlap = (this.told.get(key) ?? -Infinity) >= flap.from;
      if (!toldDown && !toldFlap) fresh.push(flap);
    }
    const overflow = this.overflow;
    this.held.clear();
    this.overflow = 0;
    for (const flap of fresh) this.told.set(keyOf(flap.a, flap.b), flap.to);
    this.prune(now);
    const change = flapChange(fresh, overflow);
    if (change) this.options.release([change]);
  }

  /** Forgets what is held, untold. */
  stop(): void {
    this.disarm();
    this.held.clear();
    this.overflow = 0;
  }

  private arm(): void {
    const round = this.options.roundMs();
    clearTimeout(this.quiet);
    this.quiet = setTimeout(() => this.flush(), round);
    this.quiet.unref();
    if (!this.deadline) {
      this.deadline = setTimeout(() => this.flush(), 2 * round);
      this.deadline.unref();
    }
  }

  private disarm(): void {
    clearTimeout(this.quiet);
    clearTimeout(this.deadline);
    this.quiet = this.deadline = undefined;
  }

  /** What no held or coming flap can still be compared with is dropped. */
  private prune(now: number): void {
    const horizon = now - 3 * this.options.roundMs() - DOWN_SLACK_MS;
    for (const map of [this.downNodes, this.downLinks, this.told]) {
      for (const [key, at] of map) if (at < horizon) map.delete(key);
    }
    this.splits = this.splits.filter((split) => split.at >= horizon);
  }
}

/**
 * The one event for a batch of flaps: a single link by name; links that all share a node as that
 * node reconnecting to its peers; else a summary naming the node with the most. Null for none.
 */
export function flapChange(flaps: readonly HeldFlap[], uncounted = 0): TimelineChange | null {
  if (flaps.length === 0) return null;
  const between = { from: flaps[0]!.from, to: flaps[0]!.to };
  for (const flap of flaps) {
    between.from = Math.min(between.from, flap.from);
    between.to = Math.max(between.to, flap.to);
  }
  const base = { kind: 'link_flap', severity: 'warning', between } as const;
  if (flaps.length === 1 && uncounted === 0) {
    const { a, b } = flaps[0]!;
    const event: TimelineEventDraft = {
      ...base,
      message: `link ${a} — ${b} dropped and was made again between probes`,
      link: [a, b],
    };
    return { event };
  }
  const degree = new Map<string, number>();
  for (const { a, b } of flaps) {
    degree.set(a, (degree.get(a) ?? 0) + 1);
    degree.set(b, (degree.get(b) ?? 0) + 1);
  }
  let centre = flaps[0]!.a;
  for (const [node, count] of degree) {
    const best = degree.get(centre)!;
    if (count > best || (count === best && compareNames(node, centre) < 0)) centre = node;
  }
  const count = flaps.length + uncounted;
  const pairs = flaps.map(({ a, b }): [string, string] => [a, b]);
  // The centre's links first, so the sample names what the line says.
  pairs.sort((x, y) => Number(!x.includes(centre)) - Number(!y.includes(centre)));
  const links = listOf(pairs);
  const sample = pairs.slice(0, SAMPLE_SIZE);
  const more = count > SAMPLE_SIZE ? `, … (+${countText(count - SAMPLE_SIZE)} more)` : '';
  const whole = degree.get(centre) === flaps.length && uncounted === 0;
  if (whole) {
    const peers = sample.map(([a, b]) => (a === centre ? b : a)).join(', ');
    return {
      event: {
        ...base,
        message: `${centre} reconnected to ${countText(count)} peers between probes: ${peers}${more}`,
        node: centre,
        links: { ...sampled(pairs), count },
        expandable: true,
      },
      details: { links },
    };
  }
  const named = sample.map(([a, b]) => `${a} — ${b}`).join(', ');
  return {
    event: {
      ...base,
      message: `${countText(count)} links dropped and were made again between probes, across ${countText(degree.size)} nodes (most: ${centre}, ${countText(degree.get(centre)!)}): ${named}${more}`,
      links: { ...sampled(pairs), count },
      expandable: true,
    },
    details: { links },
  };
}
