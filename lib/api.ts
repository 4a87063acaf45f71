/**
 * The JSON the HTTP API serves, shared by the route handlers and the browser. Plain data only.
 */
import type {
  ClusterMember,
  MemberRef,
  ClusterState,
  ClusterStateDelta,
  NodeHistoryPoint,
  TimelineEvent,
} from './cluster-state';
import type { ErrorCode } from './codes';
import type { DiscoveryMode, KubernetesSourceStatus } from './members';

/** One configured cluster with a one-line health summary, as `GET /api/clusters` lists it. */
export interface ClusterSummary {
  id: string;
  displayName: string;
  /** The namespace watched, once known (in-cluster it comes from the service account). */
  namespace: string | null;
  discovery: {
    mode: DiscoveryMode;
    /** What is watched, e.g. `service myapp` or `selector app=myapp`. */
    target: string;
  };
  members: { total: number; ready: number };
  /** The BEAM side: nodes beamscope is connected to, mesh partitions, unclustered ready pods. */
  mesh: { connected: number; partitions: number; unclustered: number };
  kubernetes: KubernetesSourceStatus;
}

/** `GET /api/clusters`. */
export interface ClusterListResponse {
  clusters: ClusterSummary[];
}

/**
 * A cluster's state as of sequence number `seq`, with the recent timeline (oldest first): the
 * `snapshot` event of `GET /api/clusters/{id}/events`.
 */
export interface ClusterStreamSnapshot {
  /**
   * Which run of the server's collector numbered this stream. Sequence numbers restart with a
   * new server process, so a resume id only means something within its epoch.
   */
  epoch: string;
  seq: number;
  state: ClusterState;
  timeline: TimelineEvent[];
}

/** `GET /api/clusters/{id}`: the stream snapshot plus the cluster's summary. */
export interface ClusterSnapshot extends ClusterStreamSnapshot {
  cluster: ClusterSummary;
  /** When the server took this snapshot (ms since the epoch). */
  at: number;
}

/**
 * The `delta` event of the stream: apply it to the state of `seq - 1` (or of the last event
 * received) with `applyClusterDelta` from `lib/cluster-diff`.
 */
export interface ClusterDeltaMessage {
  seq: number;
  delta: ClusterStateDelta;
}

/** The `timeline` event of the stream is a {@link TimelineEvent}. */
export type ClusterTimelineMessage = TimelineEvent;

/** A page of a long list: `total` items in all, these from `offset` on. */
export interface ListPage<T> {
  total: number;
  offset: number;
  items: T[];
}

/**
 * `GET /api/clusters/{id}/events/{seq}`: a summary event's full lists, which the stream leaves
 * out — every side of a partition, and the links or members it tells of, a page at a time
 * (`?offset=&limit=`).
 */
export interface TimelineEventDetailsResponse {
  clusterId: string;
  event: TimelineEvent;
  sides?: string[][];
  links?: ListPage<[string, string]>;
  members?: ListPage<MemberRef>;
}

/** Where a cluster's history is kept: in memory (this process only), SQLite, or PostgreSQL. */
export type HistoryStoreKind = 'memory' | 'sqlite' | 'postgres';

/** The span of time a cluster's history can answer for (ms since the epoch, inclusive). */
export interface RetainedRange {
  from: number;
  to: number;
}

/**
 * `GET /api/clusters/{id}/history`: whether the cluster is recorded, where, in what state, and
 * the span that `?at=` can be asked about. A store that fails does not stop live viewing.
 */
export interface HistoryStatusResponse {
  clusterId: string;
  store: HistoryStoreKind;
  status: { state: 'ok' } | { state: 'error'; reason: string };
  retained: RetainedRange | null;
}

/**
 * `GET /api/clusters/{id}?at=T`: the state as it was at T, rebuilt from the history store, with
 * the events that led to it (`timeline`, oldest first); `epoch` and `seq` are those of the run
 * that observed T. A T outside the retained range answers 404 `outside_retention`.
 */
export interface ClusterSnapshotAt extends ClusterSnapshot {
  viewingAt: number;
  retained: RetainedRange;
}

/**
 * `GET /api/clusters/{id}/timeline?from=&to=&kind=&node=&cursor=&limit=&order=`: a page of
 * recorded events (newest first unless `order=oldest`); `next` continues it, null at the end.
 */
