/**
 * The distribution mesh as the nodes report it, and its partitions. Pure: the same reports give
 * the same mesh. What is remembered between calls — so that an unchanged poll costs nothing and a
 * changed one costs only its changed lists — lives in a {@link MeshBuilder} that the caller holds
 * (one per cluster: the collector, the page), never in module state.
 */
import type { AsymmetricLink, ClusterMember, ClusterState } from './cluster-state';
import { compareNames } from './names';
import { NodeTable, RelativePeers } from './peer-view';

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

/** The nodes of a state's pods, the nodes a mesh of it is expected to hold. */
function expectedOfState(state: Pick<ClusterState, 'members'>): Set<string> {
  const expected = new Set<string>();
  for (const member of state.members) {
    if (member.kubernetes && member.node !== null) expected.add(member.node);
  }
  return expected;
}

/** The views of a state's connected members, as {@link MeshBuilder.build} takes them. */
function viewsOfState(state: Pick<ClusterState, 'members'>): MeshView[] {
  return state.members
    .filter((member) => member.beam?.connection.status === 'connected')
    .map((member) => ({ node: member.beam!.node, sees: member.beam!.sees }));
}

/**
 * A view built before some of the names it lists joined the table holds each of them in `extra`:
 * at a 1,000-node start, the nodes that report first list hundreds of nodes not yet in the table,
 * and their views kept them while the lists kept their identity — half a million names in sets
 * (11 MB at 1,000 nodes, four times that at 2,000). Built again, such a view holds none of them.
 */
function isStale(view: RelativePeers): boolean {
  if (view.prefix === view.table.size || view.extra.size === 0) return false;
  for (const name of view.extra) if (view.table.idOf(name) !== undefined) return true;
  return false;
}

function hasStaleView(mesh: Mesh): boolean {
  for (const view of mesh.views.values()) {
    if (view instanceof RelativePeers && isStale(view)) return true;
  }
  return false;
}

/**
 * Builds meshes and partitions, remembering enough to make the next build cheap. Between two
 * polls the nodes' lists rarely change, and the collector keeps an unchanged list's identity: a
 * mesh of the very same lists is reused, and a list's view is built once. Views are held
 * relative to a node table ({@link RelativePeers}): a whole mesh costs O(N) memory, and the
 * derived facts (who is in the mesh, one-sided links) are read from what the views miss, not
 * from their N² names. Hold one per cluster; a builder shared by two clusters would keep
 * evicting one's meshes with the other's.
 */
export class MeshBuilder {
  private readonly recent: Mesh[] = [];
  private table = new NodeTable();
  /** The table's size at the last build: a build that finds it unchanged finds it settled. */
  private tableSizeAtLastBuild = -1;
  /** Whether this build builds stale views again (the table is settled). */
  private refreshStale = false;
  // A node's list keeps its identity while its peers do not change, so its view is built once
  // (again only when the builder starts a fresh table).
  private readonly viewOfList = new WeakMap<readonly string[], RelativePeers>();
  private readonly partitions = new WeakMap<Pick<Mesh, 'nodes' | 'views'>, string[][]>();
  /** For each mesh: how many times each node is named, and the table its views are relative to. */
  private readonly nodeCounts = new WeakMap<Mesh, ReadonlyMap<string, number>>();
  private readonly tableOf = new WeakMap<Mesh, NodeTable>();
  // States are immutable once built: the mesh of one is computed once, however often it is read.
  private readonly byMembers = new WeakMap<readonly ClusterMember[], Mesh>();

  /** How many recent meshes are kept for reuse. */
  constructor(private readonly keep = 2) {}

  /**
   * The mesh of the nodes' own lists. A link is present if either side reports it (a connection
   * is being set up or torn down, or one report is a poll older than the other); it is asymmetric
   * when both sides reported and only one lists the other.
   *
   * `expected`: the nodes the caller tracks (the pods' nodes). A list's names among them join
   * the node table before any view is built, not only the reporting nodes: at a start the first
   * lists name every node that has not reported yet, and their views then cover them by prefix,
   * not one by one in `extra` (and no view is built again once the table settles). Names no pod
   * accounts for (ghosts, an absurd list) stay out of the table as before.
   */
  build(views: readonly MeshView[], expected?: ReadonlySet<string>): Mesh {
    const settled = this.table.size === this.tableSizeAtLastBuild;
    this.tableSizeAtLastBuild = this.table.size;
    this.refreshStale = settled;
    const reused = this.recent.find((mesh) => sameLists(mesh, views));
    // Once the table has stopped growing, views built while it grew are built again (once):
    // until then a mesh of the same lists is reused as it is.
    if (reused && !(settled && hasStaleView(reused))) return reused;
    const base = this.recent[0];
    const built = this.listsAndViews(views, expected);
    const mesh = base ? this.update(base, views, built) : this.compute(views, built);
    // Departed nodes stay in the table, and every later view holds them as missing:
    // once they outnumber the living (the mesh's nodes), the next build starts a fresh table
    // (and builds every view once more), so a long churn costs a rebuild now and then, not a
    // growing table.
    if (this.table.size > 2 * mesh.nodes.length + 64) this.table = new NodeTable();
    // A mesh built again for stale views replaces the recent ones, which hold those views too.
    if (reused) this.recent.length = 0;
    this.recent.unshift(mesh);
    this.recent.length = Math.min(this.recent.length, this.keep);
    return mesh;
  }

