/**
 * The hot links of a page, at each delta: {@link hotLinks} of {@link linkTraffic} without
 * building the joined traffic of every link. At 1,000 nodes each reports up to 32 links, and a
 * probe delta replaces every node's side: joining those 32,000 views into keyed objects cost the
 * page 60–80 ms of its main thread per poll (issue 16), in the render a pod's readiness waited
 * behind. Here each view is read in place, and only a link that would enter the list is joined.
 */
import type { BeamSide, ClusterMember, PeerLink } from './cluster-state';
import {
  addLinkView,
  compareHot,
  isBusyLink,
  isHotCandidate,
  sumOfReadings,
  type LinkTraffic,
} from './links';
import { linkKey } from './mesh';
import { compareNames } from './names';

/**
 * Lists the hot links of the members it is given. A call whose members have the very same BEAM
 * sides as the last call's (a delta that changed pods only) returns the last list as it was.
 */
export class HotLinksBuilder {
  /** The sides that report links, as of the last call, and the list they gave. */
  private lastSides: BeamSide[] = [];
  private lastLimit = -1;
  private lastHot: LinkTraffic[] = [];

  /** The hot links of `members`, equal to `hotLinks(linkTraffic(members), limit)`. */
  hot(members: readonly ClusterMember[], limit = 5): LinkTraffic[] {
    const sides: BeamSide[] = [];
    for (const member of members) {
      const side = member.beam;
      if (side && side.links !== null) sides.push(side);
    }
    if (limit === this.lastLimit && sameSides(sides, this.lastSides)) return this.lastHot;
    const byNode = new Map<string, BeamSide>();
    for (const side of sides) byNode.set(side.node, side);
    const top: LinkTraffic[] = [];
    // Links joined so far: each is joined from whichever end is read first and passes.
    const joinedKeys = new Set<string>();
    if (limit > 0) {
      for (const side of sides) {
        const node = side.node;
        for (const view of side.links!) {
          // A link is as busy as its busier end and as fast as its faster one: if neither this
          // view nor the other end's could place it in the list, it is left out. Should the
          // other end's view place it, that view passes when its own side is read.
          if (
            !isBusyLink(view) &&
            !couldPlace(sumOfReadings(view.inRate, view.outRate), node, view.peer, top, limit)
          )
            continue;
          const peer = view.peer;
          const key = linkKey(node, peer);
          if (joinedKeys.has(key)) continue;
          joinedKeys.add(key);
          const joined = new Map<string, LinkTraffic>();
          addLinkView(joined, node, view);
          const other = byNode.get(peer);
          const back = other ? viewOf(other, node) : undefined;
          if (back) addLinkView(joined, peer, back);
          const link = joined.get(key)!;
          if (!isHotCandidate(link)) continue;
          if (top.length === limit && compareHot(link, top[limit - 1]!) >= 0) continue;
          let at = top.length;
          while (at > 0 && compareHot(link, top[at - 1]!) < 0) at -= 1;
          top.splice(at, 0, link);
          if (top.length > limit) top.pop();
        }
      }
    }
    this.lastSides = sides;
    this.lastLimit = limit;
    this.lastHot = top;
    return top;
  }
}

function sameSides(sides: readonly BeamSide[], last: readonly BeamSide[]): boolean {
  if (sides.length !== last.length) return false;
  for (let index = 0; index < sides.length; index += 1) {
    if (sides[index] !== last[index]) return false;
  }
  return true;
}

/**
 * Whether a link of `node` and `peer` whose faster end reads `rate` (and neither end is busy)
 * could enter `top`: some traffic while the list has room, else only when the last link listed
 * is not busy (busy links come first) and this one is faster, or as fast and first by name.
 */
function couldPlace(
  rate: number | null,
  node: string,
  peer: string,
  top: readonly LinkTraffic[],
  limit: number,
): boolean {
  if (rate === null || rate <= 0) return false;
  if (top.length < limit) return true;
  const last = top[limit - 1]!;
  if (last.busy || rate < (last.rate ?? 0)) return false;
  if (rate > (last.rate ?? 0)) return true;
  // A tie is rare but not in a quiet mesh, where every link carries the same ticks.
  const [a, b] = compareNames(node, peer) < 0 ? [node, peer] : [peer, node];
  return (compareNames(a, last.a) || compareNames(b, last.b)) < 0;
}

/** `side`'s view of its link to `peer`: a side reports a few dozen links at most. */
function viewOf(side: BeamSide, peer: string): PeerLink | undefined {
  for (const view of side.links!) if (view.peer === peer) return view;
  return undefined;
}
