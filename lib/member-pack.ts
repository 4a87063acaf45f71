/**
 * Members on the compact wire (`?peers=compact`, and the history's keyframes), packed: with peer
 * lists gone, what a snapshot of 1,000 healthy nodes still carried was each member's other
 * fields — ~970 B a member, most of them the same on every member (the connection, the OTP
 * release, a pod's phase, `null`s) or a repeat of the member's own name (`node`, `beam.node`,
 * `kubernetes.beamNode`). Packed:
 *
 * - a field whose value is the most common one across the members (and shared by at least two)
 *   is sent once in the state's `packed` defaults and left out of every member that has it;
 * - a name equal to the member's key is left out (`node`, `beam.node`, `kubernetes.beamNode`:
 *   absent means "the key"; these are never defaults, so an absent one is never ambiguous);
 * - registry counts travel as tuples `[registry, count, hosted, replicated (1|0), groups?]`,
 *   and each registry summary's per-node shares as `[node, partition, count, hosted]`.
 *
 * {@link unpackMember} gives each member back exactly; the page, the CLI and the history's
 * rebuild read only unpacked states (`expandState` in `peer-wire.ts`).
 */
import type {
  BeamSide,
  ClusterMember,
  RegistryCount,
  RegistryShare,
  RegistrySummary,
} from './cluster-state';
import { jsonText } from './json-text';
import type { KubernetesMember } from './members';

/** A registry count as a tuple: registry, count, hosted, replicated (1 or 0), and groups. */
export type PackedRegistry =
  [string, number, number | null, 0 | 1] | [string, number, number | null, 0 | 1, number];

/** A BEAM side packed: any field may be left to the defaults, registries as tuples. */
export type PackedSide<Sees> = Partial<
  Omit<BeamSide, 'sees' | 'registries'> & { sees: Sees; registries: PackedRegistry[] }
>;

/** A member packed (see the module's header). */
export interface PackedMember<Sees> {
  key: string;
  node?: string | null;
  partition?: number | null;
  kubernetes: Partial<KubernetesMember> | null;
  beam: PackedSide<Sees> | null;
}

/** The values left out of every member that has them. */
export interface MemberDefaults {
  partition?: number | null;
  kubernetes: Partial<KubernetesMember>;
  beam: Partial<Record<string, unknown>>;
}

/** A member whose peers have their wire form (`Sees`) and are otherwise whole. */
type SideOf<Sees> = Omit<BeamSide, 'sees'> & { sees: Sees };
type MemberOf<Sees> = Omit<ClusterMember, 'beam'> & { beam: SideOf<Sees> | null };

// Names that repeat the key are left out instead; they are never defaults.
const NAME_FIELDS = new Set(['node', 'beamNode']);

/**
 * The most common value of each field of `objects` (by JSON), when at least two share it. Only
 * fields every object has qualify: an absent field unpacks to the default, so an optional field
 * some objects lack (`lastTermination`) is never one.
 */
/**
 * A value as a key of equal values: a number, boolean or null itself, a string or an object (by its
 * JSON) as a tagged string — without serialising the most common fields, which are primitives
 * (a state of 1,000 members has some 40,000 fields to count and compare).
 */
function valueKey(value: unknown): unknown {
  if (typeof value === 'string') return `s${value}`;
  if (typeof value === 'object' && value !== null) return `j${jsonText(value)}`;
  return value;
}

/**
 * `JSON.stringify(a) === JSON.stringify(b)` for a state's values: primitives differ unless
 * identical (NaN, which JSON writes as null, travels as null either way), an object never equals
 * a primitive, and two objects compare by their JSON, made once per object (`jsonText`: at 1,000
 * nodes with 32 links each, packing a state took 55 ms serialising them again, 20 ms now).
 */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  return (
    typeof a === 'object' &&
    a !== null &&
    typeof b === 'object' &&
    b !== null &&
    jsonText(a) === jsonText(b)
  );
}

