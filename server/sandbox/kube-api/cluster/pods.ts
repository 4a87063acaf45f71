import 'server-only';

// The pod lifecycle, as the scheduler and the kubelet drive it: a pod is admitted, scheduled,
// started and turns Ready; it crashes and restarts after a back-off; it terminates within its
// grace period. Each step is a write of its Pod object and the events a real cluster records.

import { BeamscopeError, describeError } from '../../../errors';
import { DIST_PORT, newUid } from '../objects';
import type { ObjectStore } from '../store';
import type { EventRecorder, EventSource, InvolvedObject } from './events';
import { buildPod, CONTAINER, IMAGE, type PodRecord, type ReplicaSet } from './pod-object';
import type { ContainerExit, PodInfo, PodRuntime, PodStatusReport } from './sandbox-control';
import { isPodIp, POD_CIDR } from '../../pod-network';
import { ipFromIndex, NODE_NAMES } from './topology';

/** What a new pod is asked to be; the ReplicaSet has filled in its name and labels. */
export interface PodSpec {
  name: string;
  labels: Record<string, string>;
  ip?: string;
  nodeName?: string;
  /** Absent: Ready by itself; true: Ready at once; false: unready until setReady. */
  ready?: boolean;
  /** The ReplicaSet creating the pod (its owner), when not the lifecycle's. */
  replicaSet?: ReplicaSet;
}

/** Options of {@link PodLifecycle}; see `startEmulatedApi` for their meaning. */
export interface PodLifecycleOptions {
  namespace: string;
  replicaSet: ReplicaSet;
  readyDelayMs: number;
  terminationGraceMs: number;
  restartBackoffMs?: number;
  podRuntime?: PodRuntime;
}

const delay = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/** Every pod of the sandbox, from admission to removal. */
export class PodLifecycle {
  private readonly records = new Map<string, PodRecord>();
  /** Nodes gone from the cluster: the scheduler places nothing there. */
  private readonly lostNodes = new Set<string>();

  constructor(
    private readonly store: ObjectStore,
    private readonly events: EventRecorder,
    private readonly options: PodLifecycleOptions,
  ) {}

  /** Checks and writes a new, unscheduled pod (the API server's part of a create). */
  admit(spec: PodSpec): PodRecord {
    const { name } = spec;
    if (name.length > 253 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) {
      throw new BeamscopeError(
        'sandbox',
        'invalid_name',
        `"${name}" is not a valid pod name (RFC 1123 subdomain)`,
      );
    }
    if (
      typeof spec.labels !== 'object' ||
      spec.labels === null ||
      Object.values(spec.labels).some((value) => typeof value !== 'string')
    ) {
      throw new BeamscopeError('sandbox', 'invalid_labels', 'labels must map names to strings');
    }
    if (this.records.has(name)) {
      throw new BeamscopeError('sandbox', 'pod_exists', `pod "${name}" already exists`);
    }
    if (spec.ip !== undefined && !isPodIp(spec.ip)) {
      throw new BeamscopeError(
        'sandbox',
        'invalid_ip',
        `"${spec.ip}" is not an address of the sandbox's pod network ${POD_CIDR}`,
      );
    }
    if (spec.ip !== undefined && this.ipInUse(spec.ip)) {
      throw new BeamscopeError(
        'sandbox',
        'ip_in_use',
        `IP ${spec.ip} is already assigned to a pod`,
      );
    }
    if (spec.nodeName !== undefined && !(NODE_NAMES as readonly string[]).includes(spec.nodeName)) {
      throw new BeamscopeError(
        'sandbox',
        'unknown_node',
        `no node "${spec.nodeName}" (nodes: ${NODE_NAMES.join(', ')})`,
      );
    }
    const record: PodRecord = {
      name,
      uid: newUid(),
      labels: spec.labels,
      createdAt: Date.now(),
      stage: 'unscheduled',
      ready: false,
      readiness: spec.ready === undefined ? 'auto' : 'manual',
      desiredReady: spec.ready ?? true,
      terminating: false,
      conditionTimes: {},
      restartCount: 0,
      crashesInARow: 0,
      ...(spec.replicaSet ? { replicaSet: spec.replicaSet } : {}),
    };
    this.records.set(name, record);
    this.writePod(record);
    return record;
  }

