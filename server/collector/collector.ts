import 'server-only';

import { randomBytes } from 'node:crypto';

import type { ClusterStreamSnapshot, RegistryLookupResponse } from '@/lib/api';
import {
  deltaSize,
  diffClusterState,
  diffClusterStates,
  registryChangedEvent,
} from '@/lib/cluster-diff';
import { blankSide, buildClusterState, compareNames, hostedNames } from '@/lib/cluster-graph';
import type {
  BeamConnection,
  BeamSide,
  ClusterState,
  ClusterStateDelta,
  DistributionStatus,
  NodeHistoryPoint,
  RegistryCount,
  TimelineEvent,
  TimelineEventDraft,
} from '@/lib/cluster-state';
import type { KubernetesEvent, KubernetesMember, KubernetesSourceStatus } from '@/lib/members';

import { erlangError } from '../erlang/errors';
import type { ConnectionManager, NodeConnectionState } from '../erlang/manager';
import { BeamscopeError } from '../errors';
import {
  lookupName,
  MAX_LOOKUP_NAME_BYTES,
  runProbes,
  type NodeProbeReport,
  type ProbeOptions,
} from '../erlang/probes';
import type { KubernetesSourceEvents } from '../kubernetes/source';
import { NodeHistory } from './history';
import { Ring, WeightedRing } from './ring';

/** What the collector needs of a `KubernetesSource` (a seam: tests may pass their own). */
export interface CollectorSource {
  members(): KubernetesMember[];
  status(): KubernetesSourceStatus;
  on<K extends keyof KubernetesSourceEvents>(
    event: K,
    listener: (...args: KubernetesSourceEvents[K]) => void,
  ): unknown;
  off<K extends keyof KubernetesSourceEvents>(
    event: K,
    listener: (...args: KubernetesSourceEvents[K]) => void,
  ): unknown;
}

/** What the collector needs of a `ConnectionManager`. */
export interface CollectorManager {
  track(nodes: string[]): void;
  state(node: string): NodeConnectionState;
  rpc: ConnectionManager['rpc'];
  on(event: 'state', listener: (node: string, state: NodeConnectionState) => void): unknown;
  off(event: 'state', listener: (node: string, state: NodeConnectionState) => void): unknown;
  /** Takes a node's connection down with `reason` (see ConnectionManager.drop). */
  drop?(node: string, reason: BeamscopeError): void;
}

/**
 * Probe fields that cost the node next to nothing: when every one of them timed out, the node
 * answered nothing at all within the probe timeout — it is frozen or hopelessly overloaded, not
 * merely slow to count a registry.
 */
const LIVENESS_FIELDS = ['otpRelease', 'uptimeMs', 'processCount', 'connectedNodes'] as const;

/** One message of a cluster's stream, in sequence order: a state delta or a timeline event. */
export type CollectorMessage =
  | { seq: number; type: 'delta'; delta: ClusterStateDelta }
  | { seq: number; type: 'timeline'; event: TimelineEvent };

/** A consistent view: the state as of `seq`, and the recent timeline (oldest first). */
export type CollectorSnapshot = ClusterStreamSnapshot;

export interface CollectorOptions {
  clusterId: string;
  /** beamscope's own node name, shown in the state. */
  localNode: string;
  source: CollectorSource;
  /** The cluster's connection manager; null when the distribution side cannot run (no cookie). */
  manager: CollectorManager | null;
  /** Why `manager` is null, shown on every member and by `doctor`. */
  distributionError?: { code: string; reason: string };
  /** How often every connected node is probed; default 2000 ms. */
  pollIntervalMs?: number;
  /** Probes in flight at once; default one per 16 nodes, at least 4 and at most 64. */
  probeConcurrency?: number;
  /** Options of each probe run (timeouts, registries to count). */
  probe?: ProbeOptions;
  /** Messages kept for `Last-Event-ID` resumption; default 2000. */
  maxMessages?: number;
  /**
   * Bound on the replay ring's total weight (one per message plus one per member a delta
   * carries), so a large cluster keeps fewer, not bigger, messages; default 50 000.
   */
  maxMessageWeight?: number;
  /** Registry count changes are merged and told at most this often; default 10 000 ms. */
  registryEventIntervalMs?: number;
  /** Timeline events kept for snapshots; default 500. */
  maxTimeline?: number;
  /** History window per node; default one hour. */
  historyWindowMs?: number;
  now?: () => number;
}

