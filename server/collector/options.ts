import 'server-only';

// What a collector is given (its upstreams, as seams, and its knobs) and every knob's default,
// resolved once here so that no part of the collector carries a default of its own.

import type { DistributionStatus } from '@/lib/cluster-state';
import type { KubernetesMember, KubernetesSourceStatus } from '@/lib/members';

import type { BeamscopeError } from '../errors';
import type { ConnectionManager, NodeConnectionState } from '../erlang/manager';
import { PROBE_TIMEOUT_MS, type NodeProbeReport, type ProbeOptions } from '../erlang/probes';
import { DEFAULT_CODE_SCAN, type CodeScanSettings } from './code-scans';
import type { CopyComparison } from './divergence';
import type { LinkPlan, LinkReading } from './link-follower';
import type { KubernetesSourceEvents } from '../kubernetes/source';

/** What the collector needs of a `KubernetesSource` (a seam: tests may pass their own). */
export interface CollectorSource {
  members(): KubernetesMember[];
  status(): KubernetesSourceStatus;
  on<K extends keyof KubernetesSourceEvents>(
    event: K,
    listener: (...args: KubernetesSourceEvents[K]) => void,
  ): unknown;
  off<K extends keyof KubernetesSourceEvents>(
    event: K,
    listener: (...args: KubernetesSourceEvents[K]) => void,
  ): unknown;
}

/** What the collector needs of a `ConnectionManager`. */
export interface CollectorManager {
  track(nodes: string[]): void;
  state(node: string): NodeConnectionState;
  rpc: ConnectionManager['rpc'];
  on(event: 'state', listener: (node: string, state: NodeConnectionState) => void): unknown;
  off(event: 'state', listener: (node: string, state: NodeConnectionState) => void): unknown;
  /** Takes a node's connection down with `reason` (see ConnectionManager.drop). */
  drop?(node: string, reason: BeamscopeError): void;
  /**
   * Runs one whole probe of `node` where the connections are, its links read as `links` plans
   * and followed there (a manager on a thread of its own: see `thread/`). Without it the
   * collector runs `runProbes` over `rpc` and follows the links itself.
   */
  probe?(
    node: string,
    options: ProbeOptions,
    links: LinkPlan,
  ): Promise<{ report: NodeProbeReport; links: LinkReading }>;
  /**
   * Compares the copies of `registry` on `nodes` where the connections are, at the pace of its
   * own budget (see `compareCopies`); without it the collector compares over `rpc` itself.
   */
  compare?(
    registry: string,
    nodes: readonly string[],
    options: { timeoutMs: number },
  ): Promise<CopyComparison | null>;
}

/** Why a cluster has no distribution side, as every member and `doctor` show it. */
export type DistributionError = Omit<Extract<DistributionStatus, { state: 'error' }>, 'state'>;

export interface CollectorOptions {
  clusterId: string;
  /** beamscope's own node name, shown in the state. */
  localNode: string;
  source: CollectorSource;
  /** The cluster's connection manager; null when the distribution side cannot run (no cookie). */
  manager: CollectorManager | null;
  /** Why `manager` is null, shown on every member and by `doctor`. */
  distributionError?: DistributionError;
  /** How often every connected node is probed; default 2000 ms. */
  pollIntervalMs?: number;
  /** Probes in flight at once; default one per 16 nodes, at least 4 and at most 64. */
  probeConcurrency?: number;
  /** Options of each probe run (timeouts, registries to count). */
  probe?: ProbeOptions;
  /** Messages kept for `Last-Event-ID` resumption; default 2000. */
  maxMessages?: number;
  /**
   * Bound on the replay ring's total weight (one per message, plus one per member and per peer
   * name a delta carries: see `deltaWeight`), so a large cluster keeps fewer, not bigger,
   * messages; default 200 000 (a few MB of peer lists at most).
   */
  maxMessageWeight?: number;
  /** Registry count changes are merged and told at most this often; default 10 000 ms. */
  registryEventIntervalMs?: number;
  /** Timeline events kept for snapshots; default 500. */
  maxTimeline?: number;
  /**
   * Summary events (a partition, a mass join) whose full lists are kept for
   * `GET /api/clusters/{id}/events/{seq}`, and the items (links, members, side nodes) kept in
   * all; defaults 50 and 2,000,000 (16 MB of links). The newest event's lists are always kept.
   */
  maxDetails?: number;
  maxDetailsWeight?: number;
  /** History window per node; default one hour. */
  historyWindowMs?: number;
  /**
   * Hosted entries are counted at least this often per node, and sooner when a sign says they
   * may have changed (see `hosted-cadence.ts`); default 60 000 ms.
   */
  hostedRefreshMs?: number;
  /** When and how each node's code is scanned for skew (see `code-scans.ts`). */
  codeScan?: Partial<CodeScanSettings>;
  now?: () => number;
}

/** The options with every default filled in. */
export interface CollectorSettings {
  clusterId: string;
  localNode: string;
  source: CollectorSource;
  manager: CollectorManager | null;
  distributionError: DistributionError | undefined;
  pollIntervalMs: number;
  /** A fixed number of probes in flight, or `undefined` to scale with the cluster. */
  probeConcurrency: number | undefined;
  /** Nodes asked at once by a name lookup. */
  lookupConcurrency: number;
  probe: ProbeOptions & { timeoutMs: number };
  maxMessages: number;
  maxMessageWeight: number;
  registryEventIntervalMs: number;
  maxTimeline: number;
  maxDetails: number | undefined;
  maxDetailsWeight: number | undefined;
  historyWindowMs: number;
  hostedRefreshMs: number;
  codeScan: CodeScanSettings;
  now: () => number;
}

/** Fills in every default of {@link CollectorOptions}. */
export function resolveOptions(options: CollectorOptions): CollectorSettings {
  return {
    clusterId: options.clusterId,
    localNode: options.localNode,
    source: options.source,
    manager: options.manager,
    distributionError: options.distributionError,
    pollIntervalMs: options.pollIntervalMs ?? 2000,
    probeConcurrency: options.probeConcurrency,
    // A lookup is rare and asked by a person: a few nodes at a time, whatever the cluster's size.
    lookupConcurrency: Math.max(1, options.probeConcurrency ?? 4),
    probe: { ...options.probe, timeoutMs: options.probe?.timeoutMs ?? PROBE_TIMEOUT_MS },
    maxMessages: options.maxMessages ?? 2000,
    maxMessageWeight: options.maxMessageWeight ?? 200_000,
    registryEventIntervalMs: options.registryEventIntervalMs ?? 10_000,
    maxTimeline: options.maxTimeline ?? 500,
    // Defaults in the event stream, which holds them.
    maxDetails: options.maxDetails,
    maxDetailsWeight: options.maxDetailsWeight,
    historyWindowMs: options.historyWindowMs ?? 3_600_000,
    hostedRefreshMs: options.hostedRefreshMs ?? 60_000,
    codeScan: { ...DEFAULT_CODE_SCAN, ...options.codeScan },
    now: options.now ?? Date.now,
  };
}
