import 'server-only';

// How a node's probe report and connection state become its BeamSide: registry counts, peer
// lists that keep their identity while unchanged, and which connection changes are shown.

import type { BeamConnection, BeamSide, PeerLink, RegistryCount } from '@/lib/cluster-state';
import { deepEqual } from '@/lib/cluster-diff';

import type { NodeConnectionState } from '../erlang/manager';
import type { NodeList, NodeProbeReport } from '../erlang/probes';
import { NameOrder } from './name-order';

/**
 * Probe fields that cost the node next to nothing and are asked at every probe: when both timed
 * out, and so did every other cheap one that was asked this time, the node answered nothing at
 * all within the probe timeout — it is frozen or hopelessly overloaded, not merely slow to count
 * a registry.
 */
const LIVENESS_FIELDS = ['uptimeMs', 'processCount'] as const;
/** Cheap fields a probe may leave out (read once per connection, or only when they moved). */
const SOMETIMES_ASKED = ['otpRelease', 'connectedNodes', 'connectionCount'] as const;

/** True when the node answered none of the cheap probes in time (see `LIVENESS_FIELDS`). */
export function answeredNothing(report: NodeProbeReport): boolean {
  const timedOut = (name: keyof NodeProbeReport['errors']) =>
    report.errors[name]?.code === 'timeout';
  return (
    LIVENESS_FIELDS.every(timedOut) &&
    SOMETIMES_ASKED.every((name) => report.errors[name] === undefined || timedOut(name))
  );
}

/** A registry every node holds whole: each node's count is the cluster's. */
const replicated = (registry: string, count: number, hosted: number | null, groups?: number) =>
  ({
    registry,
    count,
    hosted,
    replicated: true,
    ...(groups !== undefined ? { groups } : {}),
  }) satisfies RegistryCount;

/** A registry local to its node: every entry it counts lives there. */
const local = (registry: string, count: number) =>
  ({ registry, count, hosted: count, replicated: false }) satisfies RegistryCount;

/**
 * The registries the report found, as the state counts them: copy size and hosted entries. A
 * probe that did not count hosted entries (see `countHosted`) keeps those of `previous`.
 */
export function registryCounts(
  report: NodeProbeReport['registries'],
  previous: RegistryCount[] = [],
): RegistryCount[] {
  const counts: RegistryCount[] = [];
  const { global, swarm, pg, syn, horde, hordeSupervisors, elixirRegistries } = report;
  if (global.status === 'present')
    counts.push(replicated('global', global.names, global.hostedHere));
  if (swarm.status === 'present') counts.push(replicated('swarm', swarm.names, swarm.hostedHere));
  // Memberships, summed over the groups; a scope with more groups than one probe samples is left
  // out rather than shown short (its groups are in the node's details).
  if (pg.status === 'present' && pg.members !== null)
    counts.push(replicated('pg', pg.members, pg.localMembers, pg.groups));
  if (syn.status === 'present') {
    for (const scope of syn.scopes) {
      if (scope.names !== null)
        counts.push(replicated(`syn:${scope.scope}`, scope.names, scope.hostedHere));
      if (scope.members !== null)
        counts.push(replicated(`syn_groups:${scope.scope}`, scope.members, scope.localMembers));
    }
  }
  for (const entry of horde) {
    if (entry.status === 'present')
      counts.push(replicated(`horde:${entry.name}`, entry.names, entry.hostedHere));
  }
  for (const entry of hordeSupervisors) {
    if (entry.status !== 'present') continue;
    const registry = `horde_supervisor:${entry.name}`;
    const children = entry.children ?? previous.find((last) => last.registry === registry)?.count;
    if (children !== undefined) counts.push(local(registry, children));
  }
  for (const entry of elixirRegistries) {
    if (entry.status === 'present') counts.push(local(`registry:${entry.name}`, entry.keys));
  }
  const result = counts.map((entry) => {
    if (entry.hosted !== null || !entry.replicated) return entry;
    const last = previous.find((candidate) => candidate.registry === entry.registry);
    return last && last.hosted !== null ? { ...entry, hosted: last.hosted } : entry;
  });
  // Unchanged counts keep the previous array: the state's registry summaries are rebuilt only
  // when some node's counts are not the very same (`registrySummaries`).
  return sameCounts(result, previous) ? previous : result;
}

function sameCounts(a: readonly RegistryCount[], b: readonly RegistryCount[]): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index += 1) {
    const x = a[index]!;
    const y = b[index]!;
    if (
      x.registry !== y.registry ||
      x.count !== y.count ||
      x.hosted !== y.hosted ||
      x.replicated !== y.replicated ||
      x.groups !== y.groups
    )
      return false;
  }
  return true;
}

const sameNames = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((name, index) => name === b[index]);

/**
 * Each node's peer list, sorted, and the same array as last time while the peers are the same:
 * diffs then see by identity that a node's peers did not change, without comparing thousands of
 * names per poll. What is kept of the last raw list is its fingerprint, not its names: keeping
 * every node's whole `nodes()` answer held N² names for a whole mesh, the sorted list beside it
 * as many again. The fingerprint is 64 bits over the names' ids in one table shared by every
 * node's list (`NameOrder`), one lookup per name: a collision would only keep a node's previous
 * list shown until its next change; a node cannot gain by one what it could not by lying.
 */
