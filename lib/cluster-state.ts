/**
 * The live model of one cluster, as the server sends it to the browser and the CLI prints it:
 * the members (the union of what Kubernetes lists and the BEAM nodes seen), each with its
 * Kubernetes side and its BEAM side, and the facts derived from them (partitions, unclustered
 * members, ghosts, asymmetric links, version skew, registry disagreement). Plain data only.
 */
import type { ApplicationVersion, CodeScanSummary, CodeSkew, CodeSkewSample } from './code-skew';
import type { BeamConnectionCode, DistributionCode } from './codes';
import type { CauseCount, DownCause } from './down-cause';
import type { KubernetesEvent, KubernetesMember, KubernetesSourceStatus } from './members';

/**
 * Where beamscope stands with a member's node. `untracked`: a node seen in the mesh (a ghost)
 * that beamscope does not connect to itself.
 */
export type BeamConnectionStatus =
  'connecting' | 'connected' | 'unreachable' | 'auth_failed' | 'timeout' | 'untracked';

/** The state of beamscope's own connection to a node. */
export interface BeamConnection {
  status: BeamConnectionStatus;
  /** Since when (ms since the epoch). */
  since: number;
  /** The error code of the last failure, e.g. `auth_failed`, `dist_unreachable`, `node_down`. */
  code?: BeamConnectionCode;
  /** The operator-readable message of the last failure (never the cookie). */
  reason?: string;
}

/**
 * A registry backend's count on one node. `registry` names the backend and, where there can be
 * several, its name: `swarm`, `global`, `pg` (the default scope's group memberships),
 * `syn:<scope>` (syn's registry), `syn_groups:<scope>` (syn's group memberships),
 * `horde:<Registry>`, `horde_supervisor:<Supervisor>` (its children), `registry:<Registry>`
 * (an Elixir `Registry`).
 */
export interface RegistryCount {
  registry: string;
  /**
   * Entries in this node's copy: for a replicated backend the node's view of the whole registry
   * (the same on every node when they agree), for a node-local one what lives on the node.
   */
  count: number;
  /** Entries whose process lives on this node, counted on the node; null when unknown. */
  hosted: number | null;
  /**
   * Every node holds the whole table (`:global`, Swarm, `pg`, syn, a Horde registry): counts
   * that differ between connected nodes mean the registry disagrees. An Elixir Registry and a
   * Horde supervisor's children are local to their node.
   */
  replicated: boolean;
  /** For group backends (`pg`, `syn_groups:`): how many groups the memberships fall in. */
  groups?: number;
}

/**
 * One distribution link as one node sees it (`net_kernel:nodes_info/0` and, for a few links per
 * probe, the distribution port's queue). Rates are packets (distribution frames; a large message
 * goes in 64 kB fragments) per second between the last two readings.
 */
export interface PeerLink {
  peer: string;
  /** Packets per second from and to the peer; null until two readings exist. */
  inRate: number | null;
  outRate: number | null;
  /**
   * Bytes waiting in the distribution port's queue at the last reading of it, null when never
   * read (only a few links are read per probe; a TLS link's controller is not a port). Data
   * queues there only once the kernel's send buffer is full.
   */
  queueBytes: number | null;
  /**
   * Since when beamscope has seen this connection up without a break (ms since the epoch): the
   * node does not tell a connection's age, so this is the first reading that listed it.
   */
  since: number;
}

/** What beamscope learned about a member's BEAM node. A field whose probe failed is `null`. */
export interface BeamSide {
  /** The node name, e.g. `myapp@10.0.0.5`. */
  node: string;
  connection: BeamConnection;
  otpRelease: string | null;
  elixirVersion: string | null;
  processCount: number | null;
  /** `erlang:memory(total)` in bytes. */
  memoryBytes: number | null;
  runQueue: number | null;
  uptimeMs: number | null;
  /**
   * The visible nodes this node is connected to (`erlang:nodes()`), sorted; `null` when unknown
   * (not connected, not probed yet, or the probe failed). Hidden nodes such as beamscope itself
   * are not in it.
   */
  sees: string[] | null;
  registries: RegistryCount[];
  /** `net_kernel:get_net_ticktime()` in seconds (the new value during a change). */
  netTicktimeSeconds: number | null;
  /**
   * The node's visible links, busiest first, at most a few dozen (see `server/collector/links.ts`);
   * null when not read (not connected, or the probe failed).
   */
  links: PeerLink[] | null;
  /** `erlang:system_info(dist_buf_busy_limit)`: the distribution buffer's busy limit, bytes. */
  distBufBusyLimitBytes: number | null;
  /** When the last probe finished (ms since the epoch), null before the first. */
  probedAt: number | null;
  /** How long the last probe took, ms. */
  probeMs: number | null;
  /** The first failure of the last probe, when some field could not be read. */
  probeError: string | null;
  /** The running applications and their versions, as of the last code scan; null before one. */
  applications: ApplicationVersion[] | null;
  /** The last code scan (on a slow cadence, see `server/collector/code-scans.ts`), or null. */
  codeScan: CodeScanSummary | null;
}