  /**
   * The scheduler, then the kubelet: each step its own write, as on a real cluster. Resolves once
   * the pod is Running with its address (or was deleted on the way).
   */
  async run(record: PodRecord, spec: Pick<PodSpec, 'ip' | 'nodeName'>): Promise<PodInfo> {
    await delay(5);
    if (!this.alive(record)) return this.info(record);
    record.nodeName = spec.nodeName ?? this.leastLoadedNode();
    record.stage = 'scheduled';
    record.conditionTimes.PodScheduled = Date.now();
    this.writePod(record);
    this.events.record(
      this.podRef(record),
      'Scheduled',
      `Successfully assigned ${this.options.namespace}/${record.name} to ${record.nodeName}`,
      'Normal',
      { component: 'default-scheduler' },
    );

    await delay(5);
    if (!this.alive(record)) return this.info(record);
    record.stage = 'creating';
    record.conditionTimes.Initialized = Date.now();
    record.conditionTimes.PodReadyToStartContainers = Date.now();
    record.ip = spec.ip ?? this.freeIp();
    this.writePod(record);
    const kubelet = { component: 'kubelet', host: record.nodeName };
    this.containerEvents(record, kubelet, ['Pulled', 'Created']);

    await delay(5);
    if (!this.alive(record)) return this.info(record);
    record.stage = 'running';
    record.startedAt = Date.now();
    this.writePod(record);
    this.containerEvents(record, kubelet, ['Started']);
    this.startContainer(record);
    return this.info(record);
  }

  setReady(name: string, ready: boolean): void {
    const record = this.record(name);
    record.readiness = 'manual';
    record.desiredReady = ready;
    if (record.stage === 'running' && !record.terminating) this.applyReady(record, ready);
  }

  /**
   * The Eviction subresource's part (no PodDisruptionBudgets here, so nothing refuses it): the
   * DisruptionTarget condition is written first, then the pod is deleted as a DELETE deletes it,
   * within its grace period. A pod already terminating keeps its deadline.
   */
  evict(name: string): void {
    const record = this.record(name);
    if (!record.disruption) {
      record.disruption = {
        reason: 'EvictionByEvictionAPI',
        message: 'Eviction API: evicting',
        at: Date.now(),
      };
      this.writePod(record);
    }
    this.delete(name);
  }

  delete(name: string): void {
    const record = this.record(name);
    if (record.terminating) return;
    const grace = this.options.terminationGraceMs;
    record.terminating = true;
    record.deletionAt = Date.now() + grace;
    record.graceSeconds = Math.ceil(grace / 1000);
    this.writePod(record);
    if (record.stage === 'running') {
      this.events.record(
        this.containerRef(record),
        'Killing',
        `Stopping container ${CONTAINER}`,
        'Normal',
        {
          component: 'kubelet',
          host: record.nodeName,
        },
      );
    }
    const remove = () => {
      if (this.records.get(name) !== record) return;
      this.records.delete(name);
      this.store.remove('pods', this.options.namespace, name);
    };
    // As the kubelet: the pod object goes once its container has stopped, or at the end of the
    // grace period (when the runtime is then told to stop it for good, as SIGKILL would).
    const runtime = this.options.podRuntime;
    if (runtime && record.stage === 'running') {
      runtime.stop(this.info(record)).then(remove, () => undefined);
    }
    setTimeout(remove, grace).unref();
  }

  /**
   * The Kubernetes node is gone (its machine vanished and the cloud controller deleted the Node):
   * its containers die with it, and the pod garbage collector force-deletes its pods at once, no
   * grace, no kubelet to record a Killing event. Returns the pods removed.
   */
  loseNode(nodeName: string): string[] {
    if (!(NODE_NAMES as readonly string[]).includes(nodeName)) {
      throw new BeamscopeError(
        'sandbox',
        'unknown_node',
        `no node "${nodeName}" (nodes: ${NODE_NAMES.join(', ')})`,
      );
    }
    if (NODE_NAMES.every((node) => node === nodeName || this.lostNodes.has(node))) {
      throw new BeamscopeError('sandbox', 'not_supported', 'cannot lose the last node');
    }
    this.lostNodes.add(nodeName);
    const lost = [...this.records.values()].filter((record) => record.nodeName === nodeName);
    for (const record of lost) {
      this.records.delete(record.name);
      this.store.remove('pods', this.options.namespace, record.name);
      const runtime = this.options.podRuntime;
      if (runtime && record.stage === 'running') {
        // The machine is gone: its processes die at once (the exit they report finds no pod).
        try {
          runtime.kill?.(record.name);
        } catch {
          // already exited
        }
        void runtime.stop(this.info(record)).catch(() => undefined);
      }
    }
    return lost.map((record) => record.name);
  }

