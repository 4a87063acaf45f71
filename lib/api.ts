/**
 * The JSON the HTTP API serves, shared by the route handlers and the browser. Plain data only.
 */
import type {
  ClusterMember,
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

/** The body of every error response: a message fit for an operator, and a stable code. */
export interface ApiError {
  error: { code: ErrorCode; message: string };
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

/** `GET /api/clusters/{id}/registry?name=`: where a name is registered, node by node. */
export interface RegistryLookupResponse {
  clusterId: string;
  name: string;
  nodes: Array<{
    node: string;
    /** Whether the node has an atom with this text at all. */
    atomExists: boolean;
    matches: Array<{
      registry: 'global' | 'local' | 'swarm' | 'elixir_registry';
      registryName?: string;
      keyType: 'atom' | 'binary' | 'charlist' | 'integer';
      pid: PidRef | null;
    }>;
    /** Registries that could not be asked, or the node itself when it could not be. */
    errors: Array<{ registry: string; message: string }>;
  }>;
}
