import 'server-only';

import { EventEmitter } from 'node:events';

import {
  CoreV1Api,
  DiscoveryV1Api,
  type CoreV1Event,
  type KubernetesObject,
  type V1Endpoints,
  type V1EndpointSlice,
  type V1Pod,
} from '@kubernetes/client-node';

import {
  WORKLOAD_EVENT_REASONS,
  type KubernetesEvent,
  type KubernetesMember,
  type KubernetesSourceStatus,
} from '@/lib/members';

import type { ClusterConfig } from '../config';
import { BeamscopeError } from '../errors';
import {
  assertVerifiedTls,
  loadKubeConfig,
  type KubeAccessOptions,
  type LoadedKubeConfig,
} from './kubeconfig';
import { SelfReviews } from './access';
import {
  deriveMembers,
  MemberMemo,
  shareUnchanged,
  toIsoTime,
  type NamingContext,
} from './members';
import {
  RESOURCE_KINDS,
  ResourceWatcher,
  type BackoffOptions,
  type ResourceKind,
  type WatcherState,
} from './watcher';

/** The label the EndpointSlice controller puts on every slice of a Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface KubernetesSourceOptions extends KubeAccessOptions {
  /** Seam: credentials already loaded; default {@link loadKubeConfig} from the cluster config. */
  loaded?: LoadedKubeConfig;
  /** Restart timings of a stopped informer. */
  backoff?: BackoffOptions;
  /** Watch the namespace's Events for the timeline; default true (the CLI needs none). */
  watchEvents?: boolean;
  /** How many workload events `events()` keeps; default 200. */
  maxEvents?: number;
  /**
   * How often each open watch's access is re-checked, so a revoked Role shows within seconds
   * (the API server checks a watch only when it starts); default 2000 ms, 0 never.
   */
  accessCheckMs?: number;
  now?: () => number;
}

/** The events a {@link KubernetesSource} emits. */
export interface KubernetesSourceEvents {
  /** The members changed (never emitted for an update that changes nothing). */
  members: [members: KubernetesMember[]];
  /** A workload Event arrived or repeated (not for those already present at the first list). */
  event: [event: KubernetesEvent];
  /** The link's state changed. */
  status: [status: KubernetesSourceStatus];
}

/** Health of one resource kind's watch, for diagnostics (`beamscope doctor`, logs). */
export interface ResourceStatus {
  resource: ResourceKind['resource'];
  role: 'discovery' | 'enrichment' | 'events';
  state: WatcherState['state'];
  since: number;
  reason?: string;
}

interface WatcherEntry {
  role: ResourceStatus['role'];
  watcher: ResourceWatcher<KubernetesObject>;
}

const WORKLOAD_REASONS = new Set(WORKLOAD_EVENT_REASONS);

function toWorkloadEvent(event: CoreV1Event): KubernetesEvent | null {
  if (!event.reason || !WORKLOAD_REASONS.has(event.reason)) return null;
  return {
    uid: event.metadata.uid ?? `${event.metadata.namespace ?? ''}/${event.metadata.name ?? ''}`,
    type: event.type ?? 'Normal',
    reason: event.reason,
    message: event.message ?? '',
    involvedObject: {
      kind: event.involvedObject.kind ?? '',
      name: event.involvedObject.name ?? '',
    },
    count: event.count ?? event.series?.count ?? 1,
    lastTimestamp: toIsoTime(
      event.lastTimestamp ??
        event.series?.lastObservedTime ??
        event.eventTime ??
        event.metadata.creationTimestamp,
    ),
  };
}

/**
 * One cluster's view of Kubernetes: one informer per resource kind (the discovery kind, Pods for
 * enrichment, the namespace's Events), shared by every subscriber. Members are derived from the
 * informers' objects on every change and emitted only when they differ; a failed informer is
 * restarted with backoff while the last known members stay available, marked by `status()`.
 */