type MemberLike = Pick<KubernetesMember, 'beamNode'>;

/** Upper bounds (seconds) of the probe latency histogram's buckets. */
export const PROBE_LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A cumulative histogram in the Prometheus sense: `counts[i]` = observations ≤ `buckets[i]`. */
export interface LatencyHistogram {
  buckets: readonly number[];
  counts: number[];
  sum: number;
  count: number;
}

function registryCounts(report: NodeProbeReport['registries']): RegistryCount[] {
  const counts: RegistryCount[] = [];
  const { global, swarm, pg, syn, horde, elixirRegistries } = report;
  if (global.status === 'present')
    counts.push({ registry: 'global', count: global.names, hosted: null, replicated: true });
  if (swarm.status === 'present')
    counts.push({
      registry: 'swarm',
      count: swarm.names,
      hosted: swarm.hostedHere,
      replicated: true,
    });
  if (pg.status === 'present')
    counts.push({ registry: 'pg', count: pg.groups, hosted: null, replicated: true });
  if (syn.status === 'present') {
    for (const scope of syn.scopes) {
      if (scope.names !== null)
        counts.push({
          registry: `syn:${scope.scope}`,
          count: scope.names,
          hosted: null,
          replicated: true,
        });
    }
  }
  for (const entry of horde) {
    if (entry.status === 'present')
      counts.push({
        registry: `horde:${entry.name}`,
        count: entry.names,
        hosted: null,
        replicated: true,
      });
  }
  for (const entry of elixirRegistries) {
    if (entry.status === 'present')
      counts.push({
        registry: `registry:${entry.name}`,
        count: entry.keys,
        hosted: entry.keys,
        replicated: false,
      });
  }
  return counts;
}

/**
 * The sorted list, reusing `previous` when it holds the same names: diffs then see by identity
 * that a node's peers did not change, without comparing thousands of names per poll.
 */
function sameOrNew(previous: readonly string[] | null, names: readonly string[]): string[] {
  const sorted = [...names].sort(compareNames);
  if (
    previous &&
    previous.length === sorted.length &&
    previous.every((name, index) => name === sorted[index])
  ) {
    return previous as string[];
  }
  return sorted;
}

function toConnection(state: NodeConnectionState): BeamConnection {
  return 'reason' in state
    ? { status: state.status, since: state.since, code: state.code, reason: state.reason }
    : { status: state.status, since: state.since };
}

/**
 * One cluster's live model. Subscribes to the cluster's Kubernetes members, keeps their BEAM
 * nodes tracked by the connection manager, probes every connected node each `pollIntervalMs`
 * (a newly connected node at once) with bounded concurrency, and turns every change into a
 * sequence-numbered delta plus timeline events. A dropped node connection is reported as soon
 * as the manager says so, not at the next poll. One collector serves every subscriber.
 */
export class Collector {
  readonly clusterId: string;
  readonly pollIntervalMs: number;
  private readonly options: CollectorOptions;
  private readonly now: () => number;
  private readonly sides = new Map<string, BeamSide>();
  private readonly messages: WeightedRing<CollectorMessage>;
  private readonly timeline: Ring<TimelineEvent>;
  private readonly history: NodeHistory;
  private readonly probeQueue: string[] = [];
  /** The nodes in `probeQueue`: a poll of 1,000 nodes must not scan the queue per node. */
  private readonly queued = new Set<string>();
  private readonly probing = new Set<string>();
  /** Each node's last `nodes()` list as it arrived, to skip re-sorting an unchanged one. */
  private readonly rawSees = new Map<string, readonly string[]>();
  private readonly listeners = new Set<(message: CollectorMessage) => void>();
  private activeProbes = 0;
  private seq = 0;
  /** This collector's run: its sequence numbers start again at 0 with the next one. */
  readonly epoch = randomBytes(4).toString('hex');
  private kubernetesErrorCount = 0;
  private readonly heldRegistryChanges = new Map<
    string,
    NonNullable<TimelineEventDraft['registries']>[number]
  >();
  private registryTimer: NodeJS.Timeout | undefined;
  private readonly latency: LatencyHistogram = {
    buckets: PROBE_LATENCY_BUCKETS,
    counts: PROBE_LATENCY_BUCKETS.map(() => 0),
    sum: 0,
    count: 0,
  };
  private state: ClusterState;
  private pollTimer: NodeJS.Timeout | undefined;
  private recomputeTimer: NodeJS.Timeout | undefined;
  private lastRecomputeAt = 0;
  private recomputeCostMs = 0;
  private running = false;

