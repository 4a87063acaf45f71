/**
 * The hot links of a page, kept across deltas: {@link hotLinks} of {@link linkTraffic} without
 * joining every link of every node again for each delta. At 1,000 nodes each reports up to 32
 * links, and the join of those 32,000 views was a third of the page's main thread while it
 * followed a probed cluster (issue 16); here a delta costs the links of the members it replaced.
 */
import type { BeamSide, ClusterMember, PeerLink } from './cluster-state';
import { addLinkView, compareHot, isHotCandidate, type LinkTraffic } from './links';
import { linkKey } from './mesh';

/**
 * Follows the members' links by BEAM side identity (a delta keeps the side objects of the members
 * it did not touch): a side that is new, changed or gone has each of its links joined again from
 * both ends' current views; the others' joined links are kept.
 */
export class HotLinksBuilder {
  /** The sides that report links, by node, as of the last call. */
  private sides = new Map<string, BeamSide>();
  /** Each side's views by peer, built once per side object. */
  private readonly viewsOf = new WeakMap<BeamSide, Map<string, PeerLink>>();
  /** Every joined link, by {@link linkKey}. */
  private readonly links = new Map<string, LinkTraffic>();
  /** Each joined link's two nodes. */
  private readonly ends = new Map<string, [string, string]>();

  /** The hot links of `members`, equal to `hotLinks(linkTraffic(members), limit)`. */
  hot(members: readonly ClusterMember[], limit = 5): LinkTraffic[] {
    const current = new Map<string, BeamSide>();
    for (const member of members) {
      const side = member.beam;
      if (side && side.links !== null) current.set(side.node, side);
    }
    if (this.sides.size === 0) return this.first(current, limit);
    const touched = new Set<string>();
    const touch = (side: BeamSide | undefined) => {
      for (const view of side?.links ?? []) {
        const key = linkKey(side!.node, view.peer);
        touched.add(key);
        if (!this.ends.has(key)) this.ends.set(key, [side!.node, view.peer]);
      }
    };
    for (const [node, side] of current) {
      const before = this.sides.get(node);
      if (before !== side) {
        touch(before);
        touch(side);
      }
    }
    for (const [node, before] of this.sides) if (!current.has(node)) touch(before);
    this.sides = current;

    for (const key of touched) {
      const [x, y] = this.ends.get(key)!;
      const joined = new Map<string, LinkTraffic>();
      const fromX = this.view(x, y);
      const fromY = this.view(y, x);
      if (fromX) addLinkView(joined, x, fromX);
      if (fromY) addLinkView(joined, y, fromY);
      const link = joined.get(key);
      if (link) this.links.set(key, link);
      else {
        this.links.delete(key);
        this.ends.delete(key);
      }
    }
    return topHot(this.links.values(), limit);
  }

  /** The first call: every link joined at once, as {@link linkTraffic} joins them. */
  private first(current: Map<string, BeamSide>, limit: number): LinkTraffic[] {
    for (const [node, side] of current) {
      for (const view of side.links!) {
        addLinkView(this.links, node, view);
        const key = linkKey(node, view.peer);
        if (!this.ends.has(key)) this.ends.set(key, [node, view.peer]);
      }
    }
    this.sides = current;
    return topHot(this.links.values(), limit);
  }

  private view(node: string, peer: string): PeerLink | undefined {
    const side = this.sides.get(node);
    if (!side) return undefined;
    let views = this.viewsOf.get(side);
    if (!views) {
      views = new Map(side.links!.map((view) => [view.peer, view]));
      this.viewsOf.set(side, views);
    }
    return views.get(peer);
  }
}

/** The first `limit` of `links` in the hot order, without sorting them all. */
function topHot(links: Iterable<LinkTraffic>, limit: number): LinkTraffic[] {
  const top: LinkTraffic[] = [];
  if (limit <= 0) return top;
  for (const link of links) {
    if (!isHotCandidate(link)) continue;
    if (top.length === limit && compareHot(link, top[limit - 1]!) >= 0) continue;
    let at = top.length;
    while (at > 0 && compareHot(link, top[at - 1]!) < 0) at -= 1;
    top.splice(at, 0, link);
    if (top.length > limit) top.pop();
  }
  return top;
}
