import 'server-only';

// The Collector: one cluster's live model, composed of its parts (probe scheduling, report
// mapping, the event stream, registry batching, metrics). It owns the wiring between them and
// the one place where a node's rpc is handed to the probes.

import type { RegistryLookupResponse } from '@/lib/api';
import type { RegistryComparison, RegistryComparisonResponse } from '@/lib/api-registries';
import { diffClusterState, diffMemberTimeline, diffTimeline } from '@/lib/cluster-diff';
import type {
  BeamSide,
  ClusterState,
  DistributionStatus,
  NodeHistoryPoint,
  TimelineEventDraft,
} from '@/lib/cluster-state';
import type { KubernetesEvent, KubernetesMember, KubernetesSourceStatus } from '@/lib/members';
import { hostedNames } from '@/lib/registries';
import { MeshBuilder } from '@/lib/mesh';
import { compactDelta } from '@/lib/peer-wire';
import type { TimelineChange } from '@/lib/timeline-summary';
import { blankSide, buildClusterState } from '@/lib/state-builder';

import { erlangError } from '../erlang/errors';
import type { NodeConnectionState } from '../erlang/manager';
import {
  callProbe,
  lookupName,
  ModuleListCache,
  runProbes,
  scanCode,
  toProbeError,
  visibleNodesProbe,
  type NodeProbeReport,
  type ProbeField,
  type ProbeOptions,
  type RpcFunction,
} from '../erlang/probes';
import { Coalescer } from './coalesce';
import { CodeScans } from './code-scans';
import {
  compareCopies,
  comparisonPace,
  DivergenceMonitor,
  type CopyComparison,
  registryTable,
} from './divergence';
import { DownCauses } from './down-causes';
import { FIRST_OUTCOMES_PAUSE_MS, FirstOutcomes } from './first-outcomes';
import {
  EventStream,
  type CollectorMessage,
  type CollectorSnapshot,
  type HeldDetails,
} from './event-stream';
import { NodeHistory } from './history';
import { HostedCadence, type Unsettled } from './hosted-cadence';
import { LinkFlaps } from './link-flaps';
import { LinkFollower, type LinkPlan, type LinkReading } from './link-follower';
import { linkReadEvery } from './links';
import { checkLookupName, lookupAcross } from './lookup';
import { ClusterMetrics, type ClusterMetricsJson } from './metrics';
import {
  resolveOptions,
  type CollectorManager,
  type CollectorOptions,
  type CollectorSettings,
} from './options';
import { LinkChangeBatch } from './link-batch';
import { podsOnlyState } from './pod-changes';
import { RegistryChangeBatch } from './registry-batch';
import {
  answeredNothing,
  cappedPeersReason,
  onlyGaugesMoved,
  PeerLists,
  peerListCap,
  probedSide,
  withConnection,
} from './report';
import {
  factsOf,
  PeerCadence,
  RegistryCadence,
  UNUSED_FIELDS,
  VersionCadence,
} from './probe-cadence';
import { RebalanceTracker } from './rebalance';
import { ProbeScheduler } from './scheduler';

export type { CollectorMessage, CollectorSnapshot, HeldDetails } from './event-stream';
export type { CollectorManager, CollectorOptions, CollectorSource } from './options';

/**
 * Link changes and heals are told once the mesh has been quiet this long (or this long after the
 * first at most): the nodes report a netsplit or a heal one poll at a time.
 */
const MESH_QUIET_MS = 1000;
const MESH_HOLD_MS = 5000;

/**
 * A pod's change is told in the watch's turn at most this often; closer together (a storm of
 * readiness flips) they are coalesced into the next recompute as before, so a storm makes no
 * more deltas than it did (each is held in the replay ring and the history).
 */
const POD_CHANGE_MIN_GAP_MS = 50;

/** On-demand comparisons closer together than this share one read of the nodes. */
const ON_DEMAND_COMPARE_MS = 5000;

