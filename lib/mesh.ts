/**
 * The distribution mesh as the nodes report it, and its partitions. Pure: the same reports give
 * the same mesh. What is remembered between calls — so that an unchanged poll costs nothing and a
 * changed one costs only its changed lists — lives in a {@link MeshBuilder} that the caller holds
 * (one per cluster: the collector, the page), never in module state.
 */
import type { AsymmetricLink, ClusterMember, ClusterState } from './cluster-state';
import { compareNames } from './names';

/** One node's report of whom it is connected to; `sees: null` when unknown. */
export interface MeshView {
  node: string;
  sees: readonly string[] | null;
}

/** The distribution mesh as the nodes report it. */
export interface Mesh {
  /** Every node that reported its links or was listed by one that did, sorted. */
  nodes: string[];
  /** Each reporting node's list (itself left out), as given: the identity tells what changed. */
  lists: ReadonlyMap<string, readonly string[]>;
  /** The same lists as sets, for lookups. */
  views: ReadonlyMap<string, ReadonlySet<string>>;
  /** Links only one side reports, where both sides reported. */
  asymmetric: AsymmetricLink[];
}

/** The key of an undirected link. */
export function linkKey(a: string, b: string): string {
  return a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`;
}

/** Whether the mesh has a link between `a` and `b`: either side lists the other. */
export function hasLink(mesh: Pick<Mesh, 'views'>, a: string, b: string): boolean {
  return a !== b && (mesh.views.get(a)?.has(b) === true || mesh.views.get(b)?.has(a) === true);
}

/**
 * Every link as `[a, b]` with `a` before `b`, sorted. Materializing the links of a full mesh
 * is quadratic: the derivations work on the views instead; this is for small meshes.
 */
export function meshLinks(mesh: Pick<Mesh, 'views'>): Array<[string, string]> {
  const links = new Map<string, [string, string]>();
  for (const [node, sees] of mesh.views) {
    for (const peer of sees) {
      links.set(linkKey(node, peer), compareNames(node, peer) < 0 ? [node, peer] : [peer, node]);
    }
  }
  return [...links.values()].sort((x, y) => compareNames(x[0], y[0]) || compareNames(x[1], y[1]));
}

/** The views of a state's connected members, as {@link MeshBuilder.build} takes them. */
function viewsOfState(state: Pick<ClusterState, 'members'>): MeshView[] {
  return state.members
    .filter((member) => member.beam?.connection.status === 'connected')
    .map((member) => ({ node: member.beam!.node, sees: member.beam!.sees }));
}

/**
 * Builds meshes and partitions, remembering enough to make the next build cheap. Between two
 * polls the nodes' lists rarely change, and the collector keeps an unchanged list's identity: a
 * mesh of the very same lists is reused, and one that differs in a few lists is updated from the
 * last instead of re-reading N² names. Hold one per cluster; a builder shared by two clusters
 * would keep evicting one's meshes with the other's.
 */
export class MeshBuilder {
  private readonly recent: Mesh[] = [];
  /**
   * How many times each node is named in a mesh: once if it reports, once per list naming it. A
   * node is in `nodes` while its count is positive; kept so that a changed list updates `nodes`
   * without re-reading every other list.
   */
  private readonly nodeCounts = new WeakMap<Mesh, ReadonlyMap<string, number>>();
  // A node's list keeps its identity while its peers do not change, so its set is built once.
  private readonly viewSets = new WeakMap<readonly string[], Set<string>>();
  private readonly partitions = new WeakMap<Pick<Mesh, 'nodes' | 'views'>, string[][]>();
  // States are immutable once built: the mesh of one is computed once, however often it is read.
  private readonly byMembers = new WeakMap<readonly ClusterMember[], Mesh>();

  /** How many recent meshes are kept for reuse. */
  constructor(private readonly keep = 2) {}

  /**
   * The mesh of the nodes' own lists. A link is present if either side reports it (a connection
   * is being set up or torn down, or one report is a poll older than the other); it is asymmetric
   * when both sides reported and only one lists the other.
   */
  build(views: readonly MeshView[]): Mesh {
    const reused = this.recent.find((mesh) => sameLists(mesh, views));
    if (reused) return reused;
    const mesh = this.recent[0] ? this.update(this.recent[0], views) : this.compute(views);
    this.recent.unshift(mesh);
    this.recent.length = Math.min(this.recent.length, this.keep);
    return mesh;
  }

  /** The mesh of a state (from its connected members' reports), computed once per state. */
  ofState(state: Pick<ClusterState, 'members'>): Mesh {
    const cached = this.byMembers.get(state.members);
    if (cached) return cached;
    const mesh = this.build(viewsOfState(state));
    this.byMembers.set(state.members, mesh);
    return mesh;
  }

  /** Records that `members` have `mesh`, for a state built from it. */
  remember(members: readonly ClusterMember[], mesh: Mesh): void {
    this.byMembers.set(members, mesh);
  }

  /** {@link partitionsOf}, computed once per mesh. */
  partitionsOf(mesh: Pick<Mesh, 'nodes' | 'views'>): string[][] {
    let partitions = this.partitions.get(mesh);
    if (!partitions) {
      partitions = partitionsOf(mesh);
      this.partitions.set(mesh, partitions);
    }
    return partitions;
  }

  /** Each reporting node's list, and the same as a set without the node itself. */
  private listsAndSets(views: readonly MeshView[]) {
    const lists = new Map<string, readonly string[]>();
    const sets = new Map<string, ReadonlySet<string>>();
    for (const view of views) {
      if (!view.sees) continue;
      lists.set(view.node, view.sees);
      let set = this.viewSets.get(view.sees);
      if (!set) {
        set = new Set(view.sees);
        set.delete(view.node);
        this.viewSets.set(view.sees, set);
      }
      sets.set(view.node, set);
    }
    return { lists, sets };
  }

  private compute(views: readonly MeshView[]): Mesh {
    const { lists, sets } = this.listsAndSets(views);
    const counts = new Map<string, number>();
    const count = (node: string) => counts.set(node, (counts.get(node) ?? 0) + 1);
    const asymmetric: AsymmetricLink[] = [];
    for (const [node, sees] of sets) {
      count(node);
      for (const peer of sees) {
        count(peer);
        const back = sets.get(peer);
        if (back && !back.has(node)) asymmetric.push({ from: node, to: peer });
      }
    }
    const mesh: Mesh = {
      nodes: [...counts.keys()].sort(compareNames),
      lists,
      views: sets,
      asymmetric: asymmetric.sort(byLink),
    };
    this.nodeCounts.set(mesh, counts);
    return mesh;
  }

  /**
   * The mesh of `views`, from `base` and the few lists that differ from it. One node joining or
   * one poll changing one list would otherwise re-read all N² names (seconds at 1,000 nodes);
   * this touches the changed lists and, for each, one membership test per other list. When most
   * lists changed (a start, a heal) a full rebuild is as cheap and simpler.
   */
  private update(base: Mesh, views: readonly MeshView[]): Mesh {
    const baseCounts = this.nodeCounts.get(base);
    const { lists, sets } = this.listsAndSets(views);
    const changed = new Set<string>();
    for (const [node, list] of lists) if (base.lists.get(node) !== list) changed.add(node);
    for (const node of base.lists.keys()) if (!lists.has(node)) changed.add(node);
    if (!baseCounts || changed.size * 8 > Math.max(lists.size, base.lists.size)) {
      return this.compute(views);
    }

    const counts = new Map(baseCounts);
    let membershipChanged = false;
    const adjust = (node: string, by: number) => {
      const next = (counts.get(node) ?? 0) + by;
      if (next > 0) {
        if (!counts.has(node)) membershipChanged = true;
        counts.set(node, next);
      } else {
        counts.delete(node);
        membershipChanged = true;
      }
    };
    for (const node of changed) {
      const before = base.views.get(node);
      if (before) {
        adjust(node, -1);
        for (const peer of before) adjust(peer, -1);
      }
      const after = sets.get(node);
      if (after) {
        adjust(node, 1);
        for (const peer of after) adjust(peer, 1);
      }
    }

    // A link between two unchanged lists keeps its symmetry; every link with a changed end is
    // judged again, from the changed side and from every other list that names it.
    const asymmetric = base.asymmetric.filter(
      (link) => !changed.has(link.from) && !changed.has(link.to),
    );
    for (const node of changed) {
      const own = sets.get(node);
      if (own) {
        for (const peer of own) {
          const back = sets.get(peer);
          if (back && !back.has(node)) asymmetric.push({ from: node, to: peer });
        }
      }
      for (const [other, theirs] of sets) {
        if (changed.has(other) || !theirs.has(node)) continue;
        if (own && !own.has(other)) asymmetric.push({ from: other, to: node });
      }
    }

    const mesh: Mesh = {
      nodes: membershipChanged ? [...counts.keys()].sort(compareNames) : base.nodes,
      lists,
      views: sets,
      asymmetric: asymmetric.sort(byLink),
    };
    this.nodeCounts.set(mesh, counts);
    return mesh;
  }
}

/** A mesh built once, for callers that build one mesh and no other. */
export function buildMesh(views: readonly MeshView[]): Mesh {
  return new MeshBuilder().build(views);
}

function sameLists(mesh: Mesh, views: readonly MeshView[]): boolean {
  let reporting = 0;
  for (const view of views) {
    if (!view.sees) continue;
    reporting += 1;
    if (mesh.lists.get(view.node) !== view.sees) return false;
  }
  return reporting === mesh.lists.size;
}

const byLink = (x: AsymmetricLink, y: AsymmetricLink) =>
  compareNames(x.from, y.from) || compareNames(x.to, y.to);

/**
 * Whether every reporting node sees every other node: a whole mesh, told from the sizes of the
 * views alone. A view holds nodes of `nodes` only, without its own (as a built mesh's do), so one
 * of `nodes.length - 1` names holds all the others.
 */
export function isWholeMesh(mesh: Pick<Mesh, 'nodes' | 'views'>): boolean {
  if (mesh.views.size === 0) return false;
  for (const view of mesh.views.values()) if (view.size !== mesh.nodes.length - 1) return false;
  return true;
}

/**
 * The connected components of the mesh, each sorted; the largest first, ties broken by the
 * smallest node name, so the main component is always `[0]` and always the same one. A whole
 * mesh is one component, known without reading its N² names.
 */
export function partitionsOf(mesh: Pick<Mesh, 'nodes' | 'views'>): string[][] {
  if (isWholeMesh(mesh)) return [[...mesh.nodes].sort(compareNames)];
  // Union-find over integer ids: a full mesh of thousands of nodes has millions of links.
  const ids = new Map<string, number>();
  const names: string[] = [];
  const idOf = (node: string): number => {
    let id = ids.get(node);
    if (id === undefined) {
      id = names.length;
      ids.set(node, id);
      names.push(node);
    }
    return id;
  };
  for (const node of mesh.nodes) idOf(node);
  for (const [node, sees] of mesh.views) {
    idOf(node);
    for (const peer of sees) idOf(peer);
  }
  const parent = Int32Array.from(names, (_, index) => index);
  const find = (id: number): number => {
    let root = id;
    while (parent[root] !== root) root = parent[root]!;
    // Path compression keeps the trees flat.
    let current = id;
    while (current !== root) {
      const next = parent[current]!;
      parent[current] = root;
      current = next;
    }
    return root;
  };
  for (const [node, sees] of mesh.views) {
    const rootA = find(ids.get(node)!);
    for (const peer of sees) {
      const rootB = find(ids.get(peer)!);
      if (rootA !== rootB) parent[rootB] = find(rootA);
    }
  }
  const groups = new Map<number, string[]>();
  names.forEach((node, id) => {
    const root = find(id);
    const group = groups.get(root);
    if (group) group.push(node);
    else groups.set(root, [node]);
  });
  return [...groups.values()]
    .map((group) => group.sort(compareNames))
    .sort((x, y) => y.length - x.length || compareNames(x[0]!, y[0]!));
}