/** One member: a pod Kubernetes lists, a BEAM node seen in the mesh, or both. */
export interface ClusterMember {
  /** Stable identity: the BEAM node name when known, else `ip:<pod IP>`. */
  key: string;
  /** The BEAM node name (expected from Kubernetes, or seen in the mesh), when known. */
  node: string | null;
  kubernetes: KubernetesMember | null;
  beam: BeamSide | null;
  /** Index into {@link ClusterState.partitions}, or null when the node is not in the mesh. */
  partition: number | null;
}

/** Why a ready pod's node is outside the main component. */
export type UnclusteredReason =
  'unreachable' | 'auth_failed' | 'name_mismatch' | 'otp_too_old' | 'not_connected_to_peers';

/** A ready pod whose node is not in the main component, with the reason an operator can act on. */
export interface UnclusteredMember {
  key: string;
  node: string | null;
  podName: string | null;
  ip: string | null;
  reason: UnclusteredReason;
  /** One line saying what is wrong, e.g. which layer refused or which name answered. */
  detail: string;
}

/** A link only one side reports: `from` lists `to` among its nodes, `to` does not list `from`. */
export interface AsymmetricLink {
  from: string;
  to: string;
}

/** Nodes grouped by OTP release, when more than one release runs in the cluster. */
export interface OtpSkew {
  releases: Array<{ otpRelease: string; nodes: string[] }>;
}

/** Nodes grouped by `net_ticktime`, when they disagree: each side times its peers out differently. */
export interface TickSkew {
  values: Array<{ seconds: number; nodes: string[] }>;
}

/** A replicated registry whose count differs between nodes of one partition. */
export interface RegistryDisagreement {
  registry: string;
  /** Index into {@link ClusterState.partitions}. */
  partition: number;
  counts: Array<{ node: string; count: number }>;
}

/** One node's share of a registry. */
export interface RegistryShare {
  node: string;
  /** Index into {@link ClusterState.partitions}, null outside the mesh. */
  partition: number | null;
  /** The node's copy: see {@link RegistryCount.count}. */
  count: number;
  hosted: number | null;
}

/**
 * A registry across the cluster: what each node hosts beside its copy's size, the total with each
 * entry counted once, how evenly the entries are spread, and the invariant "what the nodes host
 * sums to the registry's size" — checked, and shown when it breaks.
 */
export interface RegistrySummary {
  registry: string;
  replicated: boolean;
  /** Every node that reports the registry, in node order. */
  shares: RegistryShare[];
  /**
   * Entries counted once: a replicated registry's size in the main partition (the largest copy
   * when copies disagree), a node-local one's sum over the nodes.
   */
  total: number;
  /** What the main partition's nodes host, summed; null when none could count. */
  hostedTotal: number | null;
  /** The busiest node's hosted entries over the mean, in the main partition; null below 2 nodes. */
  imbalance: number | null;
  /** Main-partition nodes that host nothing while others host entries (just joined, say). */
  idle: string[];
  /**
   * Where the main partition's copies agree: whether what its nodes host sums to the copies'
   * size. Null when the copies disagree or a node could not count (nothing to check yet).
   */
  invariant: { holds: boolean; size: number; hostedSum: number } | null;
  /** Group backends: the groups in the largest copy. */
  groups?: number;
}