export interface TimelinePageResponse {
  clusterId: string;
  events: TimelineEvent[];
  next: string | null;
}

/** `GET /api/clusters/{id}/nodes/{node}/history?from=&to=`: a node's recorded series. */
export interface NodeHistoryResponse {
  clusterId: string;
  node: string;
  from: number;
  to: number;
  points: NodeHistoryPoint[];
}

/** The body of every error response: a message fit for an operator, and a stable code. */
export interface ApiError {
  error: {
    code: ErrorCode;
    message: string;
    /** With `outside_retention`: the span the cluster's history can answer for, if any. */
    retained?: RetainedRange | null;
  };
}

/** `GET /api/clusters/{id}/nodes/{node}`: one member with its history (last hour, per poll). */
export interface NodeDetailsResponse {
  clusterId: string;
  member: ClusterMember;
  history: NodeHistoryPoint[];
}

/** A registered process: its node and pid numbers (`<id.serial>` on that node). */
export interface PidRef {
  node: string;
  id: number;
  serial: number;
}

/** Where a name can be registered: replicated (`global`, `swarm`, `horde`, `syn`) or node-local. */
export type LookupRegistry = 'global' | 'local' | 'swarm' | 'horde' | 'syn' | 'elixir_registry';

/** The form of a key: what its outermost value is. */
export type LookupKeyType = 'atom' | 'binary' | 'charlist' | 'integer' | 'tuple' | 'list';

/** A key a name was looked up under, in Erlang syntax (`<<"device-00042">>`, `{device,42}`). */
export interface LookupKey {
  keyType: LookupKeyType;
  key: string;
}

/** One node's answer: a registry, a key and the process registered under it. */
export interface LookupMatch extends LookupKey {
  registry: LookupRegistry;
  /** The Horde registry, syn scope or Elixir Registry. */
  registryName?: string;
  /** The registered process (a locally registered port shows as `null`). */
  pid: PidRef | null;
}

/** Whether a process's node is up: connected to beamscope, a member it cannot reach, or neither. */
export type LookupHostStatus = 'connected' | 'disconnected' | 'not_a_member';

/** One distinct answer for a name in a registry, and the nodes that give it. */
export interface LookupView {
  pid: PidRef | null;
  /** The node the process lives on and its status; null for a port. */
  host: { node: string; status: LookupHostStatus } | null;
  /** The nodes whose copy (or, node-local, whose own registry) holds it, sorted. */
  nodes: string[];
}

/** A name in one registry under one key, across the cluster: its distinct answers. */
export interface LookupEntry extends LookupKey {
  registry: LookupRegistry;
  registryName?: string;
  /** What an operator calls the registry: `Swarm`, `Horde MyApp.Devices`, `syn devices`. */
  label: string;
  /** Every node holds a copy (the copies should agree), or each node its own registry. */
  replicated: boolean;
  /** The distinct answers, the most widely held first. */
  views: LookupView[];
  /** Replicated only: nodes whose copy of the registry does not hold the name. */
  missingOn: string[];
  /** Replicated only: the copies give different processes, or some lack the name. */
  disagree: boolean;
  /** One sentence: `all 3 copies agree: <0.201.0> on myapp@10.0.0.3`, or how the copies disagree. */
  summary: string;
}

/** `GET /api/clusters/{id}/registry?name=`: where a name is registered, one entry per view. */
export interface RegistryLookupResponse {
  clusterId: string;
  name: string;
  /** Plain text (tried as binary, charlist, integer and existing atom) or Elixir/Erlang term syntax. */
  readAs: 'text' | 'term';
  /** Every key tried (an atom key only where the atom exists). */
  keys: LookupKey[];
  /** Whether any node holds the name anywhere. */
  found: boolean;
  entries: LookupEntry[];
  /** Each node asked, with its own answer and the registries it could not ask. */
  nodes: Array<{
    node: string;
    /** Whether every atom of the name's keys exists on the node (plain text: its own atom). */
    atomExists: boolean;
    matches: LookupMatch[];
    /** Registries that could not be asked, or the node itself when it could not be. */
    errors: Array<{ registry: string; message: string }>;
  }>;
}
