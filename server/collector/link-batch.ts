import 'server-only';

// Link changes, held back for a quiet moment and merged. The nodes of a netsplit report one poll
// at a time, so its links go down over many state changes (each node's list as it is probed): a
// summary per change would still be hundreds of events. Held here, they end up in the partition
// event once the mesh splits, or in one event when the storm passes without splitting it.

import { compareNames } from '@/lib/names';
import {
  linkChanges,
  linkList,
  linksOf,
  partitionChange,
  type LinkList,
  type TimelineChange,
} from '@/lib/timeline-summary';

type LinkKind = 'link_down' | 'link_up';

/** Held links as pairs of ids into one node table, packed in a number (ids stay below 2^21). */
const ID_SPAN = 2 ** 21;

/** Links held for one kind, under node ids that stay valid while anything is held. */
class HeldLinks {
  readonly links = new Set<number>();
  constructor(private readonly ids: NodeIds) {}

  add(a: string, b: string): void {
    const x = this.ids.of(a);
    const y = this.ids.of(b);
    this.links.add(Math.min(x, y) * ID_SPAN + Math.max(x, y));
  }

  /**
   * Takes out every link, as a link list: straight from the packed ids, without a name pair per
   * link (a 1,000-node mesh forming holds half a million links up).
   */
  takeAll(): LinkList {
    const ids = new Set<number>();
    for (const packed of this.links) {
      ids.add(Math.floor(packed / ID_SPAN));
      ids.add(packed % ID_SPAN);
    }
    const nodes = [...ids].map((id) => this.ids.name(id)).sort(compareNames);
    const position = new Map(nodes.map((node, index) => [node, index]));
    const positionOf = new Map([...ids].map((id) => [id, position.get(this.ids.name(id))!]));
    const packedList = new Float64Array(this.links.size);
    let index = 0;
    for (const packed of this.links) {
      const x = positionOf.get(Math.floor(packed / ID_SPAN))!;
      const y = positionOf.get(packed % ID_SPAN)!;
      packedList[index] = Math.min(x, y) * nodes.length + Math.max(x, y);
      index += 1;
    }
    this.links.clear();
    return linkList(nodes, packedList);
  }

  /** Takes out the links `take` says yes to, as name pairs. */
  *take(take: (a: string, b: string) => boolean): Generator<[string, string]> {
    for (const packed of this.links) {
      const a = this.ids.name(Math.floor(packed / ID_SPAN));
      const b = this.ids.name(packed % ID_SPAN);
      if (take(a, b)) {
        this.links.delete(packed);
        yield [a, b];
      }
    }
  }
}

class NodeIds {
  private readonly byName = new Map<string, number>();
  private readonly names: string[] = [];
  of(node: string): number {
    let id = this.byName.get(node);
    if (id === undefined) {
      id = this.names.length;
      this.byName.set(node, id);
      this.names.push(node);
    }
    return id;
  }
  name(id: number): string {
    return this.names[id]!;
  }
  clear(): void {
    this.byName.clear();
    this.names.length = 0;
  }
}

/** Name pairs as a sorted link list over their own node table (also the flap batch's). */
export function listOf(pairs: Iterable<[string, string]>): LinkList {
  const links = [...pairs];
  const nodes = [...new Set(links.flat())].sort(compareNames);
  const index = new Map(nodes.map((node, position) => [node, position]));
  const packed = new Float64Array(links.length);
  links.forEach(([a, b], position) => {
    const x = index.get(a)!;
    const y = index.get(b)!;
    packed[position] = Math.min(x, y) * nodes.length + Math.max(x, y);
  });
  return linkList(nodes, packed);
}

/**
 * Holds `link_down` and `link_up` changes until the mesh has been quiet for `quietMs` (or
 * `maxMs` after the first), then releases each kind as one event (or one per link, up to the
 * summary threshold). A `partition_detected` is released at once with the held links that
 * crossed between its sides; a `partition_healed` is held like a link change, and the links that
 * come up between its former sides while it is held join it: the nodes report the heal one poll
 * at a time too.
 */
export class LinkChangeBatch {
  private readonly ids = new NodeIds();
  private readonly held: Record<LinkKind, HeldLinks> = {
    link_down: new HeldLinks(this.ids),
    link_up: new HeldLinks(this.ids),
  };
  private heal:
    { sides: string[][]; side: Map<string, number>; links: Array<[string, string]> } | undefined;
  private quiet: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;

  constructor(
    private readonly quietMs: number,
    private readonly maxMs: number,
    private readonly release: (changes: TimelineChange[]) => void,
  ) {}