/** A registry moving entries after the membership changed, as the collector follows it. */
export interface RegistryRebalance {
  registry: string;
  cause: 'scale_up' | 'scale_down';
  /** When the membership changed (ms since the epoch). */
  since: number;
  /** Nodes that joined (scale-up) or left (scale-down). */
  nodes: string[];
  /** Entries moved so far: onto the new nodes, or off the leaving ones. */
  moved: number;
  /** Entries moved per second over the last seconds; null before two samples. */
  ratePerSecond: number | null;
  /** At that rate, how long until the hosted counts are even; null when unknown. */
  etaMs: number | null;
}

/** One name as some replicas of a partition hold it. */
export interface RegistryNameView {
  /** The pid as Erlang prints it, e.g. `<12345.201.0>`, and the node it lives on. */
  pid: string;
  pidNode: string;
  /** The nodes whose copy holds this view. */
  heldBy: string[];
}

/** A partition whose copies of a registry disagree, as the last comparison found it. */
export interface RegistryDivergence {
  registry: string;
  /** Index into {@link ClusterState.partitions}. */
  partition: number;
  /** When the disagreement was first seen, and when it was last compared. */
  since: number;
  comparedAt: number;
  /** Names that some copies hold and others do not: how many, and the first few. */
  missing: {
    count: number;
    sample: Array<{ name: string; heldBy: string[]; missingOn: string[] }>;
  };
  /** Names that resolve to different processes on different copies (netsplit leftovers). */
  duplicates: { count: number; sample: Array<{ name: string; views: RegistryNameView[] }> };
}

/** The state of beamscope's distribution side for a cluster (e.g. an unreadable cookie). */
export type DistributionStatus =
  { state: 'ok' } | { state: 'error'; code: DistributionCode; reason: string };

/** Everything known about one cluster at one moment. */
export interface ClusterState {
  clusterId: string;
  /** When this state was computed (ms since the epoch). */
  at: number;
  /** beamscope's own (hidden) node name. */
  localNode: string;
  kubernetes: KubernetesSourceStatus;
  distribution: DistributionStatus;
  /** Sorted by key (numeric-aware, so `…@10.0.0.9` comes before `…@10.0.0.10`). */
  members: ClusterMember[];
  /**
   * The connected components of the distribution mesh, as sorted node names; the largest first
   * (ties: the one with the smallest node name). A link counts if either side reports it.
   */
  partitions: string[][];
  /** Index of the main component in `partitions` (0 when there is any), null for an empty mesh. */
  mainPartition: number | null;
  asymmetricLinks: AsymmetricLink[];
  unclustered: UnclusteredMember[];
  /** Nodes in the mesh that no Kubernetes member accounts for. */
  ghosts: string[];
  otpSkew: OtpSkew | null;
  /** Nodes whose `net_ticktime` differs from others', null while they agree. */
  tickSkew: TickSkew | null;
  registryDisagreements: RegistryDisagreement[];
  /** Every registry the nodes report, across the cluster. */
  registries: RegistrySummary[];
  /** Rebalances under way (after a scale-up or scale-down). */
  rebalances: RegistryRebalance[];
  /** Partitions whose copies of a registry disagree, by name. */
  divergences: RegistryDivergence[];
  /**
   * Modules (by md5) and applications (by version) that differ between the scanned nodes, as the
   * collector's code scans found them; null when every scanned node runs the same code.
   */
  codeSkew: CodeSkew | null;
}

/** The kinds of timeline events. */
export type TimelineEventKind =
  | 'member_joined'
  | 'member_left'
  | 'pod_ready'
  | 'pod_unready'
  | 'pod_terminating'
  | 'node_up'
  | 'node_down'
  | 'link_up'
  | 'link_down'
  /**
   * Links dropped and made again between two probes (the mesh never showed them missing): one
   * link, a node reconnected to its peers, or a summary of many; see {@link TimelineEventDraft.between}.
   */
  | 'link_flap'
  | 'partition_detected'
  | 'partition_healed'
  | 'registry_changed'
  | 'registry_rebalanced'
  | 'registry_diverged'
  | 'registry_converged'
  | 'kubernetes_event'
  | 'observation_gap'
  /** Code skew appeared, changed (other modules, applications or versions), or cleared. */
  | 'code_skew_detected'
  | 'code_skew_changed'
  | 'code_skew_cleared'
  /** A cause found after the event it explains: see {@link TimelineEventDraft.amends}. */
  | 'down_cause';