export class KubernetesSource extends EventEmitter<KubernetesSourceEvents> {
  readonly clusterId: string;
  readonly namespace: string;
  /** The API server URL. */
  readonly server: string;
  private readonly cluster: ClusterConfig;
  private readonly naming: NamingContext;
  /** Each watch event re-derives only the objects it replaced. */
  private readonly memberMemo = new MemberMemo();
  private readonly watchers: WatcherEntry[] = [];
  private readonly discovery: ResourceWatcher<KubernetesObject>;
  private readonly pods: ResourceWatcher<V1Pod> | undefined;
  private readonly eventWatcher: ResourceWatcher<CoreV1Event> | undefined;
  private readonly seenEvents = new Map<string, string>();
  private readonly maxEvents: number;
  private readonly now: () => number;
  private readonly progress = new Set<() => void>();
  private readonly reviews: SelfReviews;
  private currentMembers: KubernetesMember[] = [];
  private currentStatus: KubernetesSourceStatus;
  private recomputeQueued = false;
  private started = false;

  constructor(cluster: ClusterConfig, options: KubernetesSourceOptions = {}) {
    super();
    this.cluster = cluster;
    this.clusterId = cluster.id;
    this.now = options.now ?? Date.now;
    this.maxEvents = options.maxEvents ?? 200;
    const loaded = options.loaded ?? loadKubeConfig(cluster, options);
    // A KubeConfig handed in is held to the same rule as one beamscope loads itself.
    if (options.loaded) {
      assertVerifiedTls(
        loaded.kubeConfig,
        { clusterId: cluster.id, source: 'the KubeConfig given to KubernetesSource' },
        options.env,
      );
    }
    const { kubeConfig, namespace, server } = loaded;
    this.namespace = namespace;
    this.server = server;
    this.naming = {
      mode: cluster.nodeNaming.mode,
      basename: cluster.nodeNaming.basename,
      namespace,
      ...(cluster.nodeNaming.service !== undefined ? { service: cluster.nodeNaming.service } : {}),
    };
    this.currentStatus = { state: 'syncing', since: this.now() };

    const core = kubeConfig.makeApiClient(CoreV1Api);
    this.reviews = new SelfReviews(kubeConfig);
    const common = {
      kubeConfig,
      namespace,
      server,
      reviews: this.reviews,
      ...(options.accessCheckMs !== undefined ? { accessCheckMs: options.accessCheckMs } : {}),
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.now ? { now: options.now } : {}),
      onChange: () => this.queueRecompute(),
      onState: (state: WatcherState) => {
        // One informer got through again: the server is back, or takes the credentials again.
        // The others need not sit out the rest of their backoff showing stale members.
        if (state.state === 'ok') for (const { watcher } of this.watchers) watcher.retryNow();
        this.stateChanged();
      },
    };
    const { mode, service, selector } = cluster.discovery;

    const podsWatcher = new ResourceWatcher<V1Pod>({
      ...common,
      kind: RESOURCE_KINDS.pods,
      ...(selector !== undefined ? { labelSelector: selector } : {}),
      list: () =>
        core.listNamespacedPod({
          namespace,
          ...(selector !== undefined ? { labelSelector: selector } : {}),
        }),
    });

    if (mode === 'endpointSlices') {
      const discoveryApi = kubeConfig.makeApiClient(DiscoveryV1Api);
      const labelSelector = `${SERVICE_NAME_LABEL}=${service ?? ''}`;
      this.discovery = new ResourceWatcher<V1EndpointSlice>({
        ...common,
        kind: RESOURCE_KINDS.endpointslices,
        labelSelector,
        list: () => discoveryApi.listNamespacedEndpointSlice({ namespace, labelSelector }),
      }) as unknown as ResourceWatcher<KubernetesObject>;
    } else if (mode === 'endpoints') {
      this.discovery = new ResourceWatcher<V1Endpoints>({
        ...common,
        kind: RESOURCE_KINDS.endpoints,
        ...(selector !== undefined ? { labelSelector: selector } : {}),
        list: () =>
          core.listNamespacedEndpoints({
            namespace,
            ...(selector !== undefined ? { labelSelector: selector } : {}),
          }),
      }) as unknown as ResourceWatcher<KubernetesObject>;
    } else {
      this.discovery = podsWatcher as unknown as ResourceWatcher<KubernetesObject>;
    }
    this.watchers.push({ role: 'discovery', watcher: this.discovery });
    if (mode !== 'pods') {
      this.pods = podsWatcher;
      this.watchers.push({
        role: 'enrichment',
        watcher: podsWatcher as unknown as ResourceWatcher<KubernetesObject>,
      });
    } else {
      this.pods = undefined;
    }

