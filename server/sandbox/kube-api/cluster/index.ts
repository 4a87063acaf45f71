import 'server-only';

// The cluster side of the sandbox: what a real cluster's scheduler, kubelet and controllers write
// into the API, written into the same store the emulated API serves. Pods go through their
// lifecycle (pods.ts, pod-object.ts) under a Deployment's ReplicaSet (replica-set.ts); the
// EndpointSlice and Endpoints controllers follow them (controllers.ts and the two it runs); every
// component records its events (events.ts). SandboxCluster puts them together behind the control
// surface (sandbox-control.ts) and adds the faults a test may inject.

import { BeamscopeError } from '../../../errors';
import { buildService, newUid, type ServiceSpec } from '../objects';
import type { ObjectStore } from '../store';
import { startEndpointControllers } from './controllers';
import { EventRecorder } from './events';
import { PodLifecycle } from './pods';
import { newReplicaSet, ReplicaSetController } from './replica-set';
import {
  GUARDED_VERBS,
  type ContainerExit,
  type GuardedResource,
  type GuardedVerb,
  type NetworkFault,
  type PodInfo,
  type PodRuntime,
  type PodStatusReport,
  type SandboxControl,
} from './sandbox-control';

/** Real kube-proxy/EndpointSlice controllers default to 100 endpoints per slice. */
const DEFAULT_MAX_ENDPOINTS_PER_SLICE = 100;

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

/**
 * One Service over a Deployment's pods, with the controllers and event recording a real cluster
 * runs for them, driven through {@link SandboxControl}.
 */
export class SandboxCluster implements SandboxControl {
  /** Per resource, the verbs beamscope's user is denied (absent: the Role grants them all). */
  readonly forbidden = new Map<GuardedResource, ReadonlySet<GuardedVerb>>();
  tokenRejected = false;

  private readonly lifecycle: PodLifecycle;
  private readonly replicaSet: ReplicaSetController;

  constructor(
    private readonly store: ObjectStore,
    private readonly options: SandboxClusterOptions,
  ) {
    const { namespace, service } = options;
    const serviceUid = newUid();
    const replicaSet = newReplicaSet(service.name);
    const events = new EventRecorder(store, namespace);
    this.lifecycle = new PodLifecycle(store, events, {
      namespace,
      replicaSet,
      readyDelayMs: options.readyDelayMs,
      terminationGraceMs: options.terminationGraceMs,
      restartBackoffMs: options.restartBackoffMs,
      podRuntime: options.podRuntime,
    });
    this.replicaSet = new ReplicaSetController(
      this.lifecycle,
      events,
      service.name,
      replicaSet,
      service.selector,
    );
    store.put('services', buildService(service, namespace, serviceUid, Date.now()));
    startEndpointControllers(store, {
      namespace,
      service,
      serviceUid,
      maxEndpointsPerSlice: options.maxEndpointsPerSlice ?? DEFAULT_MAX_ENDPOINTS_PER_SLICE,
    });
  }

  createPod(spec?: Parameters<SandboxControl['createPod']>[0]): Promise<PodInfo> {
    return this.replicaSet.createPod(spec);
  }

  setPodReady(name: string, ready: boolean): void {
    this.lifecycle.setReady(name, ready);
  }

  deletePod(name: string): void {
    this.lifecycle.delete(name);
  }

  /** What the Eviction subresource does once it has let an eviction through (pods.ts `evict`). */
  evictPod(name: string): void {
    this.lifecycle.evict(name);
  }

  scale(replicas: number): Promise<void> {
    return this.replicaSet.scale(replicas);
  }

  pods(): PodInfo[] {
    return this.lifecycle.all().map((record) => this.lifecycle.info(record));
  }

  containerExited(name: string, exit?: ContainerExit): void {
    this.lifecycle.containerExited(name, exit);
  }

  compact(): void {
    this.store.compact();
    // A real watch cache that reinitializes ends its watches cleanly; clients re-watch, get 410.
    this.options.onDropWatches('close');
  }

  rolloutRestart(): Promise<void> {
    return this.replicaSet.rolloutRestart();
  }

  async loseNode(nodeName: string): Promise<string[]> {
    const lost = this.lifecycle.loseNode(nodeName);
    // The ReplicaSet controller sees fewer pods than replicas and creates the difference.
    const replicaSetPods = lost.filter((name) => name.startsWith(`${this.options.service.name}-`));
    await this.replicaSet.replace(replicaSetPods.length);
    return lost;
  }

  restoreNode(nodeName: string): void {
    this.lifecycle.restoreNode(nodeName);
  }

  setForbidden(
    resource: GuardedResource,
    forbidden: boolean,
    verbs: readonly GuardedVerb[] = GUARDED_VERBS,
  ): void {
    if (forbidden) this.forbidden.set(resource, new Set(verbs));
    else this.forbidden.delete(resource);
  }

  setTokenRejected(rejected: boolean): void {
    this.tokenRejected = rejected;
  }

  dropWatches(): void {
    this.options.onDropWatches('reset');
  }