  constructor(options: CollectorOptions) {
    this.options = options;
    this.clusterId = options.clusterId;
    this.now = options.now ?? Date.now;
    this.pollIntervalMs = options.pollIntervalMs ?? 2000;
    this.messages = new WeightedRing(
      options.maxMessages ?? 2000,
      options.maxMessageWeight ?? 50_000,
    );
    this.timeline = new Ring(options.maxTimeline ?? 500);
    this.history = new NodeHistory(options.historyWindowMs ?? 3_600_000, this.pollIntervalMs);
    this.state = this.compute();
  }

  /** Subscribes to the source and the manager and starts polling (once). */
  start(): this {
    if (this.running) return this;
    this.running = true;
    const { source, manager } = this.options;
    source.on('members', this.onMembers);
    source.on('status', this.onStatus);
    source.on('event', this.onKubernetesEvent);
    manager?.on('state', this.onNodeState);
    this.onMembers(source.members());
    this.pollTimer = setInterval(() => this.poll(), this.pollIntervalMs);
    this.pollTimer.unref();
    return this;
  }

  /** Stops polling and unsubscribes; the manager's connections are its owner's to close. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    const { source, manager } = this.options;
    source.off('members', this.onMembers);
    source.off('status', this.onStatus);
    source.off('event', this.onKubernetesEvent);
    manager?.off('state', this.onNodeState);
    clearInterval(this.pollTimer);
    clearTimeout(this.recomputeTimer);
    this.recomputeTimer = undefined;
    clearTimeout(this.registryTimer);
    this.registryTimer = undefined;
    this.probeQueue.length = 0;
    this.queued.clear();
    this.listeners.clear();
  }

  /** The current state with its sequence number and the recent timeline. */
  snapshot(): CollectorSnapshot {
    this.flush();
    return {
      epoch: this.epoch,
      seq: this.seq,
      state: this.state,
      timeline: this.timeline.toArray(),
    };
  }

  /** The latest sequence number. */
  get lastSeq(): number {
    return this.seq;
  }

  /**
   * The messages after `seq`, oldest first, or null when they are no longer all held (or `seq`
   * is not one this collector handed out): the caller then needs a fresh snapshot.
   */
  messagesSince(seq: number): CollectorMessage[] | null {
    this.flush();
    if (!Number.isInteger(seq) || seq < 0 || seq > this.seq) return null;
    if (seq === this.seq) return [];
    const oldest = this.messages.oldest();
    if (!oldest || oldest.seq > seq + 1) return null;
    return this.messages.toArray().filter((message) => message.seq > seq);
  }

  /**
   * Calls `listener` with every message from now on, in order. Returns the unsubscribe
   * function. Take the snapshot (or `messagesSince`) in the same synchronous turn as
   * subscribing and nothing falls between them.
   */
  subscribe(listener: (message: CollectorMessage) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** How many subscribers are attached (for metrics and tests). */
  get subscriberCount(): number {
    return this.listeners.size;
  }

  /** A node's history points within the window, oldest first. */
  nodeHistory(node: string): NodeHistoryPoint[] {
    return this.history.points(node, this.now());
  }

  /** How many times the Kubernetes link went into error (each is followed by a restart). */
  get kubernetesErrors(): number {
    return this.kubernetesErrorCount;
  }

  /** The probe latency histogram so far (a copy). */
  probeLatency(): LatencyHistogram {
    return { ...this.latency, counts: [...this.latency.counts] };
  }

  /**
   * Where `name` is registered: asks every connected node (`:global`, local names, Swarm, the
   * configured Elixir Registries), a few at a time. A node that cannot be asked is listed with
   * its error. The name travels as data: it never becomes a new atom on a node.
   */
  async lookup(name: string): Promise<RegistryLookupResponse> {
    if (name.length === 0 || Buffer.byteLength(name, 'utf8') > MAX_LOOKUP_NAME_BYTES) {
      throw new BeamscopeError(
        'http',
        'bad_request',
        `the name to look up must be 1 to ${MAX_LOOKUP_NAME_BYTES} bytes long`,
      );
    }
    const { manager } = this.options;
    const nodes = [...this.sides.values()]
      .filter((side) => side.connection.status === 'connected')
      .map((side) => side.node);
    const results: RegistryLookupResponse['nodes'] = [];
    const queue = [...nodes];
    const worker = async () => {
      for (let node = queue.shift(); node !== undefined; node = queue.shift()) {
        const target = node;
        if (!manager) break;
        try {
          const found = await lookupName(
            (module, fn, args, callOptions) => manager.rpc(target, module, fn, args, callOptions),
            name,
            {
              timeoutMs: this.options.probe?.timeoutMs ?? 5000,
              ...(this.options.probe?.elixirRegistries
                ? { elixirRegistries: this.options.probe.elixirRegistries }
                : {}),
            },
          );
          results.push({
            node: target,
            atomExists: found.atomExists,
            matches: found.matches,
            errors: found.errors.map((entry) => ({
              registry: entry.registry,
              message: entry.error.message,
            })),
          });
        } catch (error) {
          results.push({
            node: target,
            atomExists: false,
            matches: [],
            errors: [
              { registry: 'node', message: error instanceof Error ? error.message : String(error) },
            ],
          });
        }
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(nodes.length, this.options.probeConcurrency ?? 4) }, worker),
    );
    results.sort((a, b) => compareNames(a.node, b.node));
    return { clusterId: this.clusterId, name, nodes: results };
  }

