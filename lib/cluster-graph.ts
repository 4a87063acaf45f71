/**
 * Pure steps from what the two sides report to the facts the dashboard shows: the mesh (links,
 * asymmetric links), its partitions and main component, unclustered members with a reason,
 * ghosts, OTP skew and registry disagreement. No I/O, no clock: the same input gives the same
 * `ClusterState`, which is what lets a test pin every rule down.
 */
import type {
  AsymmetricLink,
  BeamSide,
  ClusterMember,
  ClusterState,
  DistributionStatus,
  OtpSkew,
  RegistryDisagreement,
  UnclusteredMember,
} from './cluster-state';
import type { KubernetesMember, KubernetesSourceStatus } from './members';

// Sort keys with every digit run zero-padded, so plain string comparison orders numbers by
// value. Memoized: a mesh of thousands of nodes compares the same names millions of times.
const naturalKeys = new Map<string, string>();
const MAX_CACHED_KEYS = 100_000;

function naturalKey(name: string): string {
  let key = naturalKeys.get(name);
  if (key === undefined) {
    key = name.replace(/\d+/g, (digits) => digits.padStart(12, '0'));
    if (naturalKeys.size >= MAX_CACHED_KEYS) naturalKeys.clear();
    naturalKeys.set(name, key);
  }
  return key;
}

/** Orders node names and keys so `…@10.0.0.9` comes before `…@10.0.0.10`, the same everywhere. */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  const keyA = naturalKey(a);
  const keyB = naturalKey(b);
  if (keyA !== keyB) return keyA < keyB ? -1 : 1;
  return a < b ? -1 : 1;
}

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
 * is quadratic: the derivations below work on the views instead; this is for small meshes.
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

// A node's list keeps its identity while its peers do not change (the collector reuses it), so
// its set is built once, not at every poll.
const viewSets = new WeakMap<readonly string[], Set<string>>();

/**
 * Builds the mesh from the nodes' own lists. A link is present if either side reports it (a
 * connection is being set up or torn down, or one report is a poll older than the other); it is
 * asymmetric when both sides reported and only one lists the other.
 */
export function buildMesh(views: readonly MeshView[]): Mesh {
  const reused = recentMeshes.find((mesh) => sameLists(mesh, views));
  if (reused) return reused;
  const mesh = recentMeshes[0] ? updateMesh(recentMeshes[0], views) : computeMesh(views);
  recentMeshes.unshift(mesh);
  recentMeshes.length = Math.min(recentMeshes.length, RECENT_MESHES);
  return mesh;
}

// Between two polls the nodes' lists rarely change, and the collector keeps an unchanged list's
// identity: a mesh built from the very same lists is reused instead of re-reading N² names.
// A few are kept so that several clusters (one collector each) do not evict each other.
const RECENT_MESHES = 8;
const recentMeshes: Mesh[] = [];

/**
 * How many times each node is named in a mesh: once if it reports, once per list naming it. A
 * node is in `nodes` while its count is positive; kept so that a changed list updates `nodes`
 * without re-reading every other list.
 */
const nodeCounts = new WeakMap<Mesh, ReadonlyMap<string, number>>();

function sameLists(mesh: Mesh, views: readonly MeshView[]): boolean {
  let reporting = 0;
  for (const view of views) {
    if (!view.sees) continue;
    reporting += 1;
    if (mesh.lists.get(view.node) !== view.sees) return false;
  }
  return reporting === mesh.lists.size;
}

/** Each reporting node's list, and the same as a set without the node itself. */
function listsAndSets(views: readonly MeshView[]) {
  const lists = new Map<string, readonly string[]>();
  const sets = new Map<string, ReadonlySet<string>>();
  for (const view of views) {
    if (!view.sees) continue;
    lists.set(view.node, view.sees);
    let set = viewSets.get(view.sees);
    if (!set) {
      set = new Set(view.sees);
      set.delete(view.node);
      viewSets.set(view.sees, set);
    }
    sets.set(view.node, set);
  }
  return { lists, sets };
}

