/**
 * The drawing model: the first pure steps of the topology graph, cluster state → graph model (one mark per member,
 * its visual state, size and group; the links worth drawing). The browser draws what this
 * returns and nothing else, so every rule of "what is shown" is pinned down by a unit test.
 */
import type { ClusterMember, ClusterState } from './cluster-state';
import { isBusyLink, linkTraffic, trafficLevel } from './links';
import { linkKey, MeshBuilder } from './mesh';
import { compareNames } from './names';
import { hostedNames } from './registries';
import { peerSet } from './peer-set';

/** What a member's mark says about it, in order of what an operator must see first. */
export type MemberVisualState =
  'clustered' | 'unclustered' | 'unreachable' | 'auth_failed' | 'terminating' | 'ghost';

/** Every visual state, in legend order. */
export const MEMBER_VISUAL_STATES: readonly MemberVisualState[] = [
  'clustered',
  'unclustered',
  'unreachable',
  'auth_failed',
  'terminating',
  'ghost',
];

/** The d3 symbol a state is drawn with: the shape carries the state as much as the colour does. */
export type MarkShape = 'circle' | 'triangle' | 'cross' | 'diamond' | 'square' | 'wye';

/** How a visual state looks: colour (readable on light and dark), shape and a plain label. */
export interface StateStyle {
  color: string;
  shape: MarkShape;
  label: string;
  /** One line for the legend: what the state means. */
  description: string;
}

/** The look of each visual state; shared by the canvas, the legend, the table and the list. */
export const STATE_STYLES: Readonly<Record<MemberVisualState, StateStyle>> = {
  clustered: {
    color: '#16a34a',
    shape: 'circle',
    label: 'clustered',
    description: 'in the main component of the mesh',
  },
  unclustered: {
    color: '#d97706',
    shape: 'triangle',
    label: 'unclustered',
    description: 'connected, but outside the main component (or not connected yet)',
  },
  unreachable: {
    color: '#dc2626',
    shape: 'cross',
    label: 'unreachable',
    description: 'beamscope cannot reach its node',
  },
  auth_failed: {
    color: '#9333ea',
    shape: 'diamond',
    label: 'auth failed',
    description: 'its node rejected the cookie',
  },
  terminating: {
    color: '#64748b',
    shape: 'square',
    label: 'terminating',
    description: 'Kubernetes is deleting the pod',
  },
  ghost: {
    color: '#0891b2',
    shape: 'wye',
    label: 'ghost',
    description: 'a node in the mesh that no pod accounts for',
  },
};

/** Stable identity of a member across updates: pod uid, else node name, else its key. */
export function memberId(member: ClusterMember): string {
  return member.kubernetes?.podUid ?? member.node ?? member.key;
}

/** The visual state of one member of `state`. */
export function memberVisualState(
  member: ClusterMember,
  state: Pick<ClusterState, 'mainPartition' | 'ghosts'>,
): MemberVisualState {
  if (member.kubernetes?.terminating) return 'terminating';
  if (!member.kubernetes && (member.node === null || state.ghosts.includes(member.node))) {
    return 'ghost';
  }
  const status = member.beam?.connection.status;
  if (status === 'auth_failed') return 'auth_failed';
  if (status === 'unreachable' || status === 'timeout') return 'unreachable';
  if (
    status === 'connected' &&
    state.mainPartition !== null &&
    member.partition === state.mainPartition
  ) {
    return 'clustered';
  }
  if (!member.kubernetes && member.partition !== null) return 'ghost';
  return 'unclustered';
}

/** A member with neither a pod nor a node is impossible; these say which side is missing. */
export type MemberSides = 'both' | 'kubernetes-only' | 'beam-only';

/** Which sides a member has: a pod with a node, a pod whose node is unknown, or a node alone. */
export function memberSides(member: ClusterMember): MemberSides {
  if (member.kubernetes && (member.beam || member.partition !== null)) return 'both';
  return member.kubernetes ? 'kubernetes-only' : 'beam-only';
}

/**
 * Names a member's node hosts ({@link hostedNames}: each entry counted where its process lives),
 * null when no registry of it could count them. Never a replica's size: every node of a replicated
 * registry holds the whole table, so a copy's size says nothing about the node.
 */
export function memberHosted(member: ClusterMember): number | null {
  return member.beam ? hostedNames(member.beam) : null;
}

/** One mark of the graph. */
export interface GraphNode {
  /** {@link memberId}: the key layouts are kept under. */
  id: string;
  /** The member's key in the state (for selection and the table). */
  key: string;
  label: string;
  node: string | null;
  state: MemberVisualState;
  /** {@link memberHosted}: what the mark's size stands for. */
  hosted: number | null;
  radius: number;
  /** Index into {@link GraphModel.groups}. */
  group: number;
}

