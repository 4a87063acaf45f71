/**
 * Peer lists on the wire, relative to what is expected. A node's peers are always nodes of its
 * own partition (a link joins the two), and in a healthy mesh they are all of them: the wire then
 * says "every other node of my partition except these" — nothing, in a whole mesh or in each side
 * of a clean netsplit — instead of naming N peers for each of N nodes. A list is sent whole when
 * that is shorter or when the relative form could not give it back exactly. The server encodes a
 * state or a delta; the browser expands it back, so everything past the wire reads `sees` as it
 * always has. A state's members are packed besides (`member-pack.ts`), and unpacked here too.
 */
import { applyClusterDelta } from './cluster-diff';
import {
  type MemberDefaults,
  type PackedMember,
  type PackedRegistrySummary,
  packMembers,
  packMembersInParts,
  packRegistries,
  unpackMember,
  unpackRegistries,
} from './member-pack';
import type {
  BeamSide,
  ClusterMember,
  ClusterState,
  ClusterStateDelta,
  MemberPatch,
} from './cluster-state';

/** A node's peers as "every other node of its partition except these". */
export interface PeersExcept {
  except: string[];
}

/**
 * A node's peers as "every other node of its partition whose own list is known, except these,
 * plus these (of the partition's nodes whose list is not)".
 */
export interface PeersOfReporting {
  except: string[];
  plus: string[];
}

/** A node's peers as the wire carries them. */
export type WirePeers = string[] | PeersExcept | PeersOfReporting | null;

type WireSide = Omit<BeamSide, 'sees'> & { sees: WirePeers };
/** A member as the compact wire carries it. */
export type WireMember = Omit<ClusterMember, 'beam'> & { beam: WireSide | null };
/** A state with compact peer lists, its members otherwise whole. */
type PeersOnlyState = Omit<ClusterState, 'members'> & { members: WireMember[]; packed?: undefined };
/** A state as {@link compactState} sends it: compact peers, members packed (`member-pack.ts`). */
export type PackedClusterState = Omit<ClusterState, 'members' | 'registries'> & {
  members: Array<PackedMember<WirePeers>>;
  registries: PackedRegistrySummary[];
  packed: MemberDefaults;
};
/**
 * A state as the compact wire carries it: packed, or (a keyframe recorded before members were
 * packed) with compact peers only.
 */
export type WireClusterState = PeersOnlyState | PackedClusterState;
type WirePatch = Omit<MemberPatch, 'beam'> & { beam?: Partial<WireSide> | null };
/** A delta as the compact wire carries it: peers relative to the state it leads to. */
export type WireClusterDelta = Omit<ClusterStateDelta, 'added' | 'changed'> & {
  added: WireMember[];
  changed: WirePatch[];
};

/**
 * `sees` of `node` relative to its `partition` (sorted, as the state keeps it), in the shortest
 * form that gives it back exactly: the names of the partition it does not list; or, when
 * `reporting` (the nodes whose own lists are known) is given, the reporting names of the
 * partition it does not list plus the others it does; else `sees` itself. The second form keeps
 * a name only one node lists (a capped, absurd list of thousands puts them all in the node's
 * partition) from turning every other node's list into the whole list.
 */
export function compactPeers(
  sees: readonly string[],
  node: string,
  partition: readonly string[] | undefined,
  reporting?: ReadonlySet<string>,
): string[] | PeersExcept | PeersOfReporting {
  if (!partition) return sees as string[];
  const except: string[] = [];
  const exceptReporting: string[] = [];
  const plus: string[] = [];
  let position = 0;
  // One walk of both sorted lists: every listed peer must be met, in order, for the relative
  // form to give the list back as it was (a list out of order or naming itself is sent whole).
  for (const peer of partition) {
    if (peer === node) continue;
    const listed = sees[position] === peer;
    if (listed) position += 1;
    else except.push(peer);
    if (!reporting) continue;
    if (!reporting.has(peer)) {
      if (listed) plus.push(peer);
    } else if (!listed) exceptReporting.push(peer);
  }
  if (position !== sees.length) return sees as string[];
  const ofReporting = reporting ? exceptReporting.length + plus.length : Infinity;
  if (except.length <= ofReporting) {
    return except.length < sees.length ? { except } : (sees as string[]);
  }
  return ofReporting < sees.length ? { except: exceptReporting, plus } : (sees as string[]);
}

