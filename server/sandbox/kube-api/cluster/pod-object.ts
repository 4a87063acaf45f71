import 'server-only';

// A pod as the scheduler and kubelet keep it, and the Pod object the API shows for it: spec,
// owner and a status whose conditions and container state follow the pod's stage.

import type { V1PodSpec, V1PodStatus } from '@kubernetes/client-node';

import type { PodObject, Wire } from '../models';
import { DIST_PORT, EPMD_PORT, managedFieldsEntry, timestamp } from '../objects';

export const CONTAINER = 'app';
export const IMAGE = 'ghcr.io/beamscope/sandbox-app:0.1.0';

/** The ReplicaSet of the Deployment: it owns every pod, and names the ones it creates. */
export interface ReplicaSet {
  name: string;
  uid: string;
  /** The pod-template-hash its pods carry and its name ends with. */
  hash: string;
}

/** One pod's state; its Pod object is written again from it at every change. */
export interface PodRecord {
  name: string;
  uid: string;
  labels: Record<string, string>;
  createdAt: number;
  nodeName?: string;
  ip?: string;
  stage: 'unscheduled' | 'scheduled' | 'creating' | 'running';
  ready: boolean;
  /** 'auto' pods turn Ready by themselves (delay or runtime); 'manual' ones only by setPodReady. */
  readiness: 'auto' | 'manual';
  desiredReady: boolean;
  terminating: boolean;
  deletionAt?: number;
  graceSeconds?: number;
  /**
   * The DisruptionTarget condition the API server stamps on a pod it is about to delete for a
   * disruption (the Eviction subresource: reason `EvictionByEvictionAPI`).
   */
  disruption?: { reason: string; message: string; at: number };
  conditionTimes: Record<string, number>;
  startedAt?: number;
  restartCount: number;
  /** Crashes since the container was last Ready: the back-off doubles with each. */
  crashesInARow: number;
  /** Set between a crash and the restart that follows its back-off. */
  backOff?: { until: number; message: string };
  lastTermination?: {
    exitCode: number;
    /** The kubelet's reason: `OOMKilled` when the kernel's OOM killer ended it, else `Error`. */
    reason: 'OOMKilled' | 'Error';
    signal?: string;
    startedAt: number;
    finishedAt: number;
  };
  /** The next exit of the container is the kernel's OOM killer at work (see `oomKill`). */
  oomKillPending?: boolean;
  /** The ReplicaSet that created the pod, when not the lifecycle's (a rollout's new one). */
  replicaSet?: ReplicaSet;
}

/** The Pod object of `record`, as the API serves it (its resourceVersion is the store's to set). */
export function buildPod(
  record: PodRecord,
  context: { namespace: string; replicaSet: ReplicaSet; terminationGraceMs: number },
): PodObject {
  const { namespace, replicaSet } = context;
  const graceSeconds = Math.max(1, Math.ceil(context.terminationGraceMs / 1000));
  const spec: Wire<V1PodSpec> = {
    containers: [
      {
        name: CONTAINER,
        image: IMAGE,
        imagePullPolicy: 'IfNotPresent',
        ports: [
          { containerPort: DIST_PORT, name: 'dist', protocol: 'TCP' },
          { containerPort: EPMD_PORT, name: 'epmd', protocol: 'TCP' },
        ],
        readinessProbe: {
          tcpSocket: { port: DIST_PORT },
          periodSeconds: 5,
          timeoutSeconds: 1,
          successThreshold: 1,
          failureThreshold: 3,
        },
        resources: {},
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
      },
    ],
    dnsPolicy: 'ClusterFirst',
    enableServiceLinks: true,
    ...(record.nodeName ? { nodeName: record.nodeName } : {}),
    preemptionPolicy: 'PreemptLowerPriority',
    priority: 0,
    restartPolicy: 'Always',
    schedulerName: 'default-scheduler',
    securityContext: {},
    serviceAccount: 'default',
    serviceAccountName: 'default',
    terminationGracePeriodSeconds: graceSeconds,
  };
  const status = podStatus(record);
  const metadata = {
    generateName: `${replicaSet.name}-`,
    labels: record.labels,
    ownerReferences: [
      {
        apiVersion: 'apps/v1',
        blockOwnerDeletion: true,
        controller: true,
        kind: 'ReplicaSet',
        name: replicaSet.name,
        uid: replicaSet.uid,
      },
    ],
  };
  return {
    metadata: {
      name: record.name,
      namespace,
      uid: record.uid,
      resourceVersion: '',
      generation: 1,
      creationTimestamp: timestamp(record.createdAt),
      ...metadata,
      ...(record.terminating
        ? {
            deletionTimestamp: timestamp(record.deletionAt),
            deletionGracePeriodSeconds: record.graceSeconds,
          }
        : {}),
      managedFields: [
        managedFieldsEntry('kube-controller-manager', 'v1', { metadata, spec }, record.createdAt),
        ...(record.stage === 'unscheduled'
          ? []
          : [
              managedFieldsEntry(
                'kubelet',
                'v1',
                { status },
                record.conditionTimes.PodScheduled ?? record.createdAt,
                'status',
              ),
            ]),
      ],
    },
    spec,
    status,
  };
}