/**
 * A bounded view of a list that may be long: how many there are, and the first few. A summary
 * event carries these so that its size on the wire does not grow with the cluster.
 */
export interface Sampled<T> {
  count: number;
  sample: T[];
}

/** A member named by an event: its key, and its node and pod when known. */
export interface MemberRef {
  key: string;
  node?: string;
  pod?: string;
}

/** A timeline event before the collector stamps it with its time and sequence number. */
export interface TimelineEventDraft {
  kind: TimelineEventKind;
  severity: 'info' | 'warning' | 'error';
  /** One line for the timeline. */
  message: string;
  /** The member concerned, when there is one. */
  key?: string;
  node?: string;
  pod?: string;
  /** For a single link's event: the two nodes. */
  link?: [string, string];
  /**
   * For partition events: the sides (after a split) or the former sides (after a heal), largest
   * first, each as its size and first nodes; at most a few sides travel, `sideCount` says how many
   * there are. The full sides are in the event's details.
   */
  sides?: Array<Sampled<string>>;
  sideCount?: number;
  /**
   * For an event that tells of many links at once (a partition, a heal, a storm of link changes):
   * how many went down (or up), and the first few.
   */
  links?: Sampled<[string, string]>;
  /** For an event that tells of many members at once (a mass join, leave, node up or down). */
  members?: Sampled<MemberRef>;
  /**
   * The server holds this event's full lists (every side, link or member):
   * `GET /api/clusters/{id}/events/{seq}` serves them while they are kept.
   */
  expandable?: true;
  /** For registry events: what changed, per node. */
  registries?: Array<{ node: string; registry: string; from: number | null; to: number | null }>;
  /**
   * For code skew events: the modules and applications that differ (how many, the first few) and
   * how many nodes were compared; absent from `code_skew_cleared`.
   */
  codeSkew?: CodeSkewSample;
  /** For `kubernetes_event`: the workload's Kubernetes Event. */
  kubernetes?: KubernetesEvent;
  /**
   * For `observation_gap`: the span no beamscope run observed (ms since the epoch), between the
   * last recorded observation and the start of the run that noticed it.
   */
  gap?: { from: number; to: number };
  /**
   * For `link_flap`: the probes (ms since the epoch) between which the links dropped and came
   * back — the last reading that showed the old connections and the first that showed new ones.
   */
  between?: { from: number; to: number };
  /**
   * For a `node_down`, a `link_down` (and a `member_left` whose node was up): why, from the
   * best evidence joined across Kubernetes and beamscope's connection (`lib/down-cause.ts`).
   * For a summary or a partition: the most frequent cause, and {@link causes} beside it.
   */
  cause?: DownCause;
  /** For an event that stands for many (a summary, a partition): causes counted by code. */
  causes?: CauseCount[];
  /**
   * For `down_cause`: the sequence number of the event whose cause this amends (better evidence
   * that arrived after it); `cause` and `causes` replace the amended event's.
   */
  amends?: number;
}

/** A timeline event: what changed, when, and its place in the cluster's sequence. */
export interface TimelineEvent extends TimelineEventDraft {
  seq: number;
  at: number;
}

/**
 * The fields of a member that changed. `beam` holds only the BEAM fields that changed when the
 * member had a BEAM side before (merge it into that side), else the whole side or null.
 */
export interface MemberPatch {
  key: string;
  node?: string | null;
  kubernetes?: KubernetesMember | null;
  beam?: Partial<BeamSide> | null;
  partition?: number | null;
}

/**
 * The change from one state to the next: new members (whole), the changed fields of the others,
 * keys of members gone, and the other top-level fields that changed (whole). A poll changes a
 * few numbers per node, so that is what travels. See `applyClusterDelta`.
 */
export interface ClusterStateDelta {
  added: ClusterMember[];
  changed: MemberPatch[];
  removed: string[];
  set: Partial<Omit<ClusterState, 'members'>>;
}

/** What one member's history ring holds: one point per poll. */
export interface NodeHistoryPoint {
  at: number;
  processCount: number | null;
  registeredNames: number | null;
  memoryBytes: number | null;
}