    if (options.watchEvents ?? true) {
      this.eventWatcher = new ResourceWatcher<CoreV1Event>({
        ...common,
        kind: RESOURCE_KINDS.events,
        list: () => core.listNamespacedEvent({ namespace }),
        onListed: (items, first) => {
          const present = new Set<string>();
          for (const item of items) {
            const event = toWorkloadEvent(item);
            if (!event) continue;
            present.add(event.uid);
            // Events already there at the first list are history, not news.
            this.observeEvent(event, !first);
          }
          for (const uid of this.seenEvents.keys())
            if (!present.has(uid)) this.seenEvents.delete(uid);
        },
        onObject: (item, change) => {
          const event = toWorkloadEvent(item);
          if (!event) return;
          if (change === 'delete') this.seenEvents.delete(event.uid);
          else this.observeEvent(event, true);
        },
        onChange: () => undefined,
      });
      this.watchers.push({
        role: 'events',
        watcher: this.eventWatcher as unknown as ResourceWatcher<KubernetesObject>,
      });
    } else {
      this.eventWatcher = undefined;
    }
  }

  /** Starts every informer (once). */
  start(): this {
    if (this.started) return this;
    this.started = true;
    // Who beamscope is, asked once up front: a watch's 403 comes without the body naming it.
    void this.reviews.whoAmI();
    for (const { watcher } of this.watchers) watcher.start();
    return this;
  }

  /** The current members, sorted by address (the last known ones while in error). */
  members(): KubernetesMember[] {
    return this.currentMembers;
  }

  /** The workload Events the namespace holds, oldest first, at most `maxEvents`. */
  events(): KubernetesEvent[] {
    const events = (this.eventWatcher?.objects() ?? [])
      .map(toWorkloadEvent)
      .filter((event): event is KubernetesEvent => event !== null)
      .sort((a, b) => (a.lastTimestamp ?? '').localeCompare(b.lastTimestamp ?? ''));
    return events.slice(-this.maxEvents);
  }

  /** The link's state: `syncing` until every informer has listed, `error` while any fails. */
  status(): KubernetesSourceStatus {
    return this.currentStatus;
  }

  /** Each watched resource kind's own state. */
  resources(): ResourceStatus[] {
    return this.watchers.map(({ role, watcher }) => {
      const state = watcher.state();
      return {
        resource: this.kindOf(watcher),
        role,
        state: state.state,
        since: state.since,
        ...(state.state === 'error' ? { reason: state.error.message } : {}),
      };
    });
  }

  /**
   * Resolves once the informers that members come from (discovery and pods) have listed. Waits
   * for each one's first outcome, so that when some fail the rejection names every failure (each
   * missing RBAC rule, say), sorted by resource, not whichever came back first; rejects after
   * `timeoutMs` if some informer has no outcome by then.
   */
  waitForSync(timeoutMs = 10_000): Promise<void> {
    const required = this.watchers
      .filter(({ role }) => role !== 'events')
      .map(({ watcher }) => watcher);
    return new Promise<void>((resolve, reject) => {
      const finish = (error?: BeamscopeError) => {
        clearTimeout(timer);
        this.progress.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const check = () => {
        const settled = required.every(
          (watcher) => watcher.synced || watcher.state().state === 'error',
        );
        if (!settled) return;
        const failures = required
          .filter((watcher) => !watcher.synced)
          .map((watcher) => ({ resource: this.kindOf(watcher), state: watcher.state() }))
          .sort((a, b) => a.resource.localeCompare(b.resource));
        if (failures.length === 0) {
          // Members are derived in a microtask after the last list.
          this.recompute();
          finish();
          return;
        }
        const errors = failures.flatMap(({ state }) =>
          state.state === 'error' ? [state.error] : [],
        );
        const first = errors[0]!;
        finish(
          errors.length === 1
            ? first
            : new BeamscopeError(
                'kubernetes',
                first.code,
                errors.map((error) => error.message).join('; '),
                { exitCode: first.exitCode },
              ),
        );
      };
      const timer = setTimeout(() => {
        finish(
          new BeamscopeError(
            'kubernetes',
            'sync_timeout',
            `cluster ${this.clusterId}: no complete list from the Kubernetes API server at ${this.server} within ${Math.round(timeoutMs / 100) / 10} s`,
            { exitCode: 3 },
          ),
        );
      }, timeoutMs);
      this.progress.add(check);
      check();
    });
  }

  /** Stops every informer and releases its watch connection. */
  async stop(): Promise<void> {
    this.started = false;
    await Promise.all(this.watchers.map(({ watcher }) => watcher.stop()));
  }

  private kindOf(watcher: ResourceWatcher<KubernetesObject>): ResourceKind['resource'] {
    if (watcher === this.discovery) {
      const mode = this.cluster.discovery.mode;
      return mode === 'endpointSlices' ? 'endpointslices' : mode;
    }
    return watcher === (this.eventWatcher as unknown) ? 'events' : 'pods';
  }

  private observeEvent(event: KubernetesEvent, announce: boolean): void {
    const version = `${event.count}|${event.lastTimestamp ?? ''}`;
    if (this.seenEvents.get(event.uid) === version) return;
    this.seenEvents.set(event.uid, version);
    if (announce) this.emit('event', event);
  }

  private queueRecompute(): void {
    if (this.recomputeQueued) return;
    this.recomputeQueued = true;
    // A list delivers its items one callback each: derive once after the burst.
    queueMicrotask(() => this.recompute());
  }

  private recompute(): void {
    this.recomputeQueued = false;
    const pods = (this.pods ?? this.discovery).objects() as V1Pod[];
    const objects = this.discovery.objects();
    const next = deriveMembers(
      this.cluster.discovery.mode,
      {
        endpointSlices: objects as V1EndpointSlice[],
        endpoints: objects as V1Endpoints[],
        pods,
      },
      this.naming,
      this.memberMemo,
    );
    // Unchanged members keep their identity, so the collector's work follows what changed.
    const shared = shareUnchanged(next, this.currentMembers);
    if (!shared) return;
    this.currentMembers = shared;
    this.emit('members', shared);
  }

  private stateChanged(): void {
    const next = this.aggregateStatus();
    const previous = this.currentStatus;
    const changed =
      next.state !== previous.state ||
      (next.state === 'error' && previous.state === 'error' && next.reason !== previous.reason);
    if (changed) {
      this.currentStatus = next;
      this.emit('status', next);
    }
    for (const check of [...this.progress]) check();
  }

  private aggregateStatus(): KubernetesSourceStatus {
    const states = this.watchers.map(({ watcher }) => watcher.state());
    // The oldest failure is the headline: it stays put while later ones (often the same cause
    // seen by another informer) come and go.
    const failed = states
      .filter((state) => state.state === 'error')
      .reduce<WatcherState | undefined>(
        (oldest, state) => (oldest && oldest.since <= state.since ? oldest : state),
        undefined,
      );
    if (failed?.state === 'error') {
      return {
        state: 'error',
        since: failed.since,
        code: failed.error.code,
        reason: failed.error.message,
      };
    }
    if (states.some((state) => state.state === 'syncing'))
      return { state: 'syncing', since: this.now() };
    return { state: 'ok', since: this.now() };
  }
}
