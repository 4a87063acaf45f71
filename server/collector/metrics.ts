import 'server-only';

// One cluster's Prometheus metrics, in a registry the collector owns (never prom-client's global
// one, which every test and every cluster would share): the probe latency histogram and the
// Kubernetes error counter, recorded as things happen, and the gauges, read from the state at
// each scrape. The registry travels with the collector, so the metrics route (bundled apart from
// the runtime that made the collector) reads the very metrics the probes record.

import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  type MetricObjectWithValues,
  type MetricValue,
} from 'prom-client';

import type { ClusterState } from '@/lib/cluster-state';

/** Upper bounds (seconds) of the probe latency histogram's buckets. */
export const PROBE_LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What a scrape reads from the collector at that moment. */
export interface MetricsView {
  state: ClusterState;
  subscribers: number;
}

/** A cluster's metrics as prom-client's JSON, to be merged with the other clusters'. */
export type ClusterMetricsJson = Array<MetricObjectWithValues<MetricValue<string>>>;

type StateGauge = readonly [name: string, help: string, value: (state: ClusterState) => number];

const pods = (state: ClusterState) => state.members.filter((member) => member.kubernetes !== null);

/** The gauges of the whole cluster, in the order they are exposed. */
const CLUSTER_GAUGES: readonly StateGauge[] = [
  ['beamscope_members', 'Pods Kubernetes lists.', (state) => pods(state).length],
  [
    'beamscope_members_ready',
    'Pods Kubernetes lists as ready.',
    (state) => pods(state).filter((member) => member.kubernetes?.ready).length,
  ],
  [
    'beamscope_nodes_connected',
    'Nodes beamscope is connected to.',
    (state) =>
      state.members.filter((member) => member.beam?.connection.status === 'connected').length,
  ],
  [
    'beamscope_nodes_clustered',
    'Nodes in the main component of the mesh.',
    (state) =>
      state.mainPartition === null ? 0 : (state.partitions[state.mainPartition]?.length ?? 0),
  ],
  [
    'beamscope_partitions',
    'Connected components of the distribution mesh.',
    (state) => state.partitions.length,
  ],
  [
    'beamscope_unclustered',
    'Ready pods whose node is outside the main component.',
    (state) => state.unclustered.length,
  ],
  [
    'beamscope_ghosts',
    'Nodes in the mesh that no pod accounts for.',
    (state) => state.ghosts.length,
  ],
];

/** The metrics of one cluster; every series carries the `cluster` label. */
export class ClusterMetrics {
  private readonly registry = new Registry();
  private readonly labels: { cluster: string };
  private readonly clusterGauges: Array<readonly [Gauge<'cluster'>, StateGauge[2]]>;
  private readonly nodeProcesses: Gauge<'cluster' | 'node'>;
  private readonly nodeMemory: Gauge<'cluster' | 'node'>;
  private readonly registeredNames: Gauge<'cluster' | 'node' | 'registry'>;
  private readonly hostedNames: Gauge<'cluster' | 'node' | 'registry'>;
  private readonly probeDuration: Histogram<'cluster'>;
  private readonly kubernetesErrors: Counter<'cluster'>;
  private readonly subscribers: Gauge<'cluster'>;

  constructor(clusterId: string) {
    this.labels = { cluster: clusterId };
    // Without `registers`, prom-client would also register each metric in its global registry.
    const registers = [this.registry];
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Gauge({ name, help, labelNames, registers });
    // The registry exposes metrics in the order they are made here.
    this.clusterGauges = CLUSTER_GAUGES.map(
      ([name, help, value]) => [gauge(name, help, ['cluster']), value] as const,
    );
    const perNode = ['cluster', 'node'] as const;
    const perRegistry = ['cluster', 'node', 'registry'] as const;
    this.nodeProcesses = gauge('beamscope_node_processes', 'Processes on the node.', perNode);
    this.nodeMemory = gauge(
      'beamscope_node_memory_bytes',
      'erlang:memory(total) of the node.',
      perNode,
    );
    this.registeredNames = gauge(
      'beamscope_registered_names',
      'Names in a registry as the node sees it.',
      perRegistry,
    );
    this.hostedNames = gauge(
      'beamscope_hosted_names',
      'Names in a registry whose process runs on the node.',
      perRegistry,
    );
    this.probeDuration = new Histogram({
      name: 'beamscope_probe_duration_seconds',
      help: 'Time to probe one node (all catalogue calls).',
      labelNames: ['cluster'],
      buckets: PROBE_LATENCY_BUCKETS,
      registers,
    });
    this.kubernetesErrors = new Counter({
      name: 'beamscope_kubernetes_errors_total',
      help: 'Times the Kubernetes link went into error (each followed by a watch restart).',
      labelNames: ['cluster'],
      registers,
    });
    this.subscribers = gauge(
      'beamscope_event_stream_subscribers',
      'Open event streams (browser tabs).',
      ['cluster'],
    );
    // A cluster with no probe or error yet still shows its zero series, not none.
    this.probeDuration.zero(this.labels);
    this.kubernetesErrors.inc(this.labels, 0);
  }

  observeProbe(seconds: number): void {
    this.probeDuration.observe(this.labels, seconds);
  }

  countKubernetesError(): void {
    this.kubernetesErrors.inc(this.labels);
  }

  /** Every metric as JSON, with the gauges read from `view` first. */
  read(view: MetricsView): Promise<ClusterMetricsJson> {
    this.setGauges(view);
    return this.registry.getMetricsAsJSON();
  }

  private setGauges({ state, subscribers }: MetricsView): void {
    for (const [gauge, value] of this.clusterGauges) gauge.set(this.labels, value(state));
    // Members come and go: only the nodes in this state may have series.
    this.nodeProcesses.reset();
    this.nodeMemory.reset();
    this.registeredNames.reset();
    this.hostedNames.reset();
    for (const member of state.members) {
      const beam = member.beam;
      if (!beam || beam.probedAt === null) continue;
      const node = { ...this.labels, node: beam.node };
      if (beam.processCount !== null) this.nodeProcesses.set(node, beam.processCount);
      if (beam.memoryBytes !== null) this.nodeMemory.set(node, beam.memoryBytes);
      for (const registry of beam.registries) {
        const labels = { ...node, registry: registry.registry };
        this.registeredNames.set(labels, registry.count);
        if (registry.hosted !== null) this.hostedNames.set(labels, registry.hosted);
      }
    }
    this.subscribers.set(this.labels, subscribers);
  }
}