/** The values of each field over objects added one at a time, for {@link ValueCounts.common}. */
class ValueCounts {
  private readonly counts = new Map<string, Map<unknown, { value: unknown; count: number }>>();
  private readonly present = new Map<string, number>();
  private total = 0;

  add(object: object | null): void {
    if (!object) return;
    this.total += 1;
    for (const [field, value] of Object.entries(object)) {
      if (NAME_FIELDS.has(field) || value === undefined) continue;
      this.present.set(field, (this.present.get(field) ?? 0) + 1);
      let values = this.counts.get(field);
      if (!values) this.counts.set(field, (values = new Map()));
      const key = valueKey(value);
      const entry = values.get(key);
      if (entry) entry.count += 1;
      else values.set(key, { value, count: 1 });
    }
  }

  /** The most common value of each field every object had, when at least two share it. */
  common(): Record<string, unknown> {
    const common: Record<string, unknown> = {};
    for (const [field, values] of this.counts) {
      if (this.present.get(field) !== this.total) continue;
      let best: { value: unknown; count: number } | undefined;
      for (const entry of values.values()) if (!best || entry.count > best.count) best = entry;
      if (best && best.count >= 2) common[field] = best.value;
    }
    return common;
  }
}

const packRegistry = (entry: RegistryCount): PackedRegistry =>
  entry.groups === undefined
    ? [entry.registry, entry.count, entry.hosted, entry.replicated ? 1 : 0]
    : [entry.registry, entry.count, entry.hosted, entry.replicated ? 1 : 0, entry.groups];

/** A side's registries as tuples, made once per list (so that their JSON is made once too). */
const packedLists = new WeakMap<readonly RegistryCount[], PackedRegistry[]>();
function packedRegistries(registries: readonly RegistryCount[]): PackedRegistry[] {
  let packed = packedLists.get(registries);
  if (packed === undefined) {
    packed = registries.map(packRegistry);
    packedLists.set(registries, packed);
  }
  return packed;
}

const unpackRegistry = ([registry, count, hosted, replicated, groups]: PackedRegistry) =>
  ({
    registry,
    count,
    hosted,
    replicated: replicated === 1,
    ...(groups !== undefined ? { groups } : {}),
  }) satisfies RegistryCount;

/** `object` without the fields equal (by JSON) to `defaults`' and the names equal to `key`. */
function withoutDefaults(
  object: object,
  defaults: Record<string, unknown>,
  key: string,
): Record<string, unknown> {
  const packed: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(object)) {
    if (value === undefined) continue;
    if (NAME_FIELDS.has(field) && value === key) continue;
    if (field in defaults && sameJson(value, defaults[field])) continue;
    packed[field] = value;
  }
  return packed;
}

/** Members packed, and the defaults they were packed against. */
export interface PackedMembers<Sees> {
  members: Array<PackedMember<Sees>>;
  defaults: MemberDefaults;
}

/**
 * The packing as steps: it yields after every `perPart` members of each of its two passes
 * (counting the values, then leaving out the defaults), so that a caller may give the event loop
 * a turn between them (see {@link packMembersInParts}).
 */