  /**
   * Takes one state change's events: link and heal events are held, a partition event leaves
   * with the held links it accounts for; the rest is returned to publish now.
   */
  take(changes: readonly TimelineChange[]): TimelineChange[] {
    const now: TimelineChange[] = [];
    let held = false;
    for (const change of changes) {
      const { kind } = change.event;
      if (kind === 'link_down' || kind === 'link_up') {
        this.hold(kind, change);
        held = true;
      } else if (kind === 'partition_detected' && change.details?.sides) {
        // A heal still held happened first: told before the split that undoes it.
        const heal = this.takeHeal();
        if (heal) now.push(heal);
        now.push(this.withHeld(change.details.sides, change, 'link_down'));
      } else if (kind === 'partition_healed' && change.details?.sides) {
        this.holdHeal(change.details.sides, change);
        held = true;
      } else now.push(change);
    }
    if (held) this.arm();
    return now;
  }

  /** Releases what is held now. */
  flush(): void {
    clearTimeout(this.quiet);
    clearTimeout(this.deadline);
    this.quiet = this.deadline = undefined;
    const changes: TimelineChange[] = [];
    for (const kind of ['link_down', 'link_up'] as const) {
      const links = this.held[kind].takeAll();
      changes.push(...linkChanges(kind, links));
    }
    const heal = this.takeHeal();
    if (heal) changes.push(heal);
    this.ids.clear();
    if (changes.length > 0) this.release(changes);
  }

  /** Forgets what is held, untold. */
  stop(): void {
    clearTimeout(this.quiet);
    clearTimeout(this.deadline);
    this.quiet = this.deadline = undefined;
    for (const held of Object.values(this.held)) held.links.clear();
    this.heal = undefined;
    this.ids.clear();
  }

  private hold(kind: LinkKind, change: TimelineChange): void {
    const one = (a: string, b: string) => {
      // A link up between the sides of a heal being held is that heal's.
      if (kind === 'link_up' && this.heal && crossesIn(this.heal.side, a, b)) {
        this.heal.links.push([a, b]);
      } else this.held[kind].add(a, b);
    };
    // Read from the packed list as it is: no name pair per link (half a million at a start).
    const list = change.details?.links;
    if (list) {
      const size = list.nodes.length;
      for (const value of list.packed) {
        const a = Math.floor(value / size);
        one(list.nodes[a]!, list.nodes[value - a * size]!);
      }
    }
    if (change.event.link) one(...change.event.link);
  }

  private holdHeal(sides: string[][], change: TimelineChange): void {
    const own = change.details?.links ? linksOf(change.details.links) : [];
    // Two heals in one quiet spell (rare): the earlier one is told first.
    const earlier = this.takeHeal();
    if (earlier) this.release([earlier]);
    const side = sideIndex(sides);
    const crossing = (a: string, b: string) => crossesIn(side, a, b);
    this.heal = { sides, side, links: [...own, ...this.held.link_up.take(crossing)] };
  }

  /** The held heal as its event, with the links gathered since; no longer held. */
  private takeHeal(): TimelineChange | undefined {
    const heal = this.heal;
    this.heal = undefined;
    return heal && partitionChange('partition_healed', heal.sides, listOf(heal.links));
  }

  /** A partition event counting the held links that went down between its sides too. */
  private withHeld(sides: string[][], change: TimelineChange, kind: LinkKind): TimelineChange {
    const side = sideIndex(sides);
    const absorbed = [...this.held[kind].take((a, b) => crossesIn(side, a, b))];
    if (absorbed.length === 0) return change;
    const own = change.details?.links ? linksOf(change.details.links) : [];
    return partitionChange('partition_detected', sides, listOf([...own, ...absorbed]));
  }

  private arm(): void {
    clearTimeout(this.quiet);
    this.quiet = setTimeout(() => this.flush(), this.quietMs);
    this.quiet.unref();
    if (!this.deadline) {
      this.deadline = setTimeout(() => this.flush(), this.maxMs);
      this.deadline.unref();
    }
  }
}

function sideIndex(sides: readonly string[][]): Map<string, number> {
  const side = new Map<string, number>();
  sides.forEach((nodes, position) => {
    for (const node of nodes) side.set(node, position);
  });
  return side;
}

function crossesIn(side: ReadonlyMap<string, number>, a: string, b: string): boolean {
  const x = side.get(a);
  const y = side.get(b);
  return x !== undefined && y !== undefined && x !== y;
}
