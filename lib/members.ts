/**
 * The Kubernetes side of a cluster member, as the server sends it to the browser and the CLI
 * prints it. Plain data only: this module is shared with client code and imports only types.
 */

import type { KubernetesCode } from './codes';

/** Where beamscope learns which pods are members, mirroring libcluster's modes. */
export type DiscoveryMode = 'endpointSlices' | 'endpoints' | 'pods';

/** How a member's BEAM node name is derived, mirroring libcluster's `kubernetes_ip_lookup_mode`. */
export type NodeNamingMode = 'ip' | 'dns' | 'hostname';

/** The Kubernetes object a member was read from. */
export interface MemberSource {
  kind: 'EndpointSlice' | 'Endpoints' | 'Pod';
  /** The object's `metadata.name` (for EndpointSlices: the first slice that listed the address). */
  name: string;
  /**
   * For Endpoints: the controller's `endpoints.kubernetes.io/over-capacity` annotation, when set —
   * `truncated` once it cut the object at 1,000 addresses (older controllers wrote `warning`
   * and cut nothing).
   */
  overCapacity?: string;
}

/** One address Kubernetes lists for the workload, enriched with what its pod says. */
export interface KubernetesMember {
  /** The pod's IP address: the member's identity on the Kubernetes side. */
  ip: string;
  /** The pod's name, or null when the endpoint carries no pod reference and no pod matched. */
  podName: string | null;
  /** The pod's `metadata.uid`, when known. */
  podUid: string | null;
  /** The Kubernetes node the pod runs on. */
  k8sNode: string | null;
  /** The topology zone (EndpointSlices only). */
  zone: string | null;
  /** The hostname `hostname` naming uses: the endpoint's, else the pod's `spec.hostname`, else its name. */
  hostname: string | null;
  /** Ready to receive traffic: serving and not terminating. */
  ready: boolean;
  /** Passing its readiness probe, whether or not it is terminating. */
  serving: boolean;
  /** Being deleted (graceful termination under way). */
  terminating: boolean;
  /** The pod's `status.phase` (`Pending`, `Running`, …), when the pod is known. */
  phase: string | null;
  /** The sum of the restart counts of the pod's containers, when the pod is known. */
  restarts: number | null;
  /** When the kubelet started the pod (ISO 8601), when known. */
  startTime: string | null;
  /** The BEAM node name this member should have (e.g. `myapp@10.0.0.5`), null when underivable. */
  beamNode: string | null;
  /** The object this member was read from. */
  source: MemberSource;
  /**
   * The pod's latest container termination, when one is known: a container stopped now
   * (`state.terminated`) or the one before its restart (`lastState.terminated`). Absent when
   * no container of the pod has ended.
   */
  lastTermination?: ContainerTermination;
  /**
   * The pod's `DisruptionTarget` condition, when the control plane marked the pod before deleting
   * it: the Eviction API (a node drain, the autoscaler), the scheduler's preemption, the taint
   * manager, the kubelet (node pressure, shutdown) or the pod garbage collector. Absent otherwise.
   */
  disruption?: PodDisruption;
}

/** Why the control plane is taking the pod away, as its DisruptionTarget condition says. */
export interface PodDisruption {
  /** E.g. `EvictionByEvictionAPI`, `PreemptionByScheduler`; null when none was given. */
  reason: string | null;
  message: string | null;
}

/** How a pod's container last ended, as the kubelet reports it. */
export interface ContainerTermination {
  container: string;
  /** E.g. `OOMKilled`, `Error`, `Completed`; null when the kubelet gave none. */
  reason: string | null;
  exitCode: number;
  signal: number | null;
  /** When it ended (ISO 8601), when known. */
  finishedAt: string | null;
}

/** A Kubernetes Event about the workload (scaling, restarts, probe failures). */
export interface KubernetesEvent {
  /** The Event's `metadata.uid` (stable across count updates of the same event). */
  uid: string;
  /** `Normal` or `Warning`. */
  type: string;
  /** E.g. `ScalingReplicaSet`, `Killing`, `Unhealthy`. */
  reason: string;
  message: string;
  /** The object the event is about, e.g. `{ kind: 'Pod', name: 'myapp-5d9c7-x2x8q' }`. */
  involvedObject: { kind: string; name: string };
  /** How many times it happened (Kubernetes folds repeats into one Event). */
  count: number;
  /** When it last happened (ISO 8601), when known. */
  lastTimestamp: string | null;
}

/** The Event reasons beamscope shows on a cluster's timeline. */
export const WORKLOAD_EVENT_REASONS: readonly string[] = [
  'ScalingReplicaSet',
  'SuccessfulRescale',
  'Killing',
  'Started',
  'Unhealthy',
  'FailedScheduling',
  'BackOff',
  'Evicted',
];

/** The state of one cluster's link to its Kubernetes API, as the dashboard's status bar shows it. */
export type KubernetesSourceStatus =
  | { state: 'syncing' | 'ok'; since: number }
  | {
      state: 'error';
      since: number;
      /** A stable code, e.g. `unauthorized`, `rbac_forbidden`, `unreachable`. */
      code: KubernetesCode;
      /** One operator-readable line: what failed and what to do about it. */
      reason: string;
    };