/** The pod's status, with the DisruptionTarget condition last when one was stamped on it. */
function podStatus(record: PodRecord): Wire<V1PodStatus> {
  const status = kubeletStatus(record);
  const { disruption } = record;
  if (!disruption) return status;
  // Where podutil.UpdatePodCondition puts a new condition: after the kubelet's.
  const condition = {
    type: 'DisruptionTarget',
    status: 'True',
    lastProbeTime: null,
    lastTransitionTime: timestamp(disruption.at),
    reason: disruption.reason,
    message: disruption.message,
  };
  return { ...status, conditions: [...(status.conditions ?? []), condition] };
}

function kubeletStatus(record: PodRecord): Wire<V1PodStatus> {
  const at = (name: string) => timestamp(record.conditionTimes[name] ?? record.createdAt);
  if (record.stage === 'unscheduled') return { phase: 'Pending', qosClass: 'BestEffort' };
  const scheduled = {
    type: 'PodScheduled',
    status: 'True',
    lastProbeTime: null,
    lastTransitionTime: at('PodScheduled'),
  };
  if (record.stage === 'scheduled') {
    return { phase: 'Pending', conditions: [scheduled], qosClass: 'BestEffort' };
  }
  // From 'creating' on, the pod has its address.
  const ip = record.ip!;
  const running = record.stage === 'running';
  const ready = record.ready ? 'True' : 'False';
  const notReady = record.ready
    ? {}
    : { reason: 'ContainersNotReady', message: `containers with unready status: [${CONTAINER}]` };
  return {
    phase: running ? 'Running' : 'Pending',
    conditions: [
      {
        type: 'PodReadyToStartContainers',
        status: 'True',
        lastProbeTime: null,
        lastTransitionTime: at('PodReadyToStartContainers'),
      },
      {
        type: 'Initialized',
        status: 'True',
        lastProbeTime: null,
        lastTransitionTime: at('Initialized'),
      },
      {
        type: 'Ready',
        status: ready,
        lastProbeTime: null,
        lastTransitionTime: at('Ready'),
        ...notReady,
      },
      {
        type: 'ContainersReady',
        status: ready,
        lastProbeTime: null,
        lastTransitionTime: at('Ready'),
        ...notReady,
      },
      scheduled,
    ],
    hostIP: '127.0.0.1',
    hostIPs: [{ ip: '127.0.0.1' }],
    podIP: ip,
    podIPs: [{ ip }],
    startTime: at('Initialized'),
    containerStatuses: [
      {
        name: CONTAINER,
        image: IMAGE,
        imageID: running ? `${IMAGE.split(':')[0]}@sha256:${'0f'.repeat(32)}` : '',
        ...(running ? { containerID: containerId(record) } : {}),
        ready: record.ready,
        restartCount: record.restartCount,
        started: running && !record.backOff,
        state: record.backOff
          ? { waiting: { reason: 'CrashLoopBackOff', message: record.backOff.message } }
          : running
            ? { running: { startedAt: timestamp(record.startedAt) } }
            : { waiting: { reason: 'ContainerCreating' } },
        ...(record.lastTermination
          ? {
              lastState: {
                terminated: {
                  exitCode: record.lastTermination.exitCode,
                  reason: record.lastTermination.reason,
                  // The kubelet gives an OOM kill no message: its reason says it all.
                  ...(record.lastTermination.signal && record.lastTermination.reason === 'Error'
                    ? { message: `killed by ${record.lastTermination.signal}` }
                    : {}),
                  startedAt: timestamp(record.lastTermination.startedAt),
                  finishedAt: timestamp(record.lastTermination.finishedAt),
                  containerID: containerId(record),
                },
              },
            }
          : {}),
      },
    ],
    qosClass: 'BestEffort',
  };
}

const containerId = (record: PodRecord) => `containerd://${record.uid.replaceAll('-', '')}`;
