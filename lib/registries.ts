/**
 * Registries as the dashboard reads them. A replicated registry's count is the size of a node's
 * copy — the same on every node when they agree, and never a per-node figure; what a node hosts
 * is the entries whose process lives there. Summaries put the two side by side per registry,
 * count each entry once, and check that what the nodes host adds up to the registry's size.
 */
import type {
  BeamSide,
  ClusterMember,
  RegistryCount,
  RegistryShare,
  RegistrySummary,
} from './cluster-state';
import { compareNames } from './names';

/** The backends beamscope counts, as the `registry` key of a {@link RegistryCount} names them. */
export type RegistryBackend =
  'swarm' | 'global' | 'pg' | 'syn' | 'syn_groups' | 'horde' | 'horde_supervisor' | 'registry';

/** A registry key split into its backend and, where there can be several, its name. */
export function registryKeyParts(registry: string): {
  backend: RegistryBackend;
  name: string | null;
} {
  const colon = registry.indexOf(':');
  const backend = (colon < 0 ? registry : registry.slice(0, colon)) as RegistryBackend;
  return { backend, name: colon < 0 ? null : registry.slice(colon + 1) };
}

const BACKEND_LABELS: Record<RegistryBackend, string> = {
  swarm: 'Swarm',
  global: ':global',
  pg: ':pg',
  syn: 'syn',
  syn_groups: 'syn groups',
  horde: 'Horde',
  horde_supervisor: 'Horde supervisor',
  registry: 'Registry',
};

/** What an operator calls it: `Swarm`, `syn devices`, `Horde MyApp.DeviceRegistry`. */
export function registryLabel(registry: string): string {
  const { backend, name } = registryKeyParts(registry);
  const label = BACKEND_LABELS[backend] ?? backend;
  return name === null ? label : `${label} ${name}`;
}

/** What one entry is, in the plural: names, members, children, keys. */
export function registryUnit(registry: string): string {
  const { backend } = registryKeyParts(registry);
  if (backend === 'pg' || backend === 'syn_groups') return 'members';
  if (backend === 'horde_supervisor') return 'children';
  if (backend === 'registry') return 'keys';
  return 'names';
}

/**
 * Registrations a node hosts, for the graph's mark size and the strip chart: what each registry
 * hosts there, summed — each registration where its process lives, never a copy's size. A
 * process registered in two backends counts twice (the demo registers each device in Swarm,
 * Horde and syn), which is why the page calls these registrations, not devices. Group memberships
 * are left out: a process in three groups is one process, not three registrations.
 */
export function hostedNames(side: BeamSide): number | null {
  let total: number | null = null;
  for (const registry of side.registries) {
    const { backend } = registryKeyParts(registry.registry);
    if (backend === 'pg' || backend === 'syn_groups') continue;
    const hosted = registry.hosted ?? (registry.replicated ? null : registry.count);
    if (hosted !== null) total = (total ?? 0) + hosted;
  }
  return total;
}

/** Below this many hosted entries per node on average, a node hosting none is not flagged. */
const IDLE_AFTER_MEAN = 10;

type ShareWithKind = RegistryShare & { replicated: boolean; groups?: number };

