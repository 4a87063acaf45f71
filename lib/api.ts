/**
 * The JSON the HTTP API serves, shared by the route handlers and the browser. Plain data only.
 */
import type {
  DiscoveryMode,
  KubernetesEvent,
  KubernetesMember,
  KubernetesSourceStatus,
} from './members';

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
  kubernetes: KubernetesSourceStatus;
}

/** `GET /api/clusters`. */
export interface ClusterListResponse {
  clusters: ClusterSummary[];
}

/** `GET /api/clusters/{id}`: the Kubernetes side of one cluster. */
export interface ClusterSnapshot {
  cluster: ClusterSummary;
  members: KubernetesMember[];
  /** The workload's recent Kubernetes events, newest last. */
  events: KubernetesEvent[];
  /** When the server took this snapshot (ms since the epoch). */
  at: number;
}

/** The body of every error response: a message fit for an operator, and a stable code. */
export interface ApiError {
  error: { code: string; message: string };
}