type MemberLike = Pick<KubernetesMember, 'beamNode'>;

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
  private readonly settings: CollectorSettings;
  private readonly sides = new Map<string, BeamSide>();
  /** This cluster's meshes: a poll that changed few peer lists costs only those lists. */
  private readonly meshes = new MeshBuilder();
  private readonly peers = new PeerLists();
  /** Nodes whose last peer list was capped (see `peerListCap`), told in the log once. */
  private readonly cappedPeers = new Map<string, string>();
  private readonly history: NodeHistory;
  private readonly stream: EventStream;
  private readonly registryChanges: RegistryChangeBatch;
  private readonly linkChanges: LinkChangeBatch;
  private readonly scheduler: ProbeScheduler;
  private readonly recompute = new Coalescer(() => this.recomputeOnce());
  /** Nodes listed and not yet probed once (or failed): while any wait, rebuilds are fewer. */
  private readonly firstOutcomes = new FirstOutcomes();
  private readonly metricsOf: ClusterMetrics;
  private readonly rebalances = new RebalanceTracker();
  private readonly hostedCadence: HostedCadence;
  /** Each node's links, for a manager that does not follow them itself (see `probe`). */
  private readonly links = new LinkFollower();
  /** Links dropped and made again between two probes, told as `link_flap`. */
  private readonly flaps = new LinkFlaps({
    now: () => this.now(),
    // A round of link readings, and half a poll for the probes' own spread.
    roundMs: () =>
      this.pollIntervalMs * (linkReadEvery(this.sides.size - 1, this.sides.size) + 0.5),
    release: (changes) => {
      this.flush();
      this.stream.publishChanges(changes);
    },
  });
  /** When a probe reads the whole peer list, and when versions are asked again. */
  private readonly peerCadence = new PeerCadence();
  private readonly versionCadence = new VersionCadence();
  private readonly registryCadence = new RegistryCadence();
  private readonly divergences = new DivergenceMonitor();
  /** Why nodes went down: the evidence, and the events it may still amend. */
  private readonly downCauses: DownCauses;
  private readonly codeScans: CodeScans;
  /** Module lists by application version, shared by this cluster's code scans. */
  private readonly moduleLists = new ModuleListCache();
  /** Told of each node's history point as it is recorded (the history recorder). */
  private readonly pointListeners = new Set<(node: string, point: NodeHistoryPoint) => void>();
  /**
   * Set while probes moved gauges that no rebuild has told yet (see `scheduleRecompute`): it
   * fires a poll interval after the first of them, the longest they wait.
   */
  private gaugesDue: NodeJS.Timeout | undefined;
  private comparing = false;
  private compareAgain = false;
  /** The comparisons' budget, shared by the collector's own and those asked for. */
  private readonly comparePace = comparisonPace();
  private lastComparison: RegistryComparisonResponse | undefined;
  private state: ClusterState;
  /** The pods Kubernetes listed when `state` was built from them. */
  private stateMembers: readonly KubernetesMember[] = [];
  /** When a pod's change was last told in the watch's turn (see `POD_CHANGE_MIN_GAP_MS`). */
  private podChangeAt = -Infinity;
  private running = false;

  constructor(options: CollectorOptions) {
    const settings = resolveOptions(options);
    this.settings = settings;
    this.clusterId = settings.clusterId;
    this.pollIntervalMs = settings.pollIntervalMs;
    this.history = new NodeHistory(settings.historyWindowMs, settings.pollIntervalMs);
    this.downCauses = new DownCauses(settings.now, (draft) => this.stream.publishAmendment(draft));
    this.stream = new EventStream({
      ...settings,
      timelineHooks: {
        decorate: (change) => this.downCauses.decorate(change),
        published: (event, details) => {
          this.downCauses.published(event, details);
          this.flaps.published(event, details);
        },
      },
    });
    this.registryChanges = new RegistryChangeBatch(settings.registryEventIntervalMs, (event) =>
      this.stream.publishEvents([event]),
    );
    this.linkChanges = new LinkChangeBatch(MESH_QUIET_MS, MESH_HOLD_MS, (changes) =>
      this.stream.publishChanges(changes),
    );
    this.scheduler = new ProbeScheduler({
      intervalMs: settings.pollIntervalMs,
      concurrency: settings.probeConcurrency,
      due: () => this.connectedNodes(),
      clusterSize: () => this.sides.size,
      probe: (node) => this.probe(node),
      // The poll's probes are all in: the gauges they moved are told now, in one rebuild.
      idle: () => {
        if (this.gaugesDue) this.scheduleRecompute();
      },
    });
    this.metricsOf = new ClusterMetrics(settings.clusterId);
    this.hostedCadence = new HostedCadence(settings.hostedRefreshMs);
    this.codeScans = new CodeScans(
      settings.codeScan,
      (node) => this.scanNodeCode(node),
      (node, codeScan, applications) => this.codeScanned(node, codeScan, applications),
      () => this.now(),
      () => this.firstOutcomes.waiting,
    );
    this.stateMembers = settings.source.members();
    this.state = this.compute(this.stateMembers);
  }

  /** This collector's run: its sequence numbers start again at 0 with the next one. */
  get epoch(): string {
    return this.stream.epoch;
  }

  /** Subscribes to the source and the manager and starts polling (once). */
  start(): this {
    if (this.running) return this;
    this.running = true;
    const { source, manager } = this.settings;
    source.on('members', this.onMembers);
    source.on('status', this.onStatus);
    source.on('event', this.onKubernetesEvent);
    manager?.on('state', this.onNodeState);
    this.scheduler.start();
    this.onMembers(source.members());
    return this;
  }

  /** Stops polling and unsubscribes; the manager's connections are its owner's to close. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    const { source, manager } = this.settings;
    source.off('members', this.onMembers);
    source.off('status', this.onStatus);
    source.off('event', this.onKubernetesEvent);
    manager?.off('state', this.onNodeState);
    this.scheduler.stop();
    this.codeScans.stop();
    this.recompute.cancel();
    clearTimeout(this.gaugesDue);
    this.registryChanges.stop();
    this.linkChanges.stop();
    this.flaps.stop();
    this.stream.close();
  }

  /**
   * The current state with its sequence number and the recent timeline. `pending: 'leave'`: as
   * of the last message, a recompute waiting for its turn left to its turn (the history
   * recorder's keyframe, which the deltas that follow complete), not run in the caller's.
   */
  snapshot(pending: 'compute' | 'leave' = 'compute'): CollectorSnapshot {
    if (pending === 'compute') this.flush();
    return {
      epoch: this.epoch,
      seq: this.stream.lastSeq,
      state: this.state,
      timeline: this.stream.recentTimeline(),
    };
  }

  /** The latest sequence number. */
  get lastSeq(): number {
    return this.stream.lastSeq;
  }

  /**
   * The messages after `seq`, oldest first, or null when they are no longer all held (or `seq`
   * is not one this collector handed out): the caller then needs a fresh snapshot.
   */
  messagesSince(seq: number): CollectorMessage[] | null {
    this.flush();
    return this.stream.since(seq);
  }

  /**
   * Calls `listener` with every message from now on, in order. Returns the unsubscribe
   * function. Take the snapshot (or `messagesSince`) in the same synchronous turn as
   * subscribing and nothing falls between them.
   */
  subscribe(listener: (message: CollectorMessage) => void): () => void {
    return this.stream.subscribe(listener);
  }

  /** How many subscribers are attached (for metrics and tests). */
  get subscriberCount(): number {
    return this.stream.subscriberCount;
  }

  /** A summary event of the timeline with its full lists, while they are still held. */
  eventDetails(seq: number): HeldDetails | undefined {
    return this.stream.detailsOf(seq);
  }

  /**
   * Calls `listener` with each node's history point as it is recorded (the flight recorder keeps
   * them beyond the window). Returns the unsubscribe function.
   */
  onHistoryPoint(listener: (node: string, point: NodeHistoryPoint) => void): () => void {
    this.pointListeners.add(listener);
    return () => {
      this.pointListeners.delete(listener);
    };
  }

  /**
   * Tells an event that comes from beside the collector's own inputs — the history recorder's
   * `observation_gap` after a restart — on the stream, in sequence like every other.
   */
  publishEvent(draft: TimelineEventDraft): void {
    this.flush();
    this.stream.publishEvents([draft]);
  }

  /** A node's history points within the window, oldest first. */
  nodeHistory(node: string): NodeHistoryPoint[] {
    return this.history.points(node, this.settings.now());
  }

  /** This cluster's Prometheus metrics, as of now. */
  metrics(): Promise<ClusterMetricsJson> {
    return this.metricsOf.read({
      state: this.snapshot().state,
      subscribers: this.stream.subscriberCount,
    });
  }

  /**
   * Where `name` (plain text, or Elixir/Erlang term syntax) is registered: asks every connected
   * node (`:global`, local names, Swarm, the configured Horde registries and Elixir Registries,
   * the syn scopes), a few at a time, and groups the answers into views, saying when the copies
   * disagree. A node that cannot be asked is listed with its error. A key travels to a node only
   * once every atom in it exists there: the lookup never creates an atom on a node.
   */
  async lookup(name: string): Promise<RegistryLookupResponse> {
    const typed = checkLookupName(name);
    const { manager, probe, lookupConcurrency } = this.settings;
    const { timeoutMs, elixirRegistries, hordeRegistries, synScopes, synScopeLimit } = probe;
    const options = { timeoutMs, elixirRegistries, hordeRegistries, synScopes, synScopeLimit };
    return lookupAcross({
      clusterId: this.clusterId,
      name: typed,
      nodes: manager ? this.connectedNodes() : [],
      concurrency: lookupConcurrency,
      lookup: async (node) => {
        if (!manager) throw new Error('the distribution side is not running');
        return lookupName(
          (module, fn, args, callOptions) => manager.rpc(node, module, fn, args, callOptions),
          typed,
          options,
        );
      },
      hostStatus: (node) => {
        const side = this.sides.get(node);
        if (!side) return 'not_a_member';
        return side.connection.status === 'connected' ? 'connected' : 'disconnected';
      },
    });
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
      const syncing = this.settings.source.status().state === 'syncing';
      const pending =
        this.codeScans.pending() > 0 ||
        [...this.sides.values()].some(
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
    if (this.gaugesDue) this.recompute.runNow();
    else this.recompute.flush();
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
        if (this.firstOutcomes.forget(node)) this.codeScans.resume();
        this.peers.forget(node);
        this.cappedPeers.delete(node);
        this.history.forget(node);
        this.hostedCadence.forget(node);
        this.links.forget(node);
        this.peerCadence.forget(node);
        this.versionCadence.forget(node);
        this.registryCadence.forget(node);
        this.codeScans.forget(node);
      }
    }
    const { manager } = this.settings;
    if (manager) {
      for (const node of nodes) {
        if (this.sides.has(node)) continue;
        this.sides.set(node, blankSide(node, { status: 'connecting', since: this.now() }));
        this.firstOutcomes.add(node);
      }
      manager.track(nodes);
      // track() may have connected some at once (state events) or left them as they were.
      for (const node of nodes) this.applyNodeState(node, manager.state(node));
    }
    // A pod's readiness is news now: not held behind the probes' longer pause, nor behind a
    // rebuild of the whole state when only pods' fields changed.
    if (!this.running || !this.publishPodChanges()) this.scheduleRecompute(true);
  };

  private readonly onStatus = (status: KubernetesSourceStatus): void => {
    if (status.state === 'error') this.metricsOf.countKubernetesError();
    this.scheduleRecompute(true);
  };

  private readonly onKubernetesEvent = (event: KubernetesEvent): void => {
    this.flush();
    this.downCauses.observeEvent(event);
    this.stream.publishEvents([
      {
        kind: 'kubernetes_event',
        severity: event.type === 'Warning' ? 'warning' : 'info',
        message: `${event.reason} ${event.involvedObject.kind.toLowerCase()}/${event.involvedObject.name}: ${event.message}`,
        kubernetes: event,
        ...(event.involvedObject.kind === 'Pod' ? { pod: event.involvedObject.name } : {}),
      },
    ]);
    this.downCauses.reconsider();
  };

  private readonly onNodeState = (node: string, state: NodeConnectionState): void => {
    if (!this.sides.has(node)) return;
    const wasConnected = this.sides.get(node)?.connection.status === 'connected';
    this.applyNodeState(node, state);
    if (state.status === 'connected' && !wasConnected) {
      // Maybe a new incarnation of the node (a restarted pod keeps its name): scan its code again.
      this.codeScans.reconnected(node);
      // A new connection may be a new node: its versions and peers are read in full again.
      this.peerCadence.forget(node);
      this.versionCadence.forget(node);
      this.registryCadence.forget(node);
      this.scheduler.enqueue(node, true);
    }
    // A node that could not be connected has had its first outcome.
    const failed = state.status !== 'connected' && state.status !== 'connecting';
    const lastOutcome = failed && this.firstOutcomes.settle(node);
    if (lastOutcome) this.codeScans.resume();
    // A dropped connection is news now, not at the next poll.
    if ((wasConnected && state.status !== 'connected') || lastOutcome) {
      if (this.running) this.recompute.runNow();
    } else this.scheduleRecompute();
  };

  private applyNodeState(node: string, state: NodeConnectionState): void {
    const side = this.sides.get(node);
    if (side) this.sides.set(node, withConnection(side, state));
  }

  // ----- probing --------------------------------------------------------------------------

  private connectedNodes(): string[] {
    return [...this.sides.values()]
      .filter((side) => side.connection.status === 'connected')
      .map((side) => side.node);
  }

  private async probe(node: string): Promise<void> {
    try {
      await this.probeOnce(node);
    } finally {
      // The last node of a start probed: the state with every node in it is news now, and the
      // code scans held meanwhile may start.
      if (this.firstOutcomes.settle(node)) {
        if (this.running) this.recompute.runNow();
        this.codeScans.resume();
      }
    }
  }

  private async probeOnce(node: string): Promise<void> {
    const { manager, probe: options } = this.settings;
    if (!manager) return;
    // Something is moving (a rebalance: count at every probe, so the page follows it) or off
    // (copies that disagree, hosted entries that do not add up: count often while it moves).
    const unsettled: Unsettled =
      this.state.rebalances.length > 0
        ? 'moving'
        : this.state.divergences.length > 0 ||
            this.state.registries.some((registry) => registry.invariant?.holds === false)
          ? 'off'
          : 'settled';
    const before = this.sides.get(node);
    const countHosted = this.hostedCadence.due(node, before, this.now(), unsettled);
    const clusterSize = this.sides.size;
    const knownPeers = before?.sees?.length ?? null;
    const linkPlan: LinkPlan = { knownPeers, clusterSize };
    const listPeers = this.peerCadence.listDue(node, clusterSize, knownPeers);
    const known = this.versionCadence.reuse(node, clusterSize);
    // What a probe learns of absent registries is kept only from one that read them.
    const readRegistries = this.registryCadence.due(
      node,
      clusterSize,
      unsettled === 'moving' || countHosted || !known,
    );
    const skip = new Set<ProbeField>(UNUSED_FIELDS);
    if (!listPeers) skip.add('connectedNodes');
    const rpc = this.nodeRpc(manager, node);
    // A peer list longer than the cluster could explain is cut at the node's reply.
    const listCap = peerListCap(clusterSize);
    let report: NodeProbeReport;
    // Links followed where the probe ran (a manager's thread), or here after it.
    let linksThere: LinkReading | null = null;
    let linksHere: Pick<ProbeOptions, 'links'> = {};
    try {
      const probeOptions: ProbeOptions = {
        ...options,
        countHosted,
        listCap,
        skip,
        registries: readRegistries,
        ...(known ? { reuse: known.versions, knownAbsent: known.absent } : {}),
      };
      if (manager.probe) {
        ({ report, links: linksThere } = await manager.probe(node, probeOptions, linkPlan));
      } else {
        linksHere = this.links.plan(node, linkPlan);
        report = await runProbes(rpc, { ...probeOptions, ...linksHere });
      }
      if (this.peerCadence.counted(node, report.connectionCount, listPeers)) {
        // The node's connections moved since its last probe: its peer list is news now.
        report = { ...report, connectedNodes: await this.readPeerList(rpc, listCap, report) };
        this.peerCadence.listed(node);
      }
    } catch {
      // runProbes records per-field failures itself; anything else is the connection's news.
      return;
    }
    if (!known) this.versionCadence.record(node, factsOf(report));
    const side = this.sides.get(node);
    if (!this.running || !side) return;
    if (answeredNothing(report) && manager.drop) {
      // Its socket may stay open for a minute (until four tick intervals pass in silence), and
      // meanwhile the dashboard would call it connected with the last view it had. Drop the
      // connection with the reason: the member shows `timeout`, and reconnecting shows when
      // the node answers again.
      const seconds = options.timeoutMs / 1000;
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
    const sees = !connected
      ? null
      : report.connectedNodes
        ? this.peers.sees(node, side.sees, report.connectedNodes.nodes)
        : // Not read this time (its connection count did not move): the last list stands.
          !listPeers && !report.errors.connectedNodes
          ? side.sees
          : null;
    if (sees && sees !== side.sees) this.peerCadence.changed(side.sees, sees);
    const reading = linksThere ?? this.links.follow(node, report, linksHere, at);
    this.flaps.hold(reading.flaps);
    const links = reading.links;
    // A list not read this time keeps the verdict on the last one.
    const capped = report.connectedNodes
      ? cappedPeersReason(report.connectedNodes)
      : (this.cappedPeers.get(node) ?? null);
    const probed = probedSide(side, report, at, sees, links, capped);
    // Registries not read this time: the last counts stand.
    const updated = readRegistries ? probed : { ...probed, registries: side.registries };
    if (capped && !this.cappedPeers.has(node)) {
      // Once per change, beside the page's probe error: the server's log says it too.
      console.warn(`beamscope: cluster ${this.clusterId}: node ${node} ${capped}`);
      this.cappedPeers.set(node, capped);
    } else if (!capped) this.cappedPeers.delete(node);
    const gaugesOnly = onlyGaugesMoved(side, updated);
    this.sides.set(node, updated);
    if (countHosted) this.hostedCadence.record(node, updated, at);
    this.codeScans.observe(node, report.memory?.code ?? null);
    this.metricsOf.observeProbe(report.durationMs / 1000);
    const point: NodeHistoryPoint = {
      at,
      processCount: updated.processCount,
      registeredNames: hostedNames(updated),
      memoryBytes: updated.memoryBytes,
    };
    this.history.record(node, point);
    for (const listener of this.pointListeners) listener(node, point);
    this.scheduleRecompute(false, gaugesOnly);
  }

  /** Reads a node's peer list on its own; a failure is kept in `report.errors` as a probe's. */
  private async readPeerList(rpc: RpcFunction, listCap: number, report: NodeProbeReport) {
    try {
      return await callProbe(rpc, visibleNodesProbe(listCap), this.settings.probe.timeoutMs);
    } catch (error) {
      report.errors.connectedNodes = toProbeError(error);
      return null;
    }
  }

  // ----- state ----------------------------------------------------------------------------

  private now(): number {
    return this.settings.now();
  }

  /**
   * Publishes a change of pods' fields alone (see `podsOnlyState`) now, in the turn the watch
   * told it; false when the change needs a rebuild. The rebuild that follows the probes' news
   * starts from this state, so the state still converges on both sides' truth.
   */
  private publishPodChanges(): boolean {
    const at = this.now();
    if (at - this.podChangeAt < POD_CHANGE_MIN_GAP_MS) return false;
    const members = this.settings.source.members();
    const prev = this.state;
    const next = podsOnlyState(prev, this.stateMembers, members, this.settings.source.status(), at);
    if (!next) return false;
    this.podChangeAt = at;
    // The mesh is the very same: a later diff against this state finds it without building it.
    this.meshes.remember(next.members, this.meshes.ofState(prev));
    this.commit(next, members, diffMemberTimeline(prev, next));
    this.scheduleRecompute();
    return true;
  }

  private compute(members: readonly KubernetesMember[]): ClusterState {
    const { distributionError, manager, source } = this.settings;
    const distribution: DistributionStatus =
      manager && !distributionError
        ? { state: 'ok' }
        : {
            state: 'error',
            code: distributionError?.code ?? 'distribution_unavailable',
            reason: distributionError?.reason ?? 'the distribution side is not running',
          };
    return buildClusterState(
      {
        clusterId: this.clusterId,
        at: this.now(),
        localNode: this.settings.localNode,
        kubernetes: source.status(),
        distribution,
        kubernetesMembers: members,
        beam: this.sides,
      },
      this.meshes,
    );
  }

  /**
   * `soon`: a change someone waits on (see {@link Coalescer.schedule}). `gaugesOnly`: a probe
   * that moved nothing but the node's gauges (see `onlyGaugesMoved`). Those wait for the poll's
   * last probe (the scheduler's `idle`) or any other change, so that a poll's gauges are told in
   * one rebuild; a poll interval after the first at most, should the probes never all be done.
   */
  private scheduleRecompute(soon = false, gaugesOnly = false): void {
    if (!this.running) return;
    if (gaugesOnly) {
      this.gaugesDue ??= setTimeout(() => {
        this.gaugesDue = undefined;
        this.scheduleRecompute();
      }, this.settings.pollIntervalMs);
      return;
    }
    this.recompute.schedule(soon, this.firstOutcomes.waiting ? FIRST_OUTCOMES_PAUSE_MS : 0);
  }

  private recomputeOnce(): void {
    clearTimeout(this.gaugesDue);
    this.gaugesDue = undefined;
    const now = this.now();
    const members = this.settings.source.members();
    const computed = this.compute(members);
    const main = new Set(
      computed.mainPartition === null ? [] : computed.partitions[computed.mainPartition],
    );
    // The pods Kubernetes lists (terminating ones left out), node → pod: a new pod is a scale-up.
    const listed = new Map<string, string>();
    for (const member of computed.members) {
      const pod = member.kubernetes;
      if (!pod || pod.terminating || member.node === null) continue;
      listed.set(member.node, pod.podUid ?? pod.podName ?? pod.ip);
    }
    const rebalanced = this.rebalances.observe(computed.registries, main, listed, now);
    const next: ClusterState = {
      ...computed,
      rebalances: this.rebalances.current(),
      divergences: this.divergences.forState(computed),
      codeSkew: this.codeScans.skew([...this.sides.keys()]),
    };
    const delta = diffClusterState(this.state, next);
    if (!delta) {
      this.stream.publishEvents(rebalanced);
      return;
    }
    const changes = [
      ...diffTimeline(this.state, next, this.meshes),
      ...rebalanced.map((event) => ({ event })),
    ];
    if (changes.some(({ event }) => event.kind === 'partition_healed'))
      this.divergences.healed(now);
    this.commit(next, members, changes, delta);
    void this.compareCopiesDue(next);
  }

  /** Makes `next` the state and tells its delta and events. */
  private commit(
    next: ClusterState,
    members: readonly KubernetesMember[],
    changes: TimelineChange[],
    delta = diffClusterState(this.state, next),
  ): void {
    if (!delta) return;
    this.state = next;
    this.stateMembers = members;
    // The evidence as of this state, before its events are told (they carry their causes).
    this.downCauses.observe(next);
    this.stream.publishDelta(delta, compactDelta(delta, next));
    this.stream.publishChanges(
      this.linkChanges.take(changes.filter(({ event }) => event.kind !== 'registry_changed')),
    );
    for (const { event } of changes)
      if (event.kind === 'registry_changed') this.registryChanges.hold(event);
    this.downCauses.reconsider();
  }

  /**
   * Compares the copies of the registries whose counts say they may disagree (and those known
   * to, until they agree), one comparison at a time and never more often than the monitor
   * allows: a bounded read of the nodes, run beside the probes, not in their way.
   */
  private async compareCopiesDue(state: ClusterState): Promise<void> {
    const { manager } = this.settings;
    if (!manager || !this.running) return;
    if (this.comparing) {
      // Asked again while comparing (a heal, say): once this round ends, another looks.
      this.compareAgain = true;
      return;
    }
    const due = this.divergences.due(state, this.now());
    if (due.length === 0) return;
    this.comparing = true;
    try {
      // The registries side by side: right after a heal each has its few seconds to be seen.
      await Promise.all(
        due.map(async (entry) => {
          const result = await this.compare(manager, entry.registry, entry.nodes).catch(() => null);
          if (!result || !this.running) return;
          this.stream.publishEvents(this.divergences.record(result, this.now()));
        }),
      );
    } finally {
      this.comparing = false;
    }
    this.scheduleRecompute();
    if (this.compareAgain) {
      this.compareAgain = false;
      void this.compareCopiesDue(this.state);
    }
  }

  /**
   * Compares, now, the copies of every replicated registry in every partition of two nodes or
   * more (the dashboard's "compare copies" and the API's). What it finds is recorded as if the
   * collector had compared them itself. A second request within a few seconds gets the first's
   * answer instead of another read of every node.
   */
  async compareRegistries(): Promise<RegistryComparisonResponse> {
    const last = this.lastComparison;
    if (last && this.now() - last.comparedAt < ON_DEMAND_COMPARE_MS) return last;
    const { manager } = this.settings;
    const state = this.state;
    const comparisons: RegistryComparison[] = [];
    if (manager) {
      for (const summary of state.registries) {
        if (!summary.replicated || !registryTable(summary.registry)) continue;
        for (const [partition, nodes] of state.partitions.entries()) {
          const holders = nodes.filter((node) =>
            summary.shares.some((share) => share.node === node),
          );
          if (holders.length < 2) continue;
          const started = this.now();
          const result = await this.compare(manager, summary.registry, holders).catch(() => null);
          if (!result) continue;
          this.stream.publishEvents(this.divergences.record(result, this.now()));
          const { registry: _registry, ...found } = result;
          comparisons.push({
            registry: summary.registry,
            partition,
            ...found,
            durationMs: this.now() - started,
          });
        }
      }
      this.scheduleRecompute();
    }
    this.lastComparison = { clusterId: this.clusterId, comparedAt: this.now(), comparisons };
    return this.lastComparison;
  }

  /** Scans one node's code (see `code-scans.ts` for when). */
  private scanNodeCode(node: string) {
    const { manager, probe, codeScan } = this.settings;
    if (!manager) return Promise.reject(new Error('the distribution side is not running'));
    return scanCode(this.nodeRpc(manager, node), {
      timeoutMs: probe.timeoutMs,
      chunkSize: codeScan.chunkSize,
      moduleLists: this.moduleLists,
    });
  }

  /** A code scan's outcome on the node's side: its applications and when it was scanned. */
  private codeScanned(
    node: string,
    codeScan: NonNullable<BeamSide['codeScan']>,
    applications: BeamSide['applications'],
  ): void {
    const side = this.sides.get(node);
    if (!side || !this.running) return;
    if (codeScan.error !== null && codeScan.error !== side.codeScan?.error) {
      // Once per change, beside the node's drawer: the server's log says it too.
      console.warn(`beamscope: cluster ${this.clusterId}: node ${node}: ${codeScan.error}`);
    }
    this.sides.set(node, {
      ...side,
      codeScan,
      // A failed scan keeps what the last good one found.
      applications: applications ?? side.applications,
    });
    this.scheduleRecompute();
  }

  /**
   * Compares the copies of `registry` on `nodes` (see `compareCopies`) where the connections
   * are: a comparison reads every node's copy, the heaviest of the collector's reads.
   */
  private compare(
    manager: CollectorManager,
    registry: string,
    nodes: readonly string[],
  ): Promise<CopyComparison | null> {
    const { timeoutMs } = this.settings.probe;
    if (manager.compare) return manager.compare(registry, nodes, { timeoutMs });
    return compareCopies((node) => this.nodeRpc(manager, node), registry, nodes, {
      timeoutMs,
      pace: this.comparePace,
    });
  }

  /** One node's rpc, as the probes take it: their own module, function and arguments. */
  private nodeRpc(manager: CollectorManager, node: string): RpcFunction {
    return (module, fn, args, callOptions) => manager.rpc(node, module, fn, args, callOptions);
  }
}
