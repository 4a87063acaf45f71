import 'server-only';

import { BeamscopeError } from '../../errors';
import {
  buildService,
  DIST_PORT,
  EPMD_PORT,
  managedFieldsEntry,
  newUid,
  randomSuffix,
  timestamp,
  type ServiceSpec,
} from './objects';
import { matchesLabels, type LabelRequirement } from './selector';
import type { StoredObject } from './models';
import type { ObjectStore } from './store';

/** What the sandbox tells about one pod. */
export interface PodInfo {
  name: string;
  uid: string;
  ip: string;
  nodeName: string;
  phase: string;
  ready: boolean;
  terminating: boolean;
}

/**
 * The seam through which a pod's "container" is started and stopped — a later issue runs a real
 * BEAM node on the pod's loopback address. `start` resolving is what makes the pod Ready.
 */
export interface PodRuntime {
  start(pod: PodInfo): Promise<void>;
  stop(pod: PodInfo): Promise<void>;
  /** Kills the pod's container as a crash would (the runtime then reports the exit). */
  kill?(podName: string): void;
  /** Splits the pods into sides (pod names) that stop seeing each other until {@link heal}. */
  partition?(sides: string[][]): Promise<void>;
  /** Ends every partition. */
  heal?(): Promise<void>;
  /** Restarts the pod's container with a wrong Erlang cookie (or, `restore`, the right one). */
  miscookie?(podName: string, restore?: boolean): Promise<void>;
  /** What the pod's container reports about itself (for the BEAM runtime: its mesh, registry). */
  info?(podName: string): Promise<unknown>;
  /** Figures about the running containers (start times, memory). */
  stats?(): unknown;
}

/** How a pod's container ended when it was not asked to (see {@link SandboxControl.containerExited}). */
export interface ContainerExit {
  code?: number | null;
  signal?: NodeJS.Signals | null;
}

/** A pod as `status` reports it: the API's view plus its container's. */
export interface PodStatusReport extends PodInfo {
  restartCount: number;
  /** The runtime's `info` of the pod's container, when it is running and answers. */
  container?: unknown;
}

/** The resources `setForbidden` can take away from the token's user. */
export type GuardedResource = 'endpointslices' | 'endpoints' | 'pods' | 'events';

/** Drives the emulated cluster, in-process or through `/_sandbox/*` over HTTP. */
export interface SandboxControl {
  /**
   * Creates a pod of the Deployment (or with `labels`, any pod) and resolves once it is Running
   * with its IP. `ready` absent: it turns Ready by itself (after readyDelayMs, or when the
   * PodRuntime has started it); `true`: Ready at once; `false`: unready until setPodReady.
   */
  createPod(spec?: {
    name?: string;
    ip?: string;
    labels?: Record<string, string>;
    nodeName?: string;
    ready?: boolean;
  }): Promise<PodInfo>;
  /** Flips the pod's readiness (an Unhealthy event when it goes unready); endpoints follow. */
  setPodReady(name: string, ready: boolean): void;
  /** Marks the pod terminating (Killing event, endpoint terminating), gone after the grace period. */
  deletePod(name: string): void;
  /** Creates or deletes pods (unready, then youngest first) with ScalingReplicaSet events. */
  scale(replicas: number): Promise<void>;
  /** Every pod, terminating ones included. */
  pods(): PodInfo[];
  /**
   * Forgets the watch history: every resourceVersion handed out so far gets 410 Expired. Open
   * watches are closed cleanly, as a restarting watch cache does, so clients re-watch and see it.
   */
  compact(): void;
  /** Denies (or grants back) get/list/watch on one resource: 403 with the RBAC Status body. */
  setForbidden(resource: GuardedResource, forbidden: boolean): void;
  /** Answers every API request with 401 (the `/_sandbox` surface keeps working). */
  setTokenRejected(rejected: boolean): void;
  /** Cuts every open watch's connection, as a network reset would. */
  dropWatches(): void;
  /**
   * The pod's container exited unasked (a crash, a kill): the pod turns unready, its restart count
   * rises, a BackOff event is recorded and, after the back-off, the container starts again
   * (Started) and turns Ready once the runtime says it is up — as the kubelet does.
   */
  containerExited(name: string, exit?: ContainerExit): void;
  /** Kills the container of a pod (by name or IP) through the PodRuntime; it restarts as above. */
  killPod(pod: string): Promise<PodInfo>;
  /** Partitions the pods (names or IPs per side) through the PodRuntime; returns the sides' names. */
  partition(sides: string[][]): Promise<string[][]>;
  /** Ends every partition. */
  heal(): Promise<void>;
  /** Restarts a pod's container with a wrong cookie (`restore`: the right one again). */
  miscookie(pod: string, restore?: boolean): Promise<PodInfo>;
  /** Every pod with its restart count and what its container reports, and the runtime's figures. */
  status(): Promise<{ pods: PodStatusReport[]; runtime?: unknown }>;
}