/** The list {@link compactPeers} encoded. */
export function expandPeers(
  peers: WirePeers,
  node: string,
  partition: readonly string[] | undefined,
  reporting: ReadonlySet<string> = new Set(),
): string[] | null {
  if (peers === null || Array.isArray(peers)) return peers;
  const except = new Set(peers.except);
  if (!('plus' in peers)) {
    return (partition ?? []).filter((peer) => peer !== node && !except.has(peer));
  }
  const plus = new Set(peers.plus);
  return (partition ?? []).filter(
    (peer) => peer !== node && (reporting.has(peer) ? !except.has(peer) : plus.has(peer)),
  );
}

/** The nodes whose own peer lists a state (or a wire state) holds: the base of the second form. */
function reportingOf(members: ReadonlyArray<{ beam: { node: string; sees: unknown } | null }>) {
  const reporting = new Set<string>();
  for (const member of members) {
    if (member.beam && member.beam.sees !== null) reporting.add(member.beam.node);
  }
  return reporting;
}

const partitionOf = (
  state: Pick<ClusterState, 'partitions'>,
  member: Pick<ClusterMember, 'partition'>,
) => (member.partition === null ? undefined : state.partitions[member.partition]);

type CompactPeers = ReturnType<typeof compactPeers>;

/** The member with its peer list compacted by `compact` (relative to its `partition`). */
function compactMember(
  member: ClusterMember,
  partition: readonly string[] | undefined,
  compact: (sees: readonly string[], node: string, partition?: readonly string[]) => CompactPeers,
): WireMember {
  const beam = member.beam;
  if (!beam?.sees) return member;
  const sees = compact(beam.sees, beam.node, partition);
  return { ...member, beam: { ...beam, sees } };
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index += 1) if (a[index] !== b[index]) return false;
  return true;
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const name of a) if (!b.has(name)) return false;
  return true;
}

/**
 * The compact form of each peer list, kept by the list itself: a whole state's lists cost N² to
 * compact (each walks its partition), ~60 ms at 1,000 nodes, and a state is compacted for every
 * history keyframe (about every second at that size) and every client that connects. Between two
 * states most lists are the very same arrays (the collector keeps an unchanged list's identity),
 * their partitions and the reporting nodes the same names: such a list's form is reused. The
 * partitions and the reporting set of the last state are kept, and a new state's equal ones
 * replaced by them, so that identity says "same names" (O(N) per state, not per list).
 */
class CompactPeersCache {
  private readonly byList = new WeakMap<
    readonly string[],
    {
      node: string;
      partition: readonly string[];
      reporting: ReadonlySet<string>;
      peers: CompactPeers;
    }
  >();
  private partitions: ReadonlyArray<readonly string[]> = [];
  private reporting: ReadonlySet<string> = new Set();

  /** This state's partitions and reporting set, as the very objects of the last when equal. */
  canonical(state: ClusterState, reporting: ReadonlySet<string>) {
    // Partitions are disjoint: the one that starts with the same name is the only candidate.
    const known = new Map(this.partitions.map((partition) => [partition[0], partition]));
    const partitions = state.partitions.map((partition) => {
      const candidate = known.get(partition[0]);
      return candidate && sameNames(candidate, partition) ? candidate : partition;
    });
    if (!sameSet(this.reporting, reporting)) this.reporting = reporting;
    this.partitions = partitions;
    return { partitions, reporting: this.reporting };
  }