const byLink = (x: AsymmetricLink, y: AsymmetricLink) =>
  compareNames(x.from, y.from) || compareNames(x.to, y.to);

function computeMesh(views: readonly MeshView[]): Mesh {
  const { lists, sets } = listsAndSets(views);
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
  nodeCounts.set(mesh, counts);
  return mesh;
}

/**
 * The mesh of `views`, from `base` and the few lists that differ from it. One node joining or
 * one poll changing one list would otherwise re-read all N² names (seconds at 1,000 nodes); this
 * touches the changed lists and, for each, one membership test per other list. When most lists
 * changed (a start, a heal) a full rebuild is as cheap and simpler.
 */
function updateMesh(base: Mesh, views: readonly MeshView[]): Mesh {
  const baseCounts = nodeCounts.get(base);
  const { lists, sets } = listsAndSets(views);
  const changed = new Set<string>();
  for (const [node, list] of lists) if (base.lists.get(node) !== list) changed.add(node);
  for (const node of base.lists.keys()) if (!lists.has(node)) changed.add(node);
  if (!baseCounts || changed.size * 8 > Math.max(lists.size, base.lists.size)) {
    return computeMesh(views);
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
  nodeCounts.set(mesh, counts);
  return mesh;
}

/**
 * The connected components of the mesh, each sorted; the largest first, ties broken by the
 * smallest node name, so the main component is always `[0]` and always the same one.
 */
export function partitionsOf(mesh: Pick<Mesh, 'nodes' | 'views'>): string[][] {
  const cached = partitionCache.get(mesh);
  if (cached) return cached;
  const partitions = computePartitions(mesh);
  partitionCache.set(mesh, partitions);
  return partitions;
}

const partitionCache = new WeakMap<Pick<Mesh, 'nodes' | 'views'>, string[][]>();

function computePartitions(mesh: Pick<Mesh, 'nodes' | 'views'>): string[][] {
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

/** Nodes grouped by OTP release; null unless at least two releases are running. */
export function otpSkewOf(sides: readonly BeamSide[]): OtpSkew | null {
  const byRelease = new Map<string, string[]>();
  for (const side of sides) {
    if (side.otpRelease === null) continue;
    const nodes = byRelease.get(side.otpRelease);
    if (nodes) nodes.push(side.node);
    else byRelease.set(side.otpRelease, [side.node]);
  }
  if (byRelease.size < 2) return null;
  return {
    releases: [...byRelease.entries()]
      .map(([otpRelease, nodes]) => ({ otpRelease, nodes: nodes.sort(compareNames) }))
      .sort((x, y) => compareNames(x.otpRelease, y.otpRelease)),
  };
}

/**
 * Replicated registries whose counts differ between nodes of the same partition. Nodes in
 * different partitions are expected to disagree, so they are not compared.
 */
export function registryDisagreementsOf(
  partitions: readonly string[][],
  sides: ReadonlyMap<string, BeamSide>,
): RegistryDisagreement[] {
  const found: RegistryDisagreement[] = [];
  partitions.forEach((partition, index) => {
    if (partition.length < 2) return;
    const byRegistry = new Map<string, Array<{ node: string; count: number }>>();
    for (const node of partition) {
      for (const registry of sides.get(node)?.registries ?? []) {
        if (!registry.replicated) continue;
        const counts = byRegistry.get(registry.registry);
        const entry = { node, count: registry.count };
        if (counts) counts.push(entry);
        else byRegistry.set(registry.registry, [entry]);
      }
    }
    for (const [registry, counts] of byRegistry) {
      if (new Set(counts.map((entry) => entry.count)).size > 1) {
        found.push({ registry, partition: index, counts });
      }
    }
  });
  return found.sort((x, y) => x.partition - y.partition || compareNames(x.registry, y.registry));
}

function hostOf(node: string): string {
  return node.slice(node.indexOf('@') + 1);
}

/** A node that stands where the member's pod is (its IP or hostname) under another name. */
function impostorFor(member: KubernetesMember, node: string, ghosts: readonly string[]) {
  const hosts = new Set([member.ip, member.hostname].filter((host): host is string => !!host));
  return ghosts.find((ghost) => ghost !== node && hosts.has(hostOf(ghost)));
}

/**
 * A few names and how many more: a member of a 300-node minority partition would otherwise
 * carry 300 names in its one-line detail, 2 MB of a 1,000-member snapshot.
 */
function namedFew(names: readonly string[], shown = 5): string {
  const listed = names.slice(0, shown).join(', ');
  return names.length > shown ? `${listed} and ${names.length - shown} more` : listed;
}

function unclusteredOf(
  member: ClusterMember,
  main: ReadonlySet<string>,
  ghosts: readonly string[],
  distribution: DistributionStatus,
): UnclusteredMember | null {
  const pod = member.kubernetes;
  if (!pod || !pod.ready) return null;
  if (member.node !== null && main.has(member.node)) return null;
  const base = { key: member.key, node: member.node, podName: pod.podName, ip: pod.ip };
  if (member.node === null) {
    return {
      ...base,
      reason: 'name_mismatch',
      detail: `no node name can be derived for pod ${pod.podName ?? pod.ip} with the configured naming mode`,
    };
  }
  const impostor = impostorFor(pod, member.node, ghosts);
  const connection = member.beam?.connection;
  if (impostor && connection?.status !== 'connected') {
    return {
      ...base,
      reason: 'name_mismatch',
      detail: `the node calls itself ${impostor} but the naming mode expects ${member.node}`,
    };
  }
  if (!connection || connection.status === 'untracked') {
    return {
      ...base,
      reason: 'unreachable',
      detail:
        distribution.state === 'error'
          ? distribution.reason
          : `beamscope has not connected to ${member.node}`,
    };
  }
  if (connection.status === 'auth_failed') {
    return {
      ...base,
      reason: 'auth_failed',
      detail: connection.reason ?? `node ${member.node} refused the cookie`,
    };
  }
  if (
    connection.code === 'node_not_registered' ||
    (connection.code === 'protocol' && / answered/.test(connection.reason ?? ''))
  ) {
    return {
      ...base,
      reason: 'name_mismatch',
      detail: connection.reason ?? `no node named ${member.node} at ${pod.ip}`,
    };
  }
  if (connection.status === 'connected') {
    const sees = member.beam?.sees;
    let detail: string;
    if (sees === null || sees === undefined) detail = `${member.node} has not been probed yet`;
    else if (sees.length === 0)
      detail = `the pod is ready but ${member.node} sees none of its peers`;
    else
      detail = `${member.node} is connected to ${sees.length} node(s) outside the main component: ${namedFew(sees)}`;
    return { ...base, reason: 'not_connected_to_peers', detail };
  }
  return {
    ...base,
    reason: 'unreachable',
    detail:
      connection.reason ??
      (connection.status === 'connecting'
        ? `connecting to ${member.node}…`
        : `${member.node} is ${connection.status}`),
  };
}

/** What the collector knows at one moment; {@link buildClusterState} derives the rest. */
export interface ClusterStateInput {
  clusterId: string;
  at: number;
  localNode: string;
  kubernetes: KubernetesSourceStatus;
  distribution: DistributionStatus;
  /** The members Kubernetes lists. */
  kubernetesMembers: readonly KubernetesMember[];
  /** The BEAM side of every node beamscope tracks, by node name. */
  beam: ReadonlyMap<string, BeamSide>;
}

/** A BEAM side for a node seen in the mesh that beamscope does not connect to itself. */
export function untrackedSide(node: string, since: number): BeamSide {
  return blankSide(node, { status: 'untracked', since });
}

/** A BEAM side with its connection and nothing probed yet. */
export function blankSide(node: string, connection: BeamSide['connection']): BeamSide {
  return {
    node,
    connection,
    otpRelease: null,
    elixirVersion: null,
    processCount: null,
    memoryBytes: null,
    runQueue: null,
    uptimeMs: null,
    sees: null,
    registries: [],
    probedAt: null,
    probeMs: null,
    probeError: null,
  };
}

/**
 * Merges the Kubernetes members and the BEAM sides into members and derives every fact of
 * {@link ClusterState}. Members are the union of the pods Kubernetes lists (keyed by their
 * node name, or `ip:<IP>` when none can be derived), the tracked nodes, and the nodes the mesh
 * reports (ghosts, when no pod accounts for them).
 */
export function buildClusterState(input: ClusterStateInput): ClusterState {
  const members = new Map<string, ClusterMember>();
  for (const pod of input.kubernetesMembers) {
    const key = pod.beamNode ?? `ip:${pod.ip}`;
    if (members.has(key)) continue;
    members.set(key, {
      key,
      node: pod.beamNode,
      kubernetes: pod,
      beam: pod.beamNode !== null ? (input.beam.get(pod.beamNode) ?? null) : null,
      partition: null,
    });
  }
  for (const [node, side] of input.beam) {
    if (!members.has(node))
      members.set(node, { key: node, node, kubernetes: null, beam: side, partition: null });
  }
  const views: MeshView[] = [];
  for (const member of members.values()) {
    if (member.beam && member.beam.connection.status === 'connected')
      views.push({ node: member.beam.node, sees: member.beam.sees });
  }
  const mesh = buildMesh(views);
  for (const node of mesh.nodes) {
    if (!members.has(node)) {
      members.set(node, {
        key: node,
        node,
        kubernetes: null,
        beam: untrackedSide(node, input.at),
        partition: null,
      });
    }
  }
  const partitions = partitionsOf(mesh);
  const partitionOf = new Map<string, number>();
  partitions.forEach((partition, index) => {
    for (const node of partition) partitionOf.set(node, index);
  });
  const sorted = [...members.values()]
    .map((member) => ({
      ...member,
      partition: member.node !== null ? (partitionOf.get(member.node) ?? null) : null,
    }))
    .sort((x, y) => compareNames(x.key, y.key));

  const podNodes = new Set(
    input.kubernetesMembers.map((pod) => pod.beamNode).filter((node) => node !== null),
  );
  const ghosts = mesh.nodes.filter((node) => !podNodes.has(node));
  const main = new Set(partitions[0] ?? []);
  const unclustered = sorted
    .map((member) => unclusteredOf(member, main, ghosts, input.distribution))
    .filter((entry): entry is UnclusteredMember => entry !== null);
  const sides = new Map<string, BeamSide>();
  for (const member of sorted) if (member.beam) sides.set(member.beam.node, member.beam);
  meshCache.set(sorted, mesh);

  return {
    clusterId: input.clusterId,
    at: input.at,
    localNode: input.localNode,
    kubernetes: input.kubernetes,
    distribution: input.distribution,
    members: sorted,
    partitions,
    mainPartition: partitions.length > 0 ? 0 : null,
    asymmetricLinks: mesh.asymmetric,
    unclustered,
    ghosts,
    otpSkew: otpSkewOf([...sides.values()]),
    registryDisagreements: registryDisagreementsOf(partitions, sides),
  };
}

// States are immutable once built: the mesh of one is computed once, however often it is diffed.
const meshCache = new WeakMap<readonly ClusterMember[], Mesh>();

/** The mesh of a computed state (from its members' reports), for diffs. */
export function meshOfState(state: Pick<ClusterState, 'members'>): Mesh {
  const cached = meshCache.get(state.members);
  if (cached) return cached;
  const mesh = buildMesh(
    state.members
      .filter((member) => member.beam?.connection.status === 'connected')
      .map((member) => ({ node: member.beam!.node, sees: member.beam!.sees })),
  );
  meshCache.set(state.members, mesh);
  return mesh;
}

/** Names a node hosts across its registries (Swarm's hosted names plus Elixir Registry keys). */
export function hostedNames(side: BeamSide): number | null {
  let total: number | null = null;
  for (const registry of side.registries) {
    const hosted = registry.hosted ?? (registry.replicated ? null : registry.count);
    if (hosted !== null) total = (total ?? 0) + hosted;
  }
  return total;
}