export const NODE_NAMES = ['sandbox-node-1', 'sandbox-node-2', 'sandbox-node-3'] as const;
const ZONES = ['sandbox-zone-a', 'sandbox-zone-b', 'sandbox-zone-c'] as const;
const CONTAINER = 'app';
const IMAGE = 'ghcr.io/beamscope/sandbox-app:0.1.0';
/** Real kube-proxy/EndpointSlice controllers default to 100 endpoints per slice. */
const DEFAULT_MAX_ENDPOINTS_PER_SLICE = 100;
const MAX_EVENTS = 1000;

interface PodRecord {
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
  conditionTimes: Record<string, number>;
  startedAt?: number;
  restartCount: number;
  /** Crashes since the container was last Ready: the back-off doubles with each. */
  crashesInARow: number;
  /** Set between a crash and the restart that follows its back-off. */
  backOff?: { until: number; message: string };
  lastTermination?: { exitCode: number; signal?: string; startedAt: number; finishedAt: number };
}

/** Options of {@link SandboxCluster}; see `startEmulatedApi` for their meaning. */
export interface SandboxClusterOptions {
  namespace: string;
  service: ServiceSpec;
  readyDelayMs: number;
  terminationGraceMs: number;
  /** First back-off before a crashed container restarts; it doubles per crash in a row (≤ 30 s). */
  restartBackoffMs?: number;
  podRuntime?: PodRuntime;
  maxEndpointsPerSlice?: number;
  /** Called when the control surface asks to cut or close every open watch. */
  onDropWatches: (mode: 'reset' | 'close') => void;
}

const delay = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

