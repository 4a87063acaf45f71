import 'server-only';

// Which of a probe's heavier reads the next probe of a node makes. Measured at 1,000 simulated
// nodes (docs/performance.md, "Probe cost and scale"), the collector's time went to decoding
// replies, and most of what it decoded were peer lists: every node's `erlang:nodes(visible)` is a
// thousand atoms, a million per cycle. A peer list changes when a connection comes or goes, and
// the node's connection count (`sys_dist`'s size, O(1) on the node) moves with it. So in a large
// cluster the count is read at every probe and the list only when it is likely to say something
// new. Versions change only with a restart (a new connection): they are read once per connection
// and refreshed now and then.

import type { AbsenceKnown, NodeProbeReport, ProbeField } from '../erlang/probes';

/** Up to this many tracked nodes every probe reads every peer list, as before. */
export const FULL_PEER_LISTS_UP_TO = 100;

/**
 * In a large cluster a node's list is still read every `peers / this` probes however quiet its
 * count: a node that lost one peer and gained another between two probes keeps its count.
 */
export const PEER_LIST_PEERS_PER_PROBE = 100;

/** Report fields the collector never shows: never asked for. */
export const UNUSED_FIELDS: readonly ProbeField[] = [
  'ertsVersion',
  'processLimit',
  'schedulers',
  'schedulersOnline',
  'hiddenNodes',
];

/** Fields that change only with a restart or an operator's hand: read per connection. */
export const VERSION_FIELDS = ['otpRelease', 'elixirVersion', 'netTicktimeSeconds'] as const;
export type Versions = Pick<NodeProbeReport, (typeof VERSION_FIELDS)[number]>;

/** What a probe may take as known on a connection: its versions and the registries it lacks. */
export interface KnownFacts {
  versions: Versions;
  absent: ReadonlySet<AbsenceKnown>;
}

const ABSENCE_KNOWN: readonly AbsenceKnown[] = ['global', 'swarm', 'pg', 'syn'];

/**
 * The facts of a probe that asked for them: versions that all answered, and the registries it
 * found absent (a registry that failed to answer is not taken as absent). Undefined when a
 * version failed: the next probe asks again.
 */
export function factsOf(report: NodeProbeReport): KnownFacts | undefined {
  if (VERSION_FIELDS.some((name) => report.errors[name] !== undefined)) return undefined;
  const { otpRelease, elixirVersion, netTicktimeSeconds } = report;
  const absent = new Set(
    ABSENCE_KNOWN.filter((name) => report.registries[name].status === 'absent'),
  );
  return { versions: { otpRelease, elixirVersion, netTicktimeSeconds }, absent };
}

/** In a large cluster versions are read again every this many probes of a node (60 s at 2 s). */
export const VERSION_REFRESH_PROBES = 30;

interface PeerEntry {
  /** The connection count at the last probe; null until one was read. */
  count: number | null;
  /** Probes since the list was last read. */
  skipped: number;
  /** A peer's list changed in a way that involves this node: read its list next time. */
  stale: boolean;
}

/** Decides, node by node, when a probe reads the whole peer list. */
export class PeerCadence {
  private readonly nodes = new Map<string, PeerEntry>();

  /**
   * Whether the next probe of `node` reads its peer list, in a cluster of `clusterSize` tracked
   * nodes where the node last listed `peers` peers: always in a small cluster, when nothing is
   * known yet, when a peer's change involved this node, or after `peers / 100` quiet probes.
   */
  listDue(node: string, clusterSize: number, peers: number | null): boolean {
    if (clusterSize <= FULL_PEER_LISTS_UP_TO || peers === null) return true;
    const entry = this.nodes.get(node);
    if (!entry || entry.count === null || entry.stale) return true;
    return entry.skipped + 1 >= Math.max(1, Math.ceil(peers / PEER_LIST_PEERS_PER_PROBE));
  }

  /**
   * Records a probe's connection count. Returns true when the list was not read and the count
   * moved: the caller then reads the list at once, in the same probe.
   */
  counted(node: string, count: number | null, listed: boolean): boolean {
    const entry = this.nodes.get(node) ?? { count: null, skipped: 0, stale: false };
    this.nodes.set(node, entry);
    const moved = entry.count !== count;
    entry.count = count;
    if (listed) {
      entry.skipped = 0;
      entry.stale = false;
      return false;
    }
    entry.skipped += 1;
    return moved;
  }

  /** A list was read after all (the count moved). */
  listed(node: string): void {
    const entry = this.nodes.get(node);
    if (!entry) return;
    entry.skipped = 0;
    entry.stale = false;
  }

  /**
   * `node`'s list went from `before` to `after`: the peers that came or went read their own
   * lists at their next probe, so a link's two ends are seen together even when a peer's count
   * did not move (one link lost and another gained between two probes).
   */
  changed(before: readonly string[] | null, after: readonly string[]): void {
    if (!before) return;
    const was = new Set(before);
    const now = new Set(after);
    for (const peer of after) if (!was.has(peer)) this.markStale(peer);
    for (const peer of before) if (!now.has(peer)) this.markStale(peer);
  }

  /** Forgets a node (gone, or reconnected: a new incarnation starts from a full read). */
  forget(node: string): void {
    this.nodes.delete(node);
  }

  private markStale(node: string): void {
    const entry = this.nodes.get(node);
    if (entry) entry.stale = true;
  }
}

/**
 * Each node's versions and missing registries as read on its current connection, and how many
 * probes ago.
 */
export class VersionCadence {
  private readonly nodes = new Map<string, { facts: KnownFacts; age: number }>();

  /**
   * The facts to reuse for the next probe of `node` instead of asking, or undefined to ask:
   * always asked in a small cluster, on a new connection, and every `VERSION_REFRESH_PROBES`.
   */
  reuse(node: string, clusterSize: number): KnownFacts | undefined {
    if (clusterSize <= FULL_PEER_LISTS_UP_TO) return undefined;
    const entry = this.nodes.get(node);
    if (!entry || entry.age + 1 >= VERSION_REFRESH_PROBES) return undefined;
    entry.age += 1;
    return entry.facts;
  }

  /** Records the facts of a probe that asked (see {@link factsOf}; undefined: ask again). */
  record(node: string, facts: KnownFacts | undefined): void {
    if (facts) this.nodes.set(node, { facts, age: 0 });
    else this.nodes.delete(node);
  }

  forget(node: string): void {
    this.nodes.delete(node);
  }
}

/**
 * In a large cluster a settled node's registries are read every this many probes (6 s at 2 s):
 * four to six of a probe's ten calls, for counts that move when names do.
 */
export const REGISTRY_EVERY_PROBES = 3;

/** Decides, node by node, whether the next probe reads the registries. */
export class RegistryCadence {
  private readonly skipped = new Map<string, number>();

  /**
   * Always in a small cluster, at a node's first probe, and when `mustRead` (the cluster is
   * unsettled, hosted entries are due to be counted, versions are asked); else every
   * `REGISTRY_EVERY_PROBES`.
   */
  due(node: string, clusterSize: number, mustRead: boolean): boolean {
    const skipped = this.skipped.get(node);
    if (
      clusterSize <= FULL_PEER_LISTS_UP_TO ||
      mustRead ||
      skipped === undefined ||
      skipped + 1 >= REGISTRY_EVERY_PROBES
    ) {
      this.skipped.set(node, 0);
      return true;
    }
    this.skipped.set(node, skipped + 1);
    return false;
  }

  forget(node: string): void {
    this.skipped.delete(node);
  }
}