/** A group of marks drawn together: a partition of the mesh, or the members outside it. */
export interface GraphGroup {
  id: string;
  label: string;
  /** `partition` = a connected component; `outside` = members not in the mesh at all. */
  kind: 'partition' | 'outside';
  size: number;
  main: boolean;
}

/** A line between two marks. */
export interface GraphLink {
  id: string;
  source: string;
  target: string;
  /** `link`: both sides agree; `asymmetric`: only one side lists the other; `missing`: neither, inside one partition. */
  kind: 'link' | 'asymmetric' | 'missing';
  /** Packets per second both ways ({@link linkTraffic}); null when no end reported a rate. */
  rate: number | null;
  /** The rate against the busiest link's, 0 to 1 ({@link trafficLevel}): what the width shows. */
  level: number;
  /** An end's distribution port queue is past its high watermark. */
  busy: boolean;
}

/** What the graph draws for one state. */
export interface GraphModel {
  nodes: GraphNode[];
  links: GraphLink[];
  groups: GraphGroup[];
  /** `links`: every link is drawn; `groups`: partitions as groups, only missing/asymmetric links. */
  mode: 'links' | 'groups';
  partitions: number;
}

/** Options of {@link buildGraphModel}. */
export interface GraphModelOptions {
  /** Past this many members, links give way to groups (a full mesh of n has n²/2 links). */
  linkThreshold?: number;
  /** At most this many missing links are listed (a badly split partition can have many). */
  maxMissingLinks?: number;
  /** The page's mesh builder, so that a state that changed little costs little to redraw. */
  meshes?: MeshBuilder;
}

/** The radius of a mark: area grows with hosted names; marks shrink as the cluster grows. */
export function markRadius(hosted: number, maxHosted: number, memberCount: number): number {
  const base = memberCount > 300 ? 3 : memberCount > 60 ? 5 : 8;
  const extra = memberCount > 300 ? 5 : memberCount > 60 ? 7 : 10;
  if (maxHosted <= 0 || hosted <= 0) return base;
  return base + extra * Math.sqrt(Math.min(hosted, maxHosted) / maxHosted);
}

function shortLabel(member: ClusterMember): string {
  return member.node ?? member.kubernetes?.podName ?? member.kubernetes?.ip ?? member.key;
}

/**
 * The graph model of a state: one node per member grouped by partition (members outside the
 * mesh in a group of their own), and either every mesh link (up to `linkThreshold` members)
 * or, past it, only the links that tell of trouble: asymmetric ones and, inside a partition,
 * missing ones (two members of one component that do not see each other).
 */