function ipFromIndex(index: number): string {
  const value = (127 << 24) + 2 + index;
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

function ipNumber(ip: string): number {
  return ip.split('.').reduce((sum, part) => sum * 256 + Number(part), 0);
}

const selectorRequirements = (selector: Record<string, string>): LabelRequirement[] =>
  Object.entries(selector).map(([key, value]) => ({ key, operator: 'in', values: [value] }));

/**
 * The cluster side of the sandbox: a Deployment's pods going through their lifecycle, and the
 * EndpointSlice, Endpoints and event-recording controllers reacting to them, writing into the
 * same {@link ObjectStore} the API serves — so clients see the writes real controllers would make.
 */
export class SandboxCluster implements SandboxControl {
  readonly forbidden = new Set<GuardedResource>();
  tokenRejected = false;

  private readonly records = new Map<string, PodRecord>();
  private readonly deployment = { name: '', uid: newUid() };
  private readonly replicaSet: { name: string; uid: string; hash: string };
  private readonly serviceUid = newUid();
  private readonly createdAt = Date.now();
  private reconcileScheduled = false;
  private eventSequence = 0;
  private readonly maxEndpointsPerSlice: number;

  constructor(
    private readonly store: ObjectStore,
    private readonly options: SandboxClusterOptions,
  ) {
    this.maxEndpointsPerSlice = options.maxEndpointsPerSlice ?? DEFAULT_MAX_ENDPOINTS_PER_SLICE;
    this.deployment.name = options.service.name;
    const hash = randomSuffix(10);
    this.replicaSet = { name: `${options.service.name}-${hash}`, uid: newUid(), hash };
    store.put(
      'services',
      buildService(options.service, options.namespace, this.serviceUid, this.createdAt),
    );
    this.reconcileNow();
  }

  // ---- control surface ------------------------------------------------------------------------

  async createPod(spec: Parameters<SandboxControl['createPod']>[0] = {}): Promise<PodInfo> {
    const name = spec.name ?? `${this.replicaSet.name}-${randomSuffix(5)}`;
    if (name.length > 253 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) {
      throw new BeamscopeError(
        'sandbox',
        'invalid_name',
        `"${name}" is not a valid pod name (RFC 1123 subdomain)`,
      );
    }
    if (
      spec.labels !== undefined &&
      (typeof spec.labels !== 'object' ||
        spec.labels === null ||
        Object.values(spec.labels).some((value) => typeof value !== 'string'))
    ) {
      throw new BeamscopeError('sandbox', 'invalid_labels', 'labels must map names to strings');
    }
    if (this.records.has(name)) {
      throw new BeamscopeError('sandbox', 'pod_exists', `pod "${name}" already exists`);
    }
    if (spec.ip !== undefined && !/^\d+\.\d+\.\d+\.\d+$/.test(spec.ip)) {
      throw new BeamscopeError('sandbox', 'invalid_ip', `"${spec.ip}" is not an IPv4 address`);
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
    const now = Date.now();
    const record: PodRecord = {
      name,
      uid: newUid(),
      labels: spec.labels ?? {
        ...this.options.service.selector,
        'pod-template-hash': this.replicaSet.hash,
      },
      createdAt: now,
      stage: 'unscheduled',
      ready: false,
      readiness: spec.ready === undefined ? 'auto' : 'manual',
      desiredReady: spec.ready ?? true,
      terminating: false,
      conditionTimes: {},
      restartCount: 0,
      crashesInARow: 0,
    };
    this.records.set(name, record);
    this.writePod(record);
    this.event(this.replicaSetRef(), 'SuccessfulCreate', `Created pod: ${name}`, 'Normal', {
      component: 'replicaset-controller',
    });

    // The scheduler, then the kubelet: each step its own write, as on a real cluster.
    await delay(5);
    if (!this.alive(record)) return this.info(record);
    record.nodeName = spec.nodeName ?? this.leastLoadedNode();
    record.stage = 'scheduled';
    record.conditionTimes.PodScheduled = Date.now();
    this.writePod(record);
    this.event(
      this.podRef(record),
      'Scheduled',
      `Successfully assigned ${this.options.namespace}/${name} to ${record.nodeName}`,
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

  setPodReady(name: string, ready: boolean): void {
    const record = this.record(name);
    record.readiness = 'manual';
    record.desiredReady = ready;
    if (record.stage === 'running' && !record.terminating) this.applyReady(record, ready);
  }

  deletePod(name: string): void {
    const record = this.record(name);
    if (record.terminating) return;
    const grace = this.options.terminationGraceMs;
    record.terminating = true;
    record.deletionAt = Date.now() + grace;
    record.graceSeconds = Math.ceil(grace / 1000);
    this.writePod(record);
    if (record.stage === 'running') {
      this.event(
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
      this.scheduleReconcile();
    };
    // As the kubelet: the pod object goes once its container has stopped, or at the end of the
    // grace period (when the runtime is then told to stop it for good, as SIGKILL would).
    const runtime = this.options.podRuntime;
    if (runtime && record.stage === 'running') {
      runtime.stop(this.info(record)).then(remove, () => undefined);
    }
    setTimeout(remove, grace).unref();
  }

  async scale(replicas: number): Promise<void> {
    if (!Number.isInteger(replicas) || replicas < 0) {
      throw new BeamscopeError(
        'sandbox',
        'invalid_replicas',
        `replicas must be a whole number, not ${replicas}`,
      );
    }
    const live = [...this.records.values()].filter((record) => !record.terminating);
    const current = live.length;
    if (replicas === current) return;
    const deploymentRef = {
      kind: 'Deployment',
      apiVersion: 'apps/v1',
      name: this.deployment.name,
      uid: this.deployment.uid,
    };
    const direction = replicas > current ? 'up' : 'down';
    this.event(
      deploymentRef,
      'ScalingReplicaSet',
      `Scaled ${direction} replica set ${this.replicaSet.name} from ${current} to ${replicas}`,
      'Normal',
      { component: 'deployment-controller' },
    );
    if (replicas > current) {
      await Promise.all(Array.from({ length: replicas - current }, () => this.createPod()));
      return;
    }
    // The ReplicaSet controller deletes unready pods first, then the youngest.
    const victims = [...live]
      .sort((a, b) => Number(a.ready) - Number(b.ready) || b.createdAt - a.createdAt)
      .slice(0, current - replicas);
    for (const victim of victims) {
      this.deletePod(victim.name);
      this.event(
        this.replicaSetRef(),
        'SuccessfulDelete',
        `Deleted pod: ${victim.name}`,
        'Normal',
        {
          component: 'replicaset-controller',
        },
      );
    }
  }

  pods(): PodInfo[] {
    return [...this.records.values()].map((record) => this.info(record));
  }

  compact(): void {
    this.store.compact();
    // A real watch cache that reinitializes ends its watches cleanly; clients re-watch, get 410.
    this.options.onDropWatches('close');
  }

  setForbidden(resource: GuardedResource, forbidden: boolean): void {
    if (forbidden) this.forbidden.add(resource);
    else this.forbidden.delete(resource);
  }

  setTokenRejected(rejected: boolean): void {
    this.tokenRejected = rejected;
  }

  dropWatches(): void {
    this.options.onDropWatches('reset');
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
    const exitCode = exit.code ?? (exit.signal ? 128 + (signalNumber[exit.signal] ?? 0) : 1);
    record.restartCount += 1;
    record.crashesInARow += 1;
    record.lastTermination = {
      exitCode,
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
    this.event(
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

  /** The kubelet's events as a container comes up, in the order a real kubelet records them. */
  private containerEvents(
    record: PodRecord,
    kubelet: { component: string; host: string | undefined },
    reasons: ReadonlyArray<'Pulled' | 'Created' | 'Started'>,
  ): void {
    const messages = {
      Pulled: `Container image "${IMAGE}" already present on machine`,
      Created: `Created container: ${CONTAINER}`,
      Started: `Started container ${CONTAINER}`,
    };
    for (const reason of reasons) {
      this.event(this.containerRef(record), reason, messages[reason], 'Normal', kubelet);
    }
  }

  async killPod(pod: string): Promise<PodInfo> {
    const runtime = this.runtimeWith('kill');
    const record = this.resolve(pod);
    runtime.kill!(record.name);
    return this.info(record);
  }

  async partition(sides: string[][]): Promise<string[][]> {
    const runtime = this.runtimeWith('partition');
    if (!Array.isArray(sides) || sides.length < 2 || sides.some((side) => !Array.isArray(side))) {
      throw new BeamscopeError(
        'sandbox',
        'invalid_partition',
        'a partition needs at least two sides, each a list of pod names or IPs',
      );
    }
    const names = sides.map((side) => side.map((member) => this.resolve(String(member)).name));
    const all = names.flat();
    if (all.length === 0 || names.some((side) => side.length === 0)) {
      throw new BeamscopeError('sandbox', 'invalid_partition', 'every side needs a pod');
    }
    if (new Set(all).size !== all.length) {
      throw new BeamscopeError('sandbox', 'invalid_partition', 'a pod can be on one side only');
    }
    await runtime.partition!(names);
    return names;
  }

  async heal(): Promise<void> {
    await this.runtimeWith('heal').heal!();
  }

  async miscookie(pod: string, restore = false): Promise<PodInfo> {
    const runtime = this.runtimeWith('miscookie');
    const record = this.resolve(pod);
    await runtime.miscookie!(record.name, restore);
    return this.info(record);
  }

  async status(): Promise<{ pods: PodStatusReport[]; runtime?: unknown }> {
    const runtime = this.options.podRuntime;
    const pods = await Promise.all(
      [...this.records.values()].map(async (record): Promise<PodStatusReport> => {
        const report: PodStatusReport = { ...this.info(record), restartCount: record.restartCount };
        if (runtime?.info && record.stage === 'running' && !record.terminating) {
          report.container = await runtime.info(record.name).catch(() => undefined);
        }
        return report;
      }),
    );
    return { pods, ...(runtime?.stats ? { runtime: runtime.stats() } : {}) };
  }

  // ---- pods -----------------------------------------------------------------------------------

  private record(name: string): PodRecord {
    const record = this.records.get(name);
    if (!record) throw new BeamscopeError('sandbox', 'pod_not_found', `pod "${name}" not found`);
    return record;
  }

  /** A live (not terminating) pod by name or by IP. */
  private resolve(pod: string): PodRecord {
    const record =
      this.records.get(pod) ?? [...this.records.values()].find((candidate) => candidate.ip === pod);
    if (!record || record.terminating) {
      throw new BeamscopeError('sandbox', 'pod_not_found', `no pod "${pod}" (name or IP)`);
    }
    return record;
  }

  private runtimeWith(operation: 'kill' | 'partition' | 'heal' | 'miscookie'): PodRuntime {
    const runtime = this.options.podRuntime;
    if (!runtime?.[operation]) {
      throw new BeamscopeError(
        'sandbox',
        'not_supported',
        `${operation} needs pods that run something (a PodRuntime), and this sandbox has none`,
      );
    }
    return runtime;
  }

  private alive(record: PodRecord): boolean {
    return this.records.get(record.name) === record && !record.terminating;
  }

  private info(record: PodRecord): PodInfo {
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

  private ipInUse(ip: string): boolean {
    return [...this.records.values()].some((record) => record.ip === ip);
  }

  /** The lowest free loopback address from 127.0.0.2, so a deleted pod's address is reused. */
  private freeIp(): string {
    for (let index = 0; ; index += 1) {
      const ip = ipFromIndex(index);
      if (!this.ipInUse(ip)) return ip;
    }
  }

  private leastLoadedNode(): string {
    const load = new Map<string, number>(NODE_NAMES.map((node) => [node, 0]));
    for (const record of this.records.values()) {
      if (record.nodeName && !record.terminating)
        load.set(record.nodeName, (load.get(record.nodeName) ?? 0) + 1);
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
          const reason = error instanceof Error ? error.message : String(error);
          this.event(
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
      this.event(
        this.containerRef(record),
        'Unhealthy',
        `Readiness probe failed: dial tcp ${record.ip}:${DIST_PORT}: connect: connection refused`,
        'Warning',
        { component: 'kubelet', host: record.nodeName },
      );
    }
  }

  private writePod(record: PodRecord): void {
    this.store.put('pods', this.buildPod(record));
    this.scheduleReconcile();
  }

  private buildPod(record: PodRecord): StoredObject {
    const { namespace } = this.options;
    const graceSeconds = Math.max(1, Math.ceil(this.options.terminationGraceMs / 1000));
    const spec: Record<string, unknown> = {
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
    const status = this.podStatus(record);
    const metadata = {
      generateName: `${this.replicaSet.name}-`,
      labels: record.labels,
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          blockOwnerDeletion: true,
          controller: true,
          kind: 'ReplicaSet',
          name: this.replicaSet.name,
          uid: this.replicaSet.uid,
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

  private podStatus(record: PodRecord): Record<string, unknown> {
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
      podIP: record.ip,
      podIPs: [{ ip: record.ip }],
      startTime: at('Initialized'),
      containerStatuses: [
        {
          name: CONTAINER,
          image: IMAGE,
          imageID: running ? `${IMAGE.split(':')[0]}@sha256:${'0f'.repeat(32)}` : '',
          ...(running ? { containerID: `containerd://${record.uid.replaceAll('-', '')}` } : {}),
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
                    reason: 'Error',
                    ...(record.lastTermination.signal
                      ? { message: `killed by ${record.lastTermination.signal}` }
                      : {}),
                    startedAt: timestamp(record.lastTermination.startedAt),
                    finishedAt: timestamp(record.lastTermination.finishedAt),
                    containerID: `containerd://${record.uid.replaceAll('-', '')}`,
                  },
                },
              }
            : {}),
        },
      ],
      qosClass: 'BestEffort',
    };
  }

  // ---- events ---------------------------------------------------------------------------------

  private podRef(record: PodRecord) {
    return { kind: 'Pod', apiVersion: 'v1', name: record.name, uid: record.uid };
  }

  private containerRef(record: PodRecord) {
    return { ...this.podRef(record), fieldPath: `spec.containers{${CONTAINER}}` };
  }

  private replicaSetRef() {
    return {
      kind: 'ReplicaSet',
      apiVersion: 'apps/v1',
      name: this.replicaSet.name,
      uid: this.replicaSet.uid,
    };
  }

  /** Records a core/v1 Event; a repeat of the same one bumps `count`, as the event recorder does. */
  private event(
    involved: { kind: string; apiVersion: string; name: string; uid: string; fieldPath?: string },
    reason: string,
    message: string,
    type: 'Normal' | 'Warning',
    source: { component: string; host?: string },
  ): void {
    const { namespace } = this.options;
    const now = Date.now();
    const existing = this.store
      .list('events')
      .find(
        (event) =>
          (event.involvedObject as { uid?: string }).uid === involved.uid &&
          event.reason === reason &&
          event.message === message,
      );
    if (existing) {
      this.store.put('events', {
        ...existing,
        count: ((existing.count as number | undefined) ?? 1) + 1,
        lastTimestamp: timestamp(now),
      });
      return;
    }
    this.eventSequence += 1;
    const suffix = (BigInt(now) * 1_000_000n + BigInt(this.eventSequence)).toString(16);
    this.store.put('events', {
      metadata: {
        name: `${involved.name}.${suffix}`,
        namespace,
        uid: newUid(),
        resourceVersion: '',
        creationTimestamp: timestamp(now),
        managedFields: [
          managedFieldsEntry(
            source.component,
            'v1',
            {
              count: 1,
              firstTimestamp: now,
              involvedObject: involved,
              lastTimestamp: now,
              message,
              reason,
              source,
              type,
            },
            now,
          ),
        ],
      },
      involvedObject: { ...involved, namespace },
      reason,
      message,
      source,
      firstTimestamp: timestamp(now),
      lastTimestamp: timestamp(now),
      count: 1,
      type,
      eventTime: null,
      reportingComponent: source.component,
      reportingInstance: source.host ?? '',
    });
    const events = this.store.list('events');
    for (const old of events.slice(0, Math.max(0, events.length - MAX_EVENTS))) {
      this.store.remove('events', old.metadata.namespace, old.metadata.name);
    }
  }

  // ---- EndpointSlice and Endpoints controllers ------------------------------------------------

  /** Coalesces the controllers' work after a burst of pod writes, as their work queues do. */
  private scheduleReconcile(): void {
    if (this.reconcileScheduled) return;
    this.reconcileScheduled = true;
    setImmediate(() => {
      this.reconcileScheduled = false;
      this.reconcileNow();
    });
  }

  private reconcileNow(): void {
    const selector = selectorRequirements(this.options.service.selector);
    const pods = this.store
      .list('pods')
      .filter(
        (pod) =>
          pod.metadata.namespace === this.options.namespace &&
          matchesLabels(selector, pod.metadata.labels),
      )
      .map((pod) => this.records.get(pod.metadata.name))
      .filter((record): record is PodRecord => record !== undefined && record.ip !== undefined);
    this.reconcileSlices(pods);
    this.reconcileEndpoints(pods);
  }

  private endpointFor(record: PodRecord): Record<string, unknown> {
    const node = NODE_NAMES.indexOf(record.nodeName as (typeof NODE_NAMES)[number]);
    return {
      addresses: [record.ip],
      conditions: {
        ready: record.ready && !record.terminating,
        serving: record.ready,
        terminating: record.terminating,
      },
      nodeName: record.nodeName,
      targetRef: {
        kind: 'Pod',
        name: record.name,
        namespace: this.options.namespace,
        uid: record.uid,
      },
      zone: ZONES[Math.max(0, node)],
    };
  }

  private reconcileSlices(pods: PodRecord[]): void {
    const { namespace, service } = this.options;
    const desired = new Map(pods.map((record) => [record.uid, this.endpointFor(record)]));
    const uidOf = (endpoint: Record<string, unknown>) =>
      (endpoint.targetRef as { uid: string }).uid;
    const slices = this.store
      .list('endpointslices')
      .filter((slice) => slice.metadata.labels?.['kubernetes.io/service-name'] === service.name);

    // Keep each endpoint in the slice that has it (updated in place), as the real controller does
    // to limit churn; then fill slices with room; then open new slices.
    const placed = new Set<string>();
    const plans = slices.map((slice) => {
      const before = (slice.endpoints as Record<string, unknown>[] | null) ?? [];
      const after = before
        .filter((endpoint) => desired.has(uidOf(endpoint)) && !placed.has(uidOf(endpoint)))
        .map((endpoint) => {
          placed.add(uidOf(endpoint));
          return desired.get(uidOf(endpoint))!;
        });
      return { slice: slice as StoredObject | undefined, before, after };
    });
    const fresh = pods
      .filter((record) => !placed.has(record.uid))
      .sort((a, b) => ipNumber(a.ip!) - ipNumber(b.ip!))
      .map((record) => desired.get(record.uid)!);
    for (const plan of plans) {
      while (fresh.length > 0 && plan.after.length < this.maxEndpointsPerSlice)
        plan.after.push(fresh.shift()!);
    }
    while (fresh.length > 0) {
      plans.push({
        slice: undefined,
        before: [],
        after: fresh.splice(0, this.maxEndpointsPerSlice),
      });
    }
    // One slice stays even with no endpoints (the controller's placeholder slice).
    const nonEmpty = plans.filter((plan) => plan.after.length > 0);
    const keep = nonEmpty.length > 0 ? nonEmpty : plans.slice(0, 1);
    if (keep.length === 0) keep.push({ slice: undefined, before: [], after: [] });
    for (const plan of plans) {
      if (!keep.includes(plan) && plan.slice) {
        this.store.remove('endpointslices', namespace, plan.slice.metadata.name);
      }
    }
    const now = Date.now();
    for (const plan of keep) {
      if (plan.slice && JSON.stringify(plan.before) === JSON.stringify(plan.after)) continue;
      this.store.put('endpointslices', this.buildSlice(plan.slice, plan.after, now));
    }
  }

  private buildSlice(
    existing: StoredObject | undefined,
    endpoints: Record<string, unknown>[],
    now: number,
  ): StoredObject {
    const { namespace, service } = this.options;
    const labels = {
      ...service.labels,
      'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
      'kubernetes.io/service-name': service.name,
      'service.kubernetes.io/headless': '',
    };
    const annotations = { 'endpoints.kubernetes.io/last-change-trigger-time': timestamp(now) };
    const ports = [
      { name: 'dist', port: DIST_PORT, protocol: 'TCP' },
      { name: 'epmd', port: EPMD_PORT, protocol: 'TCP' },
    ];
    const metadata = {
      labels,
      annotations,
      generateName: `${service.name}-`,
      ownerReferences: [
        {
          apiVersion: 'v1',
          blockOwnerDeletion: true,
          controller: true,
          kind: 'Service',
          name: service.name,
          uid: this.serviceUid,
        },
      ],
    };
    const body = {
      addressType: 'IPv4',
      // The real API serializes an empty slice's endpoints as null.
      endpoints: endpoints.length > 0 ? endpoints : null,
      ports,
    };
    return {
      ...body,
      metadata: {
        name: existing?.metadata.name ?? `${service.name}-${randomSuffix(5)}`,
        namespace,
        uid: existing?.metadata.uid ?? newUid(),
        resourceVersion: '',
        generation: (existing?.metadata.generation ?? 0) + 1,
        creationTimestamp: existing?.metadata.creationTimestamp ?? timestamp(now),
        ...metadata,
        managedFields: [
          managedFieldsEntry(
            'kube-controller-manager',
            'discovery.k8s.io/v1',
            { metadata, ...body },
            now,
          ),
        ],
      },
    };
  }

  private reconcileEndpoints(pods: PodRecord[]): void {
    const { namespace, service } = this.options;
    // The Endpoints controller leaves terminating pods out entirely (no publishNotReadyAddresses).
    const address = (record: PodRecord) => ({
      ip: record.ip,
      nodeName: record.nodeName,
      targetRef: { kind: 'Pod', name: record.name, namespace, uid: record.uid },
    });
    const byIp = (a: PodRecord, b: PodRecord) => ipNumber(a.ip!) - ipNumber(b.ip!);
    const serving = pods.filter((record) => !record.terminating).sort(byIp);
    const ready = serving.filter((record) => record.ready).map(address);
    const notReady = serving.filter((record) => !record.ready).map(address);
    const subsets =
      serving.length === 0
        ? undefined
        : [
            {
              ...(ready.length > 0 ? { addresses: ready } : {}),
              ...(notReady.length > 0 ? { notReadyAddresses: notReady } : {}),
              ports: [
                { name: 'dist', port: DIST_PORT, protocol: 'TCP' },
                { name: 'epmd', port: EPMD_PORT, protocol: 'TCP' },
              ],
            },
          ];
    const existing = this.store.get('endpoints', namespace, service.name);
    if (existing && JSON.stringify(existing.subsets) === JSON.stringify(subsets)) return;
    const now = Date.now();
    const metadata = {
      labels: {
        ...service.labels,
        'endpoints.kubernetes.io/managed-by': 'endpoint-controller',
        'service.kubernetes.io/headless': '',
      },
      annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': timestamp(now) },
    };
    this.store.put('endpoints', {
      metadata: {
        name: service.name,
        namespace,
        uid: existing?.metadata.uid ?? newUid(),
        resourceVersion: '',
        creationTimestamp: existing?.metadata.creationTimestamp ?? timestamp(now),
        ...metadata,
        managedFields: [
          managedFieldsEntry('kube-controller-manager', 'v1', { metadata, subsets }, now),
        ],
      },
      ...(subsets ? { subsets } : {}),
    });
  }
}