  /** The mesh of a state (from its connected members' reports), computed once per state. */
  ofState(state: Pick<ClusterState, 'members'>): Mesh {
    const cached = this.byMembers.get(state.members);
    if (cached) return cached;
    const mesh = this.build(viewsOfState(state), expectedOfState(state));
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

  /**
   * How many of `mesh`'s lists name `node`, its own left out; undefined for a mesh this builder
   * did not build. A node every other list names has no link that its list alone can make.
   */
  listedBy(mesh: Mesh, node: string): number | undefined {
    const counts = this.nodeCounts.get(mesh);
    if (!counts) return undefined;
    return (counts.get(node) ?? 0) - (mesh.views.has(node) ? 1 : 0);
  }

  /** Each reporting node's list, and its view (relative to the current table). */
  private listsAndViews(views: readonly MeshView[], expected?: ReadonlySet<string>) {
    const lists = new Map<string, readonly string[]>();
    const sets = new Map<string, RelativePeers>();
    // The reporting nodes are expected: in the table before any view is built, and so are the
    // tracked nodes that a list to be viewed names (see `build`).
    for (const view of views) if (view.sees) this.table.intern(view.node);
    // Once every expected node is in the table (a start's first build), no list is read for them.
    if (expected && !this.holdsAll(expected)) {
      for (const view of views) {
        if (!view.sees || this.viewOfList.get(view.sees)?.table === this.table) continue;
        for (const name of view.sees) {
          if (this.table.idOf(name) === undefined && expected.has(name)) this.table.intern(name);
        }
      }
    }
    for (const view of views) {
      if (!view.sees) continue;
      lists.set(view.node, view.sees);
      let set = this.viewOfList.get(view.sees);
      if (
        !set ||
        set.table !== this.table ||
        set.node !== view.node ||
        (this.refreshStale && isStale(set))
      ) {
        set = RelativePeers.of(this.table, view.node, view.sees);
        this.viewOfList.set(view.sees, set);
      }
      sets.set(view.node, set);
    }
    return { lists, sets };
  }

  private holdsAll(names: ReadonlySet<string>): boolean {
    for (const name of names) if (this.table.idOf(name) === undefined) return false;
    return true;
  }

  private compute(
    views: readonly MeshView[],
    built: ReturnType<MeshBuilder['listsAndViews']>,
  ): Mesh {
    const { lists, sets } = built;
    const counts = this.countsOf(sets);
    const nodes = [...counts.keys()].sort(compareNames);
    const last = this.recent[0]?.nodes;
    const mesh: Mesh = {
      // The same members as last time keep their array: a state built from it can tell.
      nodes: last && sameNames(last, nodes) ? last : nodes,
      lists,
      views: sets,
      asymmetric: this.asymmetricOf(sets).sort(byLink),
    };
    this.nodeCounts.set(mesh, counts);
    this.tableOf.set(mesh, this.table);
    return mesh;
  }

  /**
   * The mesh of `views`, from `base` and the few lists that differ from it: what a poll that
   * changed a few lists costs is those lists, one pass over the others for each, and not the
   * missing names of every view (a netsplit's N²/2). When most lists changed (a start, a heal),
   * or the table was started afresh since `base`, a full build is as cheap and simpler.
   */
  private update(
    base: Mesh,
    views: readonly MeshView[],
    built: ReturnType<MeshBuilder['listsAndViews']>,
  ): Mesh {
    const baseCounts = this.nodeCounts.get(base);
    const { lists, sets } = built;
    if (!baseCounts || this.tableOf.get(base) !== this.table) return this.compute(views, built);
    const changed = new Set<string>();
    for (const [node, list] of lists) if (base.lists.get(node) !== list) changed.add(node);
    for (const node of base.lists.keys()) if (!lists.has(node)) changed.add(node);
    if (changed.size * 8 > Math.max(lists.size, base.lists.size)) {
      return this.compute(views, built);
    }

    // How many times each node is named: once if it reports, once per list naming it.
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
    // A view's names are a prefix of the table less a few, plus a few: the prefixes are summed
    // as ranges over table ids and applied in one pass, not name by name (a first list names
    // every node: N map updates per node, N² at a start).
    const byId = new Int32Array(this.table.size + 1);
    const adjustView = (node: string, view: ReadonlySet<string>, by: number) => {
      adjust(node, by);
      if (!(view instanceof RelativePeers) || view.table !== this.table) {
        for (const peer of view) adjust(peer, by);
        return;
      }
      byId[0] = byId[0]! + by;
      byId[view.prefix] = byId[view.prefix]! - by;
      // The node itself and what it misses are inside the prefix and not named.
      for (const name of [view.node, ...view.missing]) {
        const id = this.table.idOf(name)!;
        if (id < view.prefix) {
          byId[id] = byId[id]! - by;
          byId[id + 1] = byId[id + 1]! + by;
        }
      }
      for (const name of view.extra) adjust(name, by);
    };
    for (const node of changed) {
      const before = base.views.get(node);
      if (before) adjustView(node, before, -1);
      const after = sets.get(node);
      if (after) adjustView(node, after, 1);
    }
    let running = 0;
    for (let id = 0; id < this.table.size; id += 1) {
      running += byId[id]!;
      if (running !== 0) adjust(this.table.nameAt(id), running);
    }

    // A link between two unchanged lists keeps its symmetry; every link with a changed end is
    // judged again: from the changed node's own misses, and from every other list for the
    // links the changed node lists and the other does not.
    const asymmetric = base.asymmetric.filter(
      (link) => !changed.has(link.from) && !changed.has(link.to),
    );
    const changedViews = new Map<string, RelativePeers>();
    for (const node of changed) {
      const view = sets.get(node);
      if (view) changedViews.set(node, view);
    }
    asymmetric.push(...this.asymmetricOf(sets, changedViews));
    for (const [node, view] of changedViews) {
      // Named by every other list (its own counts once): no list leaves it out, nothing to look
      // for — a node's first list in a whole mesh, which otherwise costs N lookups.
      if (counts.get(node) === sets.size) continue;
      for (const [other, theirs] of sets) {
        if (!changed.has(other) && view.has(other) && !theirs.has(node)) {
          asymmetric.push({ from: node, to: other });
        }
      }
    }

    const mesh: Mesh = {
      nodes: membershipChanged ? [...counts.keys()].sort(compareNames) : base.nodes,
      lists,
      views: sets,
      asymmetric: asymmetric.sort(byLink),
    };
    this.nodeCounts.set(mesh, counts);
    this.tableOf.set(mesh, this.table);
    return mesh;
  }

  /**
   * How many times each node is named — once if it reports, once per list naming it — counted
   * per table id from the views' prefixes and what they miss: how many views cover an id, less
   * those that miss it or are its own. O(table + missing names), not a pass over every list.
   */
  private countsOf(sets: ReadonlyMap<string, RelativePeers>): Map<string, number> {
    const table = this.table;
    const listedBy = new Int32Array(table.size + 1);
    const add = (id: number, by: number) => {
      listedBy[id] = listedBy[id]! + by;
    };
    for (const view of sets.values()) {
      add(0, 1);
      add(view.prefix, -1);
    }
    for (let id = 1; id <= table.size; id += 1) add(id, listedBy[id - 1]!);
    for (const view of sets.values()) {
      add(table.idOf(view.node)!, -1);
      for (const name of view.missing) add(table.idOf(name)!, -1);
    }
    const counts = new Map<string, number>();
    for (let id = 0; id < table.size; id += 1) {
      if (listedBy[id]! > 0) counts.set(table.nameAt(id), listedBy[id]!);
    }
    const bump = (name: string) => counts.set(name, (counts.get(name) ?? 0) + 1);
    for (const view of sets.values()) {
      bump(view.node);
      for (const name of view.extra) bump(name);
    }
    return counts;
  }

  /**
   * Links only one side reports, both sides reporting. `b` does not list a reporting `a` when
   * `a` is among what `b`'s view misses, or joined the table after `b`'s view was built (and is
   * not among its extra names): only those pairs are looked at — none in a whole mesh. With
   * `targets`, only the links to those nodes.
   */
  private asymmetricOf(
    sets: ReadonlyMap<string, RelativePeers>,
    targets: ReadonlyMap<string, RelativePeers> = sets,
  ): AsymmetricLink[] {
    const table = this.table;
    const byId = [...sets.values()].sort((x, y) => table.idOf(x.node)! - table.idOf(y.node)!);
    const firstPast = (prefix: number) => {
      let low = 0;
      let high = byId.length;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (table.idOf(byId[middle]!.node)! < prefix) low = middle + 1;
        else high = middle;
      }
      return low;
    };
    const asymmetric: AsymmetricLink[] = [];
    for (const [node, view] of targets) {
      for (const peer of view.missing) {
        if (sets.get(peer)?.has(node)) asymmetric.push({ from: peer, to: node });
      }
      for (let index = firstPast(view.prefix); index < byId.length; index += 1) {
        const later = byId[index]!;
        if (later.has(node) && !view.has(later.node))
          asymmetric.push({ from: later.node, to: node });
      }
    }
    return asymmetric;
  }
}

/** A mesh built once, for callers that build one mesh and no other. */
export function buildMesh(views: readonly MeshView[]): Mesh {
  return new MeshBuilder().build(views);
}

const sameNames = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((name, index) => name === b[index]);

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