  /** A node of that name joins the cluster again: the scheduler may place pods there. */
  restoreNode(nodeName: string): void {
    this.lostNodes.delete(nodeName);
  }

  containerExited(name: string, exit: ContainerExit = {}): void {
    const record = this.records.get(name);
    if (!record || !this.alive(record) || record.stage !== 'running' || record.backOff) return;
    const now = Date.now();
    const signalNumber: Record<string, number> = {
      SIGKILL: 9,
      SIGTERM: 15,
      SIGINT: 2,
      SIGSEGV: 11,
    };
    // The OOM killer's SIGKILL: the kubelet reads the container's OOM flag and says so.
    const oom = record.oomKillPending === true;
    record.oomKillPending = false;
    const exitCode = oom
      ? 137
      : (exit.code ?? (exit.signal ? 128 + (signalNumber[exit.signal] ?? 0) : 1));
    record.restartCount += 1;
    record.crashesInARow += 1;
    record.lastTermination = {
      exitCode,
      reason: oom ? 'OOMKilled' : 'Error',
      ...(exit.signal ? { signal: exit.signal } : {}),
      startedAt: record.startedAt ?? now,
      finishedAt: now,
    };
    const backOffMs = Math.min(
      (this.options.restartBackoffMs ?? 1000) * 2 ** (record.crashesInARow - 1),
      30_000,
    );
    const message = `back-off ${Math.round(backOffMs / 1000)}s restarting failed container=${CONTAINER} pod=${name}_${this.options.namespace}(${record.uid})`;
    record.backOff = { until: now + backOffMs, message };
    record.ready = false;
    record.conditionTimes.Ready = now;
    this.writePod(record);
    const kubelet = { component: 'kubelet', host: record.nodeName };
    this.events.record(
      this.containerRef(record),
      'BackOff',
      `Back-off restarting failed container ${CONTAINER} in pod ${name}_${this.options.namespace}(${record.uid})`,
      'Warning',
      kubelet,
    );
    setTimeout(() => {
      record.backOff = undefined;
      if (!this.alive(record)) return;
      record.startedAt = Date.now();
      this.writePod(record);
      this.containerEvents(record, kubelet, ['Pulled', 'Created', 'Started']);
      this.startContainer(record);
    }, backOffMs).unref();
  }

  /**
   * Marks the pod's running container as the OOM killer's next victim: its coming exit (the
   * runtime's SIGKILL, reported through {@link containerExited}) is recorded as `OOMKilled`,
   * exit code 137, as the kubelet reports a container the kernel killed for its memory.
   */
  markOomKill(name: string): PodRecord {
    const record = this.record(name);
    if (!this.alive(record) || record.stage !== 'running' || record.backOff) {
      throw new BeamscopeError(
        'sandbox',
        'pod_not_running',
        `pod "${name}" has no running container to OOM-kill`,
      );
    }
    record.oomKillPending = true;
    return record;
  }

  /** Whether a pod of this name exists (terminating or not): a generated name must not. */
  has(name: string): boolean {
    return this.records.has(name);
  }

  /** Every pod, terminating ones included, oldest first. */
  all(): PodRecord[] {
    return [...this.records.values()];
  }

  /** A live (not terminating) pod by name or by IP. */
  resolve(pod: string): PodRecord {
    const record =
      this.records.get(pod) ?? [...this.records.values()].find((candidate) => candidate.ip === pod);
    if (!record || record.terminating) {
      throw new BeamscopeError('sandbox', 'pod_not_found', `no pod "${pod}" (name or IP)`);
    }
    return record;
  }

  info(record: PodRecord): PodInfo {
    return {
      name: record.name,
      uid: record.uid,
      ip: record.ip ?? '',
      nodeName: record.nodeName ?? '',
      phase: record.stage === 'running' ? 'Running' : 'Pending',
      ready: record.ready,
      terminating: record.terminating,
    };
  }