export function buildGraphModel(state: ClusterState, options: GraphModelOptions = {}): GraphModel {
  const threshold = options.linkThreshold ?? 40;
  const maxMissing = options.maxMissingLinks ?? 500;
  const groups: GraphGroup[] = state.partitions.map((partition, index) => ({
    id: `partition-${index}`,
    label:
      state.partitions.length === 1
        ? `mesh (${partition.length})`
        : `partition ${index + 1}${index === state.mainPartition ? ' (main)' : ''} · ${partition.length}`,
    kind: 'partition',
    size: partition.length,
    main: index === state.mainPartition,
  }));
  const outsideMembers = state.members.filter((member) => member.partition === null);
  let outsideGroup = -1;
  if (outsideMembers.length > 0) {
    outsideGroup = groups.length;
    groups.push({
      id: 'outside',
      label: `outside the mesh · ${outsideMembers.length}`,
      kind: 'outside',
      size: outsideMembers.length,
      main: false,
    });
  }
  const counts = state.members.map(memberHosted);
  const maxHosted = counts.reduce<number>((max, count) => Math.max(max, count ?? 0), 0);
  const nodes: GraphNode[] = state.members.map((member, index) => ({
    id: memberId(member),
    key: member.key,
    label: shortLabel(member),
    node: member.node,
    state: memberVisualState(member, state),
    hosted: counts[index] ?? null,
    radius: markRadius(counts[index] ?? 0, maxHosted, state.members.length),
    group: member.partition ?? outsideGroup,
  }));

  const idOfNode = new Map<string, string>();
  for (const [index, member] of state.members.entries()) {
    if (member.node) idOfNode.set(member.node, nodes[index]!.id);
  }
  const asymmetric = new Set(state.asymmetricLinks.map((link) => linkKey(link.from, link.to)));
  const mode = state.members.length <= threshold ? 'links' : 'groups';
  // Past the threshold only busy links are drawn: their traffic alone is needed.
  const traffic = linkTraffic(state.members, mode === 'links' ? undefined : isBusyLink);
  let maxRate = 0;
  for (const entry of traffic.values()) maxRate = Math.max(maxRate, entry.rate ?? 0);
  const links: GraphLink[] = [];
  const push = (a: string, b: string, kind: GraphLink['kind']) => {
    const source = idOfNode.get(a);
    const target = idOfNode.get(b);
    if (!source || !target) return;
    const key = linkKey(a, b);
    const seen = traffic.get(key);
    const rate = seen?.rate ?? null;
    links.push({
      id: `${kind}:${key}`,
      source,
      target,
      kind,
      rate,
      level: trafficLevel(rate, maxRate),
      busy: seen?.busy ?? false,
    });
  };
  if (mode === 'links') {
    const mesh = (options.meshes ?? new MeshBuilder()).ofState(state);
    const seen = new Set<string>();
    for (const [node, sees] of mesh.views) {
      for (const peer of sees) {
        const key = linkKey(node, peer);
        if (seen.has(key)) continue;
        seen.add(key);
        const [a, b] = compareNames(node, peer) < 0 ? [node, peer] : [peer, node];
        push(a, b, asymmetric.has(key) ? 'asymmetric' : 'link');
      }
    }
  } else {
    for (const link of state.asymmetricLinks) push(link.from, link.to, 'asymmetric');
    // Too many members to draw every link: the busy ones still are, trouble being the point.
    for (const entry of traffic.values()) {
      if (entry.busy && !asymmetric.has(entry.key)) push(entry.a, entry.b, 'link');
    }
  }
  // Missing links inside a partition: members of one component that neither side lists. Read
  // from the members' own lists, not a mesh: the page's mesh of 2,000 nodes split in three took
  // seconds to build whenever lists changed (after a heal, at every delta for a while).
  const listOf = new Map<string, readonly string[]>();
  for (const member of state.members) {
    const beam = member.beam;
    if (beam && beam.connection.status === 'connected' && beam.sees)
      listOf.set(beam.node, beam.sees);
  }
  let missing = 0;
  for (const partition of state.partitions) {
    // Whatever a node sees is in its own component, so a node that lists `size - 1` peers sees
    // all of them (the state keeps a list without repeats): only pairs of nodes that list
    // fewer can be missing a link (a full mesh of thousands is then checked in linear time).
    const reporting = partition.filter(
      (node) => (listOf.get(node)?.length ?? partition.length) < partition.length - 1,
    );
    for (let i = 0; i < reporting.length && missing < maxMissing; i += 1) {
      const a = reporting[i]!;
      for (let j = i + 1; j < reporting.length && missing < maxMissing; j += 1) {
        const b = reporting[j]!;
        if (!peerSet(listOf.get(a)!).has(b) && !peerSet(listOf.get(b)!).has(a)) {
          push(a, b, 'missing');
          missing += 1;
        }
      }
    }
  }
  links.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  return { nodes, links, groups, mode, partitions: state.partitions.length };
}

/** Whether two lists hold objects of the same primitive fields, in the same order. */
function sameRecords<T extends object>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index += 1) {
    const x = a[index] as Record<string, unknown>;
    const y = b[index] as Record<string, unknown>;
    for (const field of Object.keys(x)) if (x[field] !== y[field]) return false;
  }
  return true;
}

/** Whether two graph models draw the same: every mark, link and group alike. */
export function sameGraphModel(a: GraphModel, b: GraphModel): boolean {
  return (
    a.mode === b.mode &&
    a.partitions === b.partitions &&
    sameRecords(a.nodes, b.nodes) &&
    sameRecords(a.links, b.links) &&
    sameRecords(a.groups, b.groups)
  );
}

/**
 * {@link buildGraphModel} for one page: a model that draws the same as the one before is handed
 * back as that one. At a thousand members every probe cycle replaces every member (new load
 * figures) and changes nothing the graph draws; the same model then renders nothing and gives the
 * graph engine nothing to lay out again (each was ~100 ms of one task a delta, in zoom and pan).
 */
export class GraphModelBuilder {
  private previous: GraphModel | undefined;

  constructor(private readonly meshes: MeshBuilder) {}

  build(state: ClusterState): GraphModel {
    const next = buildGraphModel(state, { meshes: this.meshes });
    if (this.previous && sameGraphModel(this.previous, next)) return this.previous;
    this.previous = next;
    return next;
  }
}