  /**
   * Resolves once Kubernetes has listed and every tracked node has an outcome: probed once if
   * connected, or failed at least once. For one-shot commands (`snapshot`, `doctor`); resolves
   * with whatever is known when `timeoutMs` passes.
   */
  async settled(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.flush();
      const syncing = this.options.source.status().state === 'syncing';
      const pending = [...this.sides.values()].some(
        (side) =>
          side.connection.status === 'connecting' ||
          (side.connection.status === 'connected' && side.probedAt === null),
      );
      if (!syncing && !pending) return true;
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Computes any pending change now instead of at the end of this turn. */
  flush(): void {
    if (!this.recomputeTimer) return;
    clearTimeout(this.recomputeTimer);
    this.recomputeTimer = undefined;
    this.recompute();
  }

  // ----- inputs --------------------------------------------------------------------------

  private readonly onMembers = (members: MemberLike[]): void => {
    const nodes = [
      ...new Set(members.map((member) => member.beamNode).filter((node) => node !== null)),
    ];
    const wanted = new Set(nodes);
    for (const node of [...this.sides.keys()]) {
      if (!wanted.has(node)) {
        this.sides.delete(node);
        this.rawSees.delete(node);
        this.history.forget(node);
      }
    }
    const { manager } = this.options;
    if (manager) {
      for (const node of nodes) {
        if (!this.sides.has(node)) this.sides.set(node, this.emptySide(node));
      }
      manager.track(nodes);
      // track() may have connected some at once (state events) or left them as they were.
      for (const node of nodes) this.applyNodeState(node, manager.state(node));
    }
    this.scheduleRecompute();
  };

  private readonly onStatus = (status: KubernetesSourceStatus): void => {
    if (status.state === 'error') this.kubernetesErrorCount += 1;
    this.scheduleRecompute();
  };

  private readonly onKubernetesEvent = (event: KubernetesEvent): void => {
    this.flush();
    this.publishEvents([
      {
        kind: 'kubernetes_event',
        severity: event.type === 'Warning' ? 'warning' : 'info',
        message: `${event.reason} ${event.involvedObject.kind.toLowerCase()}/${event.involvedObject.name}: ${event.message}`,
        kubernetes: event,
        ...(event.involvedObject.kind === 'Pod' ? { pod: event.involvedObject.name } : {}),
      },
    ]);
  };

  private readonly onNodeState = (node: string, state: NodeConnectionState): void => {
    if (!this.sides.has(node)) return;
    const wasConnected = this.sides.get(node)?.connection.status === 'connected';
    this.applyNodeState(node, state);
    if (state.status === 'connected' && !wasConnected) this.enqueueProbe(node, true);
    // A dropped connection is news now, not at the next poll.
    if (wasConnected && state.status !== 'connected') this.flushSoon();
    else this.scheduleRecompute();
  };

  private applyNodeState(node: string, state: NodeConnectionState): void {
    const side = this.sides.get(node);
    if (!side) return;
    const current = side.connection.status;
    // A reconnect attempt after a failure keeps showing the failure: the state then does not
    // flap between "auth_failed" and "connecting" with every backoff round.
    if (
      state.status === 'connecting' &&
      (current === 'auth_failed' || current === 'unreachable' || current === 'timeout')
    ) {
      return;
    }
    if (current === state.status && side.connection.since === state.since) return;
    const connection = toConnection(state);
    this.sides.set(
      node,
      state.status === 'connected'
        ? { ...side, connection }
        : // What a node sees is only known while beamscope is connected to it.
          { ...side, connection, sees: null },
    );
  }

  private emptySide(node: string): BeamSide {
    return blankSide(node, { status: 'connecting', since: this.now() });
  }

  // ----- probing --------------------------------------------------------------------------

  private poll(): void {
    for (const [node, side] of this.sides) {
      if (side.connection.status === 'connected') this.enqueueProbe(node, false);
    }
  }

  private enqueueProbe(node: string, urgent: boolean): void {
    if (!this.running || this.probing.has(node) || this.queued.has(node)) return;
    this.queued.add(node);
    if (urgent) this.probeQueue.unshift(node);
    else this.probeQueue.push(node);
    this.drainProbes();
  }

  private drainProbes(): void {
    // A probe mostly waits for replies: with a fixed 4 in flight, 1,000 nodes took longer than
    // the interval. By default the concurrency grows with the cluster (1 per 16 nodes, 4 to 64).
    const limit = Math.max(
      1,
      this.options.probeConcurrency ?? Math.min(64, Math.max(4, Math.ceil(this.sides.size / 16))),
    );
    while (this.running && this.activeProbes < limit && this.probeQueue.length > 0) {
      const node = this.probeQueue.shift()!;
      this.queued.delete(node);
      this.activeProbes += 1;
      this.probing.add(node);
      void this.probe(node).finally(() => {
        this.activeProbes -= 1;
        this.probing.delete(node);
        this.drainProbes();
      });
    }
  }

  private async probe(node: string): Promise<void> {
    const manager = this.options.manager;
    if (!manager) return;
    let report: NodeProbeReport;
    try {
      report = await runProbes(
        (module, fn, args, callOptions) => manager.rpc(node, module, fn, args, callOptions),
        { timeoutMs: 5000, ...this.options.probe },
      );
    } catch {
      // runProbes records per-field failures itself; anything else is the connection's news.
      return;
    }
    const side = this.sides.get(node);
    if (!this.running || !side) return;
    if (LIVENESS_FIELDS.every((name) => report.errors[name]?.code === 'timeout') && manager.drop) {
      // Its socket may stay open for a minute (until four tick intervals pass in silence), and
      // meanwhile the dashboard would call it connected with the last view it had. Drop the
      // connection with the reason: the member shows `timeout`, and reconnecting shows when
      // the node answers again.
      const seconds = (this.options.probe?.timeoutMs ?? 5000) / 1000;
      manager.drop(
        node,
        erlangError(
          'timeout',
          `node ${node} answered no probe within ${seconds} s (frozen or overloaded); reconnecting`,
        ),
      );
      return;
    }
    const at = this.now();
    const connected = side.connection.status === 'connected';
    const firstError = Object.values(report.errors)[0];
    const updated: BeamSide = {
      ...side,
      otpRelease: report.otpRelease ?? side.otpRelease,
      elixirVersion: report.elixirVersion,
      processCount: report.processCount,
      memoryBytes: report.memory?.total ?? null,
      runQueue: report.runQueue,
      uptimeMs: report.uptimeMs,
      sees:
        connected && report.connectedNodes
          ? this.seesOf(node, side.sees, report.connectedNodes.nodes)
          : null,
      registries: registryCounts(report.registries),
      probedAt: at,
      probeMs: report.durationMs,
      probeError: firstError ? firstError.message : null,
    };
    this.sides.set(node, updated);
    this.observeLatency(report.durationMs / 1000);
    this.history.record(node, {
      at,
      processCount: updated.processCount,
      registeredNames: hostedNames(updated),
      memoryBytes: updated.memoryBytes,
    });
    this.scheduleRecompute();
  }

  /**
   * The node's sorted peer list, reusing `previous` when the node reported exactly the same list
   * as last time (nodes answer `nodes()` in a stable order): no sort of a thousand names per poll.
   */
  private seesOf(node: string, previous: readonly string[] | null, names: string[]): string[] {
    const raw = this.rawSees.get(node);
    this.rawSees.set(node, names);
    if (
      previous &&
      raw &&
      raw.length === names.length &&
      raw.every((name, index) => name === names[index])
    ) {
      return previous as string[];
    }
    return sameOrNew(previous, names);
  }

  private observeLatency(seconds: number): void {
    this.latency.count += 1;
    this.latency.sum += seconds;
    PROBE_LATENCY_BUCKETS.forEach((bound, index) => {
      if (seconds <= bound) this.latency.counts[index]! += 1;
    });
  }

  // ----- state and messages ---------------------------------------------------------------

  private compute(): ClusterState {
    const { distributionError, manager } = this.options;
    const distribution: DistributionStatus =
      manager && !distributionError
        ? { state: 'ok' }
        : {
            state: 'error',
            code: distributionError?.code ?? 'distribution_unavailable',
            reason: distributionError?.reason ?? 'the distribution side is not running',
          };
    return buildClusterState({
      clusterId: this.clusterId,
      at: this.now(),
      localNode: this.options.localNode,
      kubernetes: this.options.source.status(),
      distribution,
      kubernetesMembers: this.options.source.members(),
      beam: this.sides,
    });
  }

  private scheduleRecompute(): void {
    if (this.recomputeTimer || !this.running) return;
    // Changes that arrive together (a list's members, probes finishing close together) are
    // merged into one delta. The pause adapts to what a recompute costs, so a cluster of
    // thousands of nodes is not rebuilt once per probe reply.
    const pause = Math.max(20, this.recomputeCostMs * 5);
    const delay = Math.max(0, this.lastRecomputeAt + pause - Date.now());
    this.recomputeTimer = setTimeout(() => {
      this.recomputeTimer = undefined;
      this.recompute();
    }, delay);
  }

  private flushSoon(): void {
    this.scheduleRecompute();
    this.flush();
  }

  private recompute(): void {
    const started = Date.now();
    this.lastRecomputeAt = started;
    try {
      this.recomputeOnce();
    } finally {
      this.recomputeCostMs = Date.now() - started;
    }
  }

  private recomputeOnce(): void {
    const next = this.compute();
    const delta = diffClusterState(this.state, next);
    if (!delta) return;
    const events = diffClusterStates(this.state, next);
    this.state = next;
    this.publish({ seq: ++this.seq, type: 'delta', delta });
    this.publishEvents(events.filter((event) => event.kind !== 'registry_changed'));
    for (const event of events)
      if (event.kind === 'registry_changed') this.holdRegistryChanges(event);
  }

  /**
   * Registry counts move all the time in a busy cluster (every device that connects): changes
   * are merged per node and registry and told at most once per `registryEventIntervalMs`.
   */
  private holdRegistryChanges(draft: TimelineEventDraft): void {
    for (const change of draft.registries ?? []) {
      const key = `${change.node}\u0000${change.registry}`;
      const held = this.heldRegistryChanges.get(key);
      this.heldRegistryChanges.set(key, { ...change, from: held ? held.from : change.from });
    }
    if (this.registryTimer) return;
    this.registryTimer = setTimeout(() => {
      this.registryTimer = undefined;
      this.releaseRegistryChanges();
    }, this.options.registryEventIntervalMs ?? 10_000);
    this.registryTimer.unref();
  }

  private releaseRegistryChanges(): void {
    const changes = [...this.heldRegistryChanges.values()].filter(
      (change) => change.from !== change.to,
    );
    this.heldRegistryChanges.clear();
    if (!this.running || changes.length === 0) return;
    this.publishEvents([registryChangedEvent(changes)]);
  }

  private publishEvents(drafts: TimelineEventDraft[]): void {
    const at = this.now();
    for (const draft of drafts) {
      const event: TimelineEvent = { ...draft, seq: ++this.seq, at };
      this.timeline.push(event);
      this.publish({ seq: event.seq, type: 'timeline', event });
    }
  }

  private publish(message: CollectorMessage): void {
    this.messages.push(message, 1 + (message.type === 'delta' ? deltaSize(message.delta) : 0));
    for (const listener of [...this.listeners]) {
      try {
        listener(message);
      } catch (error) {
        // One broken subscriber must not starve the others.
        console.error('beamscope: a collector subscriber failed', error);
      }
    }
  }
}