  async killPod(pod: string): Promise<PodInfo> {
    const runtime = this.runtimeWith('kill');
    const record = this.lifecycle.resolve(pod);
    runtime.kill!(record.name);
    return this.lifecycle.info(record);
  }

  async oomKillPod(pod: string): Promise<PodInfo> {
    const record = this.lifecycle.markOomKill(this.lifecycle.resolve(pod).name);
    const runtime = this.options.podRuntime;
    // The kernel kills the process; with nothing running, the exit is all there is to report.
    if (runtime?.kill) runtime.kill(record.name);
    else this.lifecycle.containerExited(record.name, { signal: 'SIGKILL' });
    return this.lifecycle.info(record);
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
    const names = sides.map((side) =>
      side.map((member) => this.lifecycle.resolve(String(member)).name),
    );
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

  async networkFault(fault: NetworkFault): Promise<NetworkFault> {
    const runtime = this.runtimeWith('networkFault');
    const ip = (member: unknown) => this.lifecycle.info(this.lifecycle.resolve(String(member))).ip;
    const pods = (list: unknown) => {
      if (!Array.isArray(list) || list.length === 0) {
        throw new BeamscopeError('sandbox', 'bad_request', 'expected a list of pod names or IPs');
      }
      return list.map(ip);
    };
    let resolved: NetworkFault;
    switch (fault?.kind) {
      case 'partition':
        if (!Array.isArray(fault.sides) || fault.sides.length < 2) {
          throw new BeamscopeError('sandbox', 'invalid_partition', 'a partition needs two sides');
        }
        resolved = { kind: 'partition', sides: fault.sides.map(pods) };
        break;
      case 'one-way':
        resolved = { kind: 'one-way', from: ip(fault.from), to: ip(fault.to) };
        break;
      case 'cut-off':
        resolved = { kind: 'cut-off', pods: pods(fault.pods) };
        break;
      case 'slow':
        if (!Number.isInteger(fault.kbit) || fault.kbit < 1) {
          throw new BeamscopeError(
            'sandbox',
            'bad_request',
            'slow takes kbit, a whole number >= 1',
          );
        }
        resolved = { kind: 'slow', pod: ip(fault.pod), kbit: fault.kbit };
        break;
      default:
        throw new BeamscopeError(
          'sandbox',
          'bad_request',
          'a network fault is one of partition, one-way, cut-off, slow',
        );
    }
    await runtime.networkFault!(resolved);
    return resolved;
  }

  async miscookie(pod: string, restore = false): Promise<PodInfo> {
    const runtime = this.runtimeWith('miscookie');
    const record = this.lifecycle.resolve(pod);
    await runtime.miscookie!(record.name, restore);
    return this.lifecycle.info(record);
  }

  async flood(from: string, to: string, seconds: number): Promise<{ from: string; to: string }> {
    const runtime = this.runtimeWith('flood');
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 3600) {
      throw new BeamscopeError(
        'sandbox',
        'bad_request',
        'flood takes seconds, a whole number from 0 (stop) to 3600',
      );
    }
    const source = this.lifecycle.resolve(from);
    if (seconds === 0) {
      await runtime.flood!(source.name, '', 0);
      return { from: source.name, to: '' };
    }
    const target = this.lifecycle.resolve(to);
    if (source.name === target.name) {
      throw new BeamscopeError('sandbox', 'bad_request', 'a pod cannot flood its link to itself');
    }
    await runtime.flood!(source.name, target.name, seconds);
    return { from: source.name, to: target.name };
  }

  async setTicktime(pod: string, seconds: number): Promise<PodInfo> {
    const runtime = this.runtimeWith('setTicktime');
    // OTP accepts any positive whole number; below a few seconds a busy node drops its peers.
    if (!Number.isInteger(seconds) || seconds < 5 || seconds > 3600) {
      throw new BeamscopeError(
        'sandbox',
        'bad_request',
        'net_ticktime takes seconds, a whole number from 5 to 3600',
      );
    }
    const record = this.lifecycle.resolve(pod);
    await runtime.setTicktime!(record.name, seconds);
    return this.lifecycle.info(record);
  }

  async setAppVersion(pod: string, version: string): Promise<PodInfo> {
    const runtime = this.runtimeWith('setAppVersion');
    const record = this.lifecycle.resolve(pod);
    await runtime.setAppVersion!(record.name, version);
    return this.lifecycle.info(record);
  }

  async upgrade(version: string): Promise<void> {
    this.runtimeWith('setTemplateVersion').setTemplateVersion!(version);
    // One pod at a time (maxSurge 1), so the skew between the two releases stays in view.
    await this.replicaSet.rolloutRestart(undefined, 1);
  }

  async status(): Promise<{ pods: PodStatusReport[]; runtime?: unknown }> {
    const runtime = this.options.podRuntime;
    const pods = await this.lifecycle.reports();
    return { pods, ...(runtime?.stats ? { runtime: runtime.stats() } : {}) };
  }

  private runtimeWith(
    operation:
      | 'kill'
      | 'partition'
      | 'heal'
      | 'miscookie'
      | 'networkFault'
      | 'flood'
      | 'setTicktime'
      | 'setAppVersion'
      | 'setTemplateVersion',
  ): PodRuntime {
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
}