  peers(
    sees: readonly string[],
    node: string,
    partition: readonly string[] | undefined,
    reporting: ReadonlySet<string>,
  ): CompactPeers {
    if (!partition) return compactPeers(sees, node, partition, reporting);
    const held = this.byList.get(sees);
    if (held && held.node === node && held.partition === partition && held.reporting === reporting)
      return held.peers;
    const peers = compactPeers(sees, node, partition, reporting);
    this.byList.set(sees, { node, partition, reporting, peers });
    return peers;
  }
}

const compactCache = new CompactPeersCache();

/** The state's members with their peer lists in the compact form, one at a time. */
function compactMembersOf(state: ClusterState) {
  const { partitions, reporting } = compactCache.canonical(state, reportingOf(state.members));
  return (member: ClusterMember) =>
    compactMember(
      member,
      member.partition === null ? undefined : partitions[member.partition],
      (sees, node, partition) => compactCache.peers(sees, node, partition, reporting),
    );
}

/** The state with its peer lists in the compact form and its members packed, for the wire. */
export function compactState(state: ClusterState): PackedClusterState {
  const { members, defaults } = packMembers(state.members.map(compactMembersOf(state)));
  return { ...state, members, registries: packRegistries(state.registries), packed: defaults };
}

/**
 * {@link compactState}, a hundred members at a time with `between` awaited in between (a history
 * keyframe: the event loop free for the push while a 1,000-node state is packed).
 */
export async function compactStateInParts(
  state: ClusterState,
  between: () => Promise<void>,
  perPart = 100,
): Promise<PackedClusterState> {
  const compact = compactMembersOf(state);
  const compacted = [];
  for (let index = 0; index < state.members.length; index++) {
    if (index > 0 && index % perPart === 0) await between();
    compacted.push(compact(state.members[index]!));
  }
  const { members, defaults } = await packMembersInParts(compacted, between, perPart);
  return { ...state, members, registries: packRegistries(state.registries), packed: defaults };
}

/** The delta from some state to `next`, its peer lists relative to `next`'s partitions. */
export function compactDelta(delta: ClusterStateDelta, next: ClusterState): WireClusterDelta {
  const members = new Map(next.members.map((member) => [member.key, member]));
  const reporting = reportingOf(next.members);
  return {
    ...delta,
    added: delta.added.map((member) =>
      compactMember(member, partitionOf(next, member), (sees, node, partition) =>
        compactPeers(sees, node, partition, reporting),
      ),
    ),
    changed: delta.changed.map((patch) => {
      const sees = patch.beam?.sees;
      const member = members.get(patch.key);
      if (!sees || !member?.beam) return patch;
      const peers = compactPeers(sees, member.beam.node, partitionOf(next, member), reporting);
      return { ...patch, beam: { ...patch.beam, sees: peers } };
    }),
  };
}

/** The state with every compact peer list expanded; members already whole keep their identity. */
export function expandState(wire: WireClusterState): ClusterState {
  const state: PeersOnlyState = wire.packed
    ? (({ packed, ...rest }) => ({
        ...rest,
        members: wire.members.map((member) => unpackMember(member, packed)),
        registries: unpackRegistries(wire.registries),
      }))(wire)
    : wire;
  let changed = false;
  let reporting: ReadonlySet<string> | undefined;
  const members = state.members.map((member): ClusterMember => {
    const beam = member.beam;
    if (!beam || beam.sees === null || Array.isArray(beam.sees)) return member as ClusterMember;
    changed = true;
    reporting ??= reportingOf(state.members);
    const sees = expandPeers(beam.sees, beam.node, partitionOf(state, member), reporting);
    return { ...member, beam: { ...beam, sees } };
  });
  return changed ? { ...state, members } : (state as ClusterState);
}

/** Applies a compact delta to a whole state and expands what it brought. */
export function applyWireDelta(state: ClusterState, delta: WireClusterDelta): ClusterState {
  // applyClusterDelta only moves fields: a compact list lands as it came, and is expanded here
  // against the partitions of the state the delta leads to.
  const applied = applyClusterDelta(state, delta as unknown as ClusterStateDelta);
  return expandState(applied as unknown as WireClusterState);
}
