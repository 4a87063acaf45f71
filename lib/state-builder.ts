/**
 * The state builder: from what the two sides report (the pods Kubernetes lists, the BEAM sides
 * beamscope probed) to the {@link ClusterState} the dashboard shows — members, partitions,
 * unclustered members with their reason, ghosts, OTP skew and registry disagreement. No I/O, no
 * clock: the same input gives the same state, which is what lets a test pin every rule down.
 */
import type {
  BeamSide,
  ClusterMember,
  ClusterState,
  DistributionStatus,
  OtpSkew,
  RegistryDisagreement,
  UnclusteredMember,
} from './cluster-state';
import { unclusteredOf } from './diagnosis';
import type { KubernetesMember, KubernetesSourceStatus } from './members';
import { MeshBuilder, type MeshView } from './mesh';
import { tickSkewOf } from './links';
import { compareNames } from './names';
import { registrySummaries } from './registries';

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
    // Run at every recompute over every node: first only each registry's first count and
    // whether another differs (no object per node), then the counts of those that disagree.
    const firstCounts = new Map<string, number>();
    const disagreeing = new Set<string>();
    for (const node of partition) {
      for (const registry of sides.get(node)?.registries ?? []) {
        if (!registry.replicated) continue;
        const first = firstCounts.get(registry.registry);
        if (first === undefined) firstCounts.set(registry.registry, registry.count);
        else if (first !== registry.count) disagreeing.add(registry.registry);
      }
    }
    if (disagreeing.size === 0) return;
    const byRegistry = new Map<string, Array<{ node: string; count: number }>>();
    for (const node of partition) {
      for (const registry of sides.get(node)?.registries ?? []) {
        if (!registry.replicated || !disagreeing.has(registry.registry)) continue;
        const counts = byRegistry.get(registry.registry);
        const entry = { node, count: registry.count };
        if (counts) counts.push(entry);
        else byRegistry.set(registry.registry, [entry]);
      }
    }
    for (const [registry, counts] of byRegistry) found.push({ registry, partition: index, counts });
  });
  return found.sort((x, y) => x.partition - y.partition || compareNames(x.registry, y.registry));
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
    netTicktimeSeconds: null,
    links: null,
    distBufBusyLimitBytes: null,
    probedAt: null,
    probeMs: null,
    probeError: null,
    applications: null,
    codeScan: null,
  };
}

/**
 * Merges the Kubernetes members and the BEAM sides into members and derives every fact of
 * {@link ClusterState}. Members are the union of the pods Kubernetes lists (keyed by their
 * node name, or `ip:<IP>` when none can be derived), the tracked nodes, and the nodes the mesh
 * reports (ghosts, when no pod accounts for them). `meshes` is the caller's builder: the
 * collector keeps one per cluster so that a poll that changed little costs little.
 */
export function buildClusterState(
  input: ClusterStateInput,
  meshes: MeshBuilder = new MeshBuilder(),
): ClusterState {
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
  // The pods' nodes: the mesh is expected to hold them (see `MeshBuilder.build`).
  const expected = new Set<string>();
  for (const member of members.values()) {
    if (member.beam && member.beam.connection.status === 'connected')
      views.push({ node: member.beam.node, sees: member.beam.sees });
    if (member.kubernetes && member.node !== null) expected.add(member.node);
  }
  const mesh = meshes.build(views, expected);
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
  const partitions = meshes.partitionsOf(mesh);
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
  meshes.remember(sorted, mesh);

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
    tickSkew: tickSkewOf([...sides.values()]),
    registryDisagreements: registryDisagreementsOf(partitions, sides),
    registries: registrySummaries(sorted, partitions.length > 0 ? 0 : null),
    // Followed over time by the collector, which fills them in; one moment cannot tell them.
    rebalances: [],
    divergences: [],
    // Compared from the collector's code scans, which run on their own cadence.
    codeSkew: null,
  };
}