  /** Every pod with its restart count and, when it runs and answers, its container's report. */
  reports(): Promise<PodStatusReport[]> {
    const runtime = this.options.podRuntime;
    return Promise.all(
      this.all().map(async (record): Promise<PodStatusReport> => {
        const report: PodStatusReport = { ...this.info(record), restartCount: record.restartCount };
        if (runtime?.info && record.stage === 'running' && !record.terminating) {
          report.container = await runtime.info(record.name).catch(() => undefined);
        }
        return report;
      }),
    );
  }

  /** The kubelet's events as a container comes up, in the order a real kubelet records them. */
  private containerEvents(
    record: PodRecord,
    kubelet: EventSource,
    reasons: ReadonlyArray<'Pulled' | 'Created' | 'Started'>,
  ): void {
    const messages = {
      Pulled: `Container image "${IMAGE}" already present on machine`,
      Created: `Created container: ${CONTAINER}`,
      Started: `Started container ${CONTAINER}`,
    };
    for (const reason of reasons) {
      this.events.record(this.containerRef(record), reason, messages[reason], 'Normal', kubelet);
    }
  }

  private podRef(record: PodRecord): InvolvedObject {
    return { kind: 'Pod', apiVersion: 'v1', name: record.name, uid: record.uid };
  }

  private containerRef(record: PodRecord): InvolvedObject {
    return { ...this.podRef(record), fieldPath: `spec.containers{${CONTAINER}}` };
  }

  private record(name: string): PodRecord {
    const record = this.records.get(name);
    if (!record) throw new BeamscopeError('sandbox', 'pod_not_found', `pod "${name}" not found`);
    return record;
  }

  private alive(record: PodRecord): boolean {
    return this.records.get(record.name) === record && !record.terminating;
  }

  private ipInUse(ip: string): boolean {
    return [...this.records.values()].some((record) => record.ip === ip);
  }

  /** The lowest free pod address from 10.244.0.2, so a deleted pod's address is reused. */
  private freeIp(): string {
    for (let index = 0; ; index += 1) {
      const ip = ipFromIndex(index);
      if (!this.ipInUse(ip)) return ip;
    }
  }

  private leastLoadedNode(): string {
    const load = new Map<string, number>(
      NODE_NAMES.filter((node) => !this.lostNodes.has(node)).map((node) => [node, 0]),
    );
    for (const record of this.records.values()) {
      if (record.nodeName && !record.terminating && load.has(record.nodeName))
        load.set(record.nodeName, load.get(record.nodeName)! + 1);
    }
    return [...load.entries()].sort((a, b) => a[1] - b[1])[0]![0];
  }

  private startContainer(record: PodRecord): void {
    const runtime = this.options.podRuntime;
    if (record.readiness === 'manual') {
      if (record.desiredReady) this.applyReady(record, true);
      if (runtime) runtime.start(this.info(record)).catch(() => undefined);
      return;
    }
    if (runtime) {
      runtime.start(this.info(record)).then(
        () => {
          if (!this.alive(record) || record.backOff) return;
          record.crashesInARow = 0;
          if (record.readiness === 'auto') this.applyReady(record, true);
        },
        (error: unknown) => {
          if (!this.alive(record)) return;
          const reason = describeError(error);
          this.events.record(
            this.containerRef(record),
            'Unhealthy',
            `Readiness probe failed: ${reason}`,
            'Warning',
            {
              component: 'kubelet',
              host: record.nodeName,
            },
          );
        },
      );
      return;
    }
    setTimeout(() => {
      if (this.alive(record) && record.readiness === 'auto') this.applyReady(record, true);
    }, this.options.readyDelayMs).unref();
  }

  private applyReady(record: PodRecord, ready: boolean): void {
    if (record.ready === ready) return;
    record.ready = ready;
    record.conditionTimes.Ready = Date.now();
    this.writePod(record);
    if (!ready) {
      this.events.record(
        this.containerRef(record),
        'Unhealthy',
        `Readiness probe failed: dial tcp ${record.ip}:${DIST_PORT}: connect: connection refused`,
        'Warning',
        { component: 'kubelet', host: record.nodeName },
      );
    }
  }

  private writePod(record: PodRecord): void {
    const { namespace, terminationGraceMs } = this.options;
    const replicaSet = record.replicaSet ?? this.options.replicaSet;
    this.store.put('pods', buildPod(record, { namespace, replicaSet, terminationGraceMs }));
  }
}
