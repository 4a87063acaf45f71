/**
 * The mesh's timeline between two states: links that went down or came up, partitions detected
 * and healed. A partition is one event whatever its size: the links that went down between its
 * sides are counted in it (and listed in its details), not told one by one.
 */
import type { ClusterState } from './cluster-state';
import type { Mesh, MeshBuilder } from './mesh';
import { linkChanges, linkList, partitionChange, type TimelineChange } from './timeline-summary';

/**
 * For each group of `before` whose nodes now fall in several groups of `after`: those groups.
 * Only nodes present in both count (`index`): a node that comes or goes splits nothing.
 * Returns the groups that split and, per node index, which of `after`'s groups it is in when its
 * group split (else -1), so that a link can be told to cross between sides.
 */
function splitsOf(
  before: readonly string[][],
  after: readonly string[][],
  index: ReadonlyMap<string, number>,
): { sides: string[][]; sideOf: Int32Array } {
  const groupAfter = new Map<string, number>();
  after.forEach((group, position) => {
    for (const node of group) if (index.has(node)) groupAfter.set(node, position);
  });
  const sideOf = new Int32Array(index.size).fill(-1);
  const sides = new Set<number>();
  for (const group of before) {
    const reached = new Set<number>();
    for (const node of group) {
      const position = groupAfter.get(node);
      if (position !== undefined) reached.add(position);
    }
    if (reached.size < 2) continue;
    for (const position of reached) sides.add(position);
    for (const node of group) {
      const position = groupAfter.get(node);
      if (position !== undefined) sideOf[index.get(node)!] = position;
    }
  }
  // `after` is sorted largest first, and so are the sides taken from it.
  return { sides: [...sides].sort((x, y) => x - y).map((position) => after[position]!), sideOf };
}

/**
 * Every link whose state changed between the meshes, between nodes in both (a link that comes
 * or goes with one of its nodes is that node's join or departure, told elsewhere), each visited
 * once. A link can only change where a node's own list changed, so only those lists are read.
 *
 * A link neither of whose ends reported before is not a change when one of them reports it: it
 * is a first observation. At a start, each node's first list names every node that has not
 * reported yet: told as links up, they were N²/2 of them — half a million at 1,000 nodes — that
 * only said "now we know". A link up is told when one end's report said it was not there.
 */
function forEachChangedLink(
  prevMesh: Mesh,
  nextMesh: Mesh,
  index: ReadonlyMap<string, number>,
  meshes: MeshBuilder,
  visit: (a: number, b: number, up: boolean) => void,
): void {
  const listChanged = (node: string) => prevMesh.lists.get(node) !== nextMesh.lists.get(node);
  // Whether `node`'s own list names `peer` in one mesh and not the other.
  const ownListMoved = (node: string, peer: string) =>
    (prevMesh.views.get(node)?.has(peer) ?? false) !==
    (nextMesh.views.get(node)?.has(peer) ?? false);
  for (const [node, position] of index) {
    if (!listChanged(node)) continue;
    const before = prevMesh.views.get(node);
    const after = nextMesh.views.get(node);
    // `node`'s own list settles one side of the link: it named `peer` before (the link was up)
    // and not now, or the reverse; the other side is `peer`'s list.
    const consider = (peer: string, up: boolean) => {
      const other = index.get(peer);
      if (other === undefined || other === position) return;
      // Neither end reported before: a first observation (see above).
      if (up && !before && !prevMesh.views.has(peer)) return;
      // Seen from both ends when both lists moved: keep the visit from the smaller index.
      if (other < position && listChanged(peer) && ownListMoved(peer, node)) return;
      const stillBy = (up ? prevMesh : nextMesh).views.get(peer)?.has(node) ?? false;
      if (!stillBy) visit(Math.min(position, other), Math.max(position, other), up);
    };
    if (before) for (const peer of before) if (!after?.has(peer)) consider(peer, false);
    if (after && !before) {
      // A first list: only its peers that reported before can make a link up, where their lists
      // left the node out. When every one named it (a whole mesh forming) there is none.
      if (meshes.listedBy(prevMesh, node) === prevMesh.views.size) continue;
      // Else read the fewer of those peers and the list (N names per node, N² at a start).
      if (prevMesh.views.size < after.size) {
        for (const peer of prevMesh.views.keys()) if (after.has(peer)) consider(peer, true);
      } else for (const peer of after) if (prevMesh.views.has(peer)) consider(peer, true);
    } else if (after) for (const peer of after) if (!before?.has(peer)) consider(peer, true);
  }
}

/**
 * The mesh's events from `prev` to `next`: at most one `partition_detected` (every group that
 * split, with the links that went down between its sides) and one `partition_healed`, and the
 * other links that changed — one event each up to the summary threshold, else one for all.
 */
export function meshChanges(
  prev: ClusterState,
  next: ClusterState,
  meshes: MeshBuilder,
): TimelineChange[] {
  const prevMesh = meshes.ofState(prev);
  const nextMesh = meshes.ofState(next);
  const nextNodes = new Set(nextMesh.nodes);
  // The node table: nodes in both meshes, in name order (so index order is name order).
  const common = prevMesh.nodes.filter((node) => nextNodes.has(node));
  const index = new Map(common.map((node, position) => [node, position]));
  const split = splitsOf(meshes.partitionsOf(prevMesh), meshes.partitionsOf(nextMesh), index);
  const heal = splitsOf(meshes.partitionsOf(nextMesh), meshes.partitionsOf(prevMesh), index);

  const size = common.length;
  const splitLinks: number[] = [];
  const healLinks: number[] = [];
  const down: number[] = [];
  const up: number[] = [];
  forEachChangedLink(prevMesh, nextMesh, index, meshes, (a, b, isUp) => {
    const packed = a * size + b;
    const sides = isUp ? heal.sideOf : split.sideOf;
    const crosses = sides[a]! >= 0 && sides[b]! >= 0 && sides[a] !== sides[b];
    if (isUp) (crosses ? healLinks : up).push(packed);
    else (crosses ? splitLinks : down).push(packed);
  });

  const list = (packed: number[]) => linkList(common, Float64Array.from(packed));
  return [
    ...linkChanges('link_down', list(down)),
    ...linkChanges('link_up', list(up)),
    ...(split.sides.length > 0
      ? [partitionChange('partition_detected', split.sides, list(splitLinks))]
      : []),
    ...(heal.sides.length > 0
      ? [partitionChange('partition_healed', heal.sides, list(healLinks))]
      : []),
  ];
}