export class PeerLists {
  /** Each node's last `nodes()` list as it arrived, fingerprinted, to skip re-sorting it. */
  private readonly raw = new Map<string, string>();
  /** One name table for every node's list: they name nearly the same nodes. */
  private readonly order = new NameOrder();

  /** The node's sorted peers from `names`, reusing `previous` when they are the same. */
  sees(node: string, previous: readonly string[] | null, names: string[]): string[] {
    const raw = this.raw.get(node);
    const ids = this.order.idsOf(names);
    const print = this.order.fingerprint(ids);
    this.raw.set(node, print);
    // Nodes answer `nodes()` in a stable order: the same list as last time needs no sort.
    if (previous && raw === print) return previous as string[];
    const sorted = this.order.sortIds(ids);
    return previous && sameNames(previous, sorted) ? (previous as string[]) : sorted;
  }

  forget(node: string): void {
    this.raw.delete(node);
  }
}

function toConnection(state: NodeConnectionState): BeamConnection {
  return 'reason' in state
    ? { status: state.status, since: state.since, code: state.code, reason: state.reason }
    : { status: state.status, since: state.since };
}

/** `side` with the manager's `state` applied; `side` itself when there is nothing to show. */
export function withConnection(side: BeamSide, state: NodeConnectionState): BeamSide {
  const current = side.connection.status;
  // A reconnect attempt after a failure keeps showing the failure: the state then does not
  // flap between "auth_failed" and "connecting" with every backoff round.
  if (
    state.status === 'connecting' &&
    (current === 'auth_failed' || current === 'unreachable' || current === 'timeout')
  ) {
    return side;
  }
  if (current === state.status && side.connection.since === state.since) return side;
  const connection = toConnection(state);
  return state.status === 'connected'
    ? { ...side, connection }
    : // What a node sees is only known while beamscope is connected to it.
      { ...side, connection, sees: null };
}

/** No node's peer list is kept longer than this, whatever the cluster's size. */
export const PEER_LIST_HARD_CAP = 10_000;

/**
 * How many peers a node's list may hold in a cluster of `members` tracked nodes: twice the
 * cluster and some (ghosts, nodes of another app sharing the cookie). A list past it is bad
 * input — a broken or hostile node — and is capped and flagged, never expanded into the mesh.
 */
export function peerListCap(members: number): number {
  return Math.min(PEER_LIST_HARD_CAP, 2 * members + 64);
}

/** The line that flags a capped peer list, or null when the list is whole. */
export function cappedPeersReason(list: NodeList | null): string | null {
  if (!list?.truncated) return null;
  return `reported ${list.count.toLocaleString('en-US')} connected nodes, far more than the cluster holds: kept the first ${list.nodes.length.toLocaleString('en-US')}`;
}

/**
 * `side` after a probe that returned `report` at `at`; `sees` is its peer list, if known, and
 * `links` its links as the collector follows them (see `links.ts`).
 */
export function probedSide(
  side: BeamSide,
  report: NodeProbeReport,
  at: number,
  sees: string[] | null,
  links: PeerLink[] | null = null,
  cappedReason: string | null = cappedPeersReason(report.connectedNodes),
): BeamSide {
  const firstError = Object.values(report.errors)[0];
  return {
    ...side,
    otpRelease: report.otpRelease ?? side.otpRelease,
    elixirVersion: report.elixirVersion,
    processCount: report.processCount,
    memoryBytes: report.memory?.total ?? null,
    runQueue: report.runQueue,
    uptimeMs: report.uptimeMs,
    sees,
    registries: registryCounts(report.registries, side.registries),
    netTicktimeSeconds: report.netTicktimeSeconds,
    links,
    distBufBusyLimitBytes: report.links?.busyLimitBytes ?? side.distBufBusyLimitBytes,
    probedAt: at,
    probeMs: report.durationMs,
    // A capped peer list is the news: the mesh drawn from it is not the node's whole story.
    probeError: cappedReason ?? firstError?.message ?? null,
  };
}

/**
 * The fields of a side that move at nearly every probe of a healthy node: its gauges (process
 * count, memory, run queue), its clock (uptime, when and how long it was probed) and its links'
 * packet rates and queues. A change of these alone is news for a table or a chart, not for the
 * mesh, the registries or the timeline.
 */
const GAUGE_FIELDS: ReadonlySet<keyof BeamSide> = new Set<keyof BeamSide>([
  'processCount',
  'memoryBytes',
  'runQueue',
  'uptimeMs',
  'probedAt',
  'probeMs',
  'links',
]);

/**
 * True when a probe changed nothing of the node's side but its gauges (see `GAUGE_FIELDS`), and
 * the side had been probed before: its first probe is always news.
 */
export function onlyGaugesMoved(before: BeamSide, after: BeamSide): boolean {
  if (before.probedAt === null) return false;
  for (const field of Object.keys(after) as Array<keyof BeamSide>) {
    if (GAUGE_FIELDS.has(field) || before[field] === after[field]) continue;
    if (!deepEqual(before[field], after[field])) return false;
  }
  return true;
}