function* packing<Sees>(
  members: ReadonlyArray<MemberOf<Sees>>,
  perPart: number,
): Generator<void, PackedMembers<Sees>, void> {
  const beamValues = new ValueCounts();
  const kubernetesValues = new ValueCounts();
  const partitionValues = new ValueCounts();
  const sides: Array<Record<string, unknown> | null> = [];
  for (let index = 0; index < members.length; index++) {
    if (index > 0 && index % perPart === 0) yield;
    const member = members[index]!;
    // Registries are packed before the defaults are chosen, so that equal tuples count as equal.
    const side = member.beam
      ? { ...member.beam, registries: packedRegistries(member.beam.registries) }
      : null;
    sides.push(side);
    beamValues.add(side);
    kubernetesValues.add(member.kubernetes);
    partitionValues.add({ partition: member.partition });
  }
  const beamDefaults = beamValues.common();
  const kubernetesDefaults = kubernetesValues.common();
  const partition = partitionValues.common();
  const defaults: MemberDefaults = {
    ...('partition' in partition ? { partition: partition.partition as number | null } : {}),
    kubernetes: kubernetesDefaults as Partial<KubernetesMember>,
    beam: beamDefaults,
  };
  const packed: Array<PackedMember<Sees>> = [];
  for (let index = 0; index < members.length; index++) {
    if (index > 0 && index % perPart === 0) yield;
    const member = members[index]!;
    const side = sides[index];
    const out: PackedMember<Sees> = {
      key: member.key,
      kubernetes:
        member.kubernetes && withoutDefaults(member.kubernetes, kubernetesDefaults, member.key),
      beam: side ? (withoutDefaults(side, beamDefaults, member.key) as PackedSide<Sees>) : null,
    };
    if (member.node !== member.key) out.node = member.node;
    if (!('partition' in defaults) || member.partition !== defaults.partition)
      out.partition = member.partition;
    packed.push(out);
  }
  return { members: packed, defaults };
}

export function packMembers<Sees>(members: ReadonlyArray<MemberOf<Sees>>): PackedMembers<Sees> {
  const steps = packing(members, Infinity);
  let step = steps.next();
  while (!step.done) step = steps.next();
  return step.value;
}

/**
 * {@link packMembers}, `perPart` members at a time with `between` awaited in between: packing a
 * 1,000-node keyframe took one task of 20 ms on a quiet machine and up to 80 ms under load.
 */
export async function packMembersInParts<Sees>(
  members: ReadonlyArray<MemberOf<Sees>>,
  between: () => Promise<void>,
  perPart = 100,
): Promise<PackedMembers<Sees>> {
  const steps = packing(members, perPart);
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done) return step.value;
    await between();
  }
}

/** The member {@link packMembers} packed against `defaults`. */
export function unpackMember<Sees>(
  member: PackedMember<Sees>,
  defaults: MemberDefaults,
): MemberOf<Sees> {
  const { key } = member;
  let beam: SideOf<Sees> | null = null;
  if (member.beam) {
    const side = { ...defaults.beam, ...member.beam } as PackedSide<Sees>;
    beam = {
      ...side,
      node: side.node ?? key,
      registries: (side.registries ?? []).map(unpackRegistry),
    } as SideOf<Sees>;
  }
  const kubernetes = member.kubernetes && {
    ...defaults.kubernetes,
    ...member.kubernetes,
    beamNode: member.kubernetes.beamNode === undefined ? key : member.kubernetes.beamNode,
  };
  return {
    key,
    node: member.node === undefined ? key : member.node,
    kubernetes: kubernetes as KubernetesMember | null,
    beam,
    partition: member.partition === undefined ? (defaults.partition ?? null) : member.partition,
  };
}

/** A registry's share on one node as a tuple: node, partition, count, hosted. */
export type PackedShare = [string, number | null, number, number | null];

/** A registry summary with its shares as tuples. */
export type PackedRegistrySummary = Omit<RegistrySummary, 'shares'> & { shares: PackedShare[] };

/** The summaries with their per-node shares as tuples (one a node, for every registry). */
export function packRegistries(registries: readonly RegistrySummary[]): PackedRegistrySummary[] {
  return registries.map((summary) => ({
    ...summary,
    shares: summary.shares.map((share): PackedShare => [
      share.node,
      share.partition,
      share.count,
      share.hosted,
    ]),
  }));
}

/** The summaries {@link packRegistries} packed. */
export function unpackRegistries(registries: readonly PackedRegistrySummary[]): RegistrySummary[] {
  return registries.map((summary) => ({
    ...summary,
    shares: summary.shares.map(([node, partition, count, hosted]): RegistryShare => ({
      node,
      partition,
      count,
      hosted,
    })),
  }));
}