function summarize(
  registry: string,
  shares: ShareWithKind[],
  mainPartition: number | null,
): RegistrySummary {
  const replicated = shares.some((share) => share.replicated);
  const plain = shares.map(({ replicated: _replicated, groups: _groups, ...share }) => share);
  const inMain = shares.filter(
    (share) => mainPartition === null || share.partition === mainPartition,
  );
  const counts = inMain.map((share) => share.count);
  const agreed = counts.length > 0 && counts.every((count) => count === counts[0]);
  const total = replicated
    ? counts.length > 0
      ? Math.max(...counts)
      : Math.max(0, ...shares.map((share) => share.count))
    : shares.reduce((sum, share) => sum + share.count, 0);
  const hosted = inMain.map((share) => share.hosted);
  const known = hosted.filter((value): value is number => value !== null);
  const hostedTotal = known.length > 0 ? known.reduce((sum, value) => sum + value, 0) : null;
  const mean = known.length > 0 && hostedTotal !== null ? hostedTotal / known.length : 0;
  const imbalance =
    known.length >= 2 && mean > 0 ? Math.round((Math.max(...known) / mean) * 100) / 100 : null;
  // Idle: a node that could host entries of a replicated registry and holds none, where the
  // others hold enough that none is not chance (10 names over 7 nodes leave some with none). A
  // node-local registry with no keys on some node is just that.
  const idle =
    replicated && hostedTotal !== null && mean >= IDLE_AFTER_MEAN
      ? inMain.filter((share) => share.hosted === 0).map((share) => share.node)
      : [];
  const invariant =
    replicated && agreed && known.length === inMain.length && hostedTotal !== null
      ? { holds: hostedTotal === counts[0], size: counts[0]!, hostedSum: hostedTotal }
      : null;
  const groupCounts = shares
    .map((share) => share.groups)
    .filter((value): value is number => value !== undefined);
  return {
    registry,
    replicated,
    shares: plain,
    total,
    hostedTotal,
    imbalance,
    idle,
    invariant,
    ...(groupCounts.length > 0 ? { groups: Math.max(...groupCounts) } : {}),
  };
}

/**
 * Every registry the members report, across the cluster, in a stable order: the shares of each
 * node (its copy's size and what it hosts), the total with each entry counted once, the spread of
 * hosted entries over the main partition and the invariant that they add up.
 */
export function registrySummaries(
  members: readonly ClusterMember[],
  mainPartition: number | null,
): RegistrySummary[] {
  const inputs: SummaryInput[] = [];
  for (const member of members) {
    const side = member.beam;
    if (!side || side.connection.status !== 'connected') continue;
    inputs.push({ node: side.node, partition: member.partition, registries: side.registries });
  }
  if (last && last.mainPartition === mainPartition && sameInputs(last.inputs, inputs))
    return last.summaries;
  const byRegistry = new Map<string, ShareWithKind[]>();
  for (const { node, partition, registries } of inputs) {
    for (const entry of registries) {
      const share: ShareWithKind = {
        node,
        partition,
        count: entry.count,
        hosted: entry.hosted,
        replicated: entry.replicated,
        ...(entry.groups !== undefined ? { groups: entry.groups } : {}),
      };
      const list = byRegistry.get(entry.registry);
      if (list) list.push(share);
      else byRegistry.set(entry.registry, [share]);
    }
  }
  const summaries = [...byRegistry.entries()]
    .sort(([a], [b]) => compareNames(a, b))
    .map(([registry, shares]) =>
      summarize(
        registry,
        shares.sort((x, y) => compareNames(x.node, y.node)),
        mainPartition,
      ),
    );
  last = { inputs, mainPartition, summaries };
  return summaries;
}

/** What the summaries are made of, per connected member. */
interface SummaryInput {
  node: string;
  partition: number | null;
  registries: readonly RegistryCount[];
}

/**
 * The last summaries and what they were made of. The collector rebuilds its state several times
 * a second, and at 1,000 nodes the summaries (a share per node and registry, sorted by name)
 * were a tenth of the server's time; between two rebuilds the members' counts are mostly the
 * very same arrays (the collector keeps unchanged counts' identity), so one pass of identity
 * checks finds them unchanged. The summaries are never changed after they are made.
 */
let last:
  | { inputs: SummaryInput[]; mainPartition: number | null; summaries: RegistrySummary[] }
  | undefined;

function sameInputs(a: readonly SummaryInput[], b: readonly SummaryInput[]): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index += 1) {
    const x = a[index]!;
    const y = b[index]!;
    if (x.registries !== y.registries || x.node !== y.node || x.partition !== y.partition)
      return false;
  }
  return true;
}

/** What a member's row shows for one registry: hosted, with the copy's size beside it. */
export function shareOf(side: BeamSide | null, registry: string): RegistryCount | undefined {
  return side?.registries.find((entry) => entry.registry === registry);
}
