import { AggregatorRegistry, register } from 'prom-client';
import { describe, expect, it } from 'vitest';

import { ClusterMetrics } from '@/server/collector/metrics';

import { fullMesh, ip, pod, side, stateOf, swarm } from '../lib/fixtures';

async function text(...clusters: Array<[ClusterMetrics, Parameters<ClusterMetrics['read']>[0]]>) {
  const json = await Promise.all(clusters.map(([metrics, view]) => metrics.read(view)));
  return AggregatorRegistry.aggregate(json).metrics();
}

describe('ClusterMetrics', () => {
  it('exposes the cluster, its nodes and its registries, each series labelled with its cluster', async () => {
    const metrics = new ClusterMetrics('c1');
    const [a, b] = fullMesh([1, 2]);
    const state = stateOf(
      [pod(ip(1)), pod(ip(2)), pod(ip(3)), pod(ip(4), { ready: false })],
      [a!, { ...b!, registries: [swarm(7, 3)], processCount: 42, memoryBytes: 4096 }],
    );
    metrics.observeProbe(0.02);
    metrics.observeProbe(3);
    metrics.countKubernetesError();
    const lines = (await text([metrics, { state, subscribers: 2 }])).split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        '# HELP beamscope_members Pods Kubernetes lists.',
        '# TYPE beamscope_members gauge',
        'beamscope_members{cluster="c1"} 4',
        'beamscope_members_ready{cluster="c1"} 3',
        'beamscope_nodes_connected{cluster="c1"} 2',
        'beamscope_nodes_clustered{cluster="c1"} 2',
        'beamscope_partitions{cluster="c1"} 1',
        'beamscope_unclustered{cluster="c1"} 1',
        'beamscope_ghosts{cluster="c1"} 0',
        'beamscope_node_processes{cluster="c1",node="myapp@10.0.0.2"} 42',
        'beamscope_node_memory_bytes{cluster="c1",node="myapp@10.0.0.2"} 4096',
        'beamscope_registered_names{cluster="c1",node="myapp@10.0.0.2",registry="swarm"} 7',
        'beamscope_hosted_names{cluster="c1",node="myapp@10.0.0.2",registry="swarm"} 3',
        '# TYPE beamscope_probe_duration_seconds histogram',
        'beamscope_probe_duration_seconds_bucket{le="0.025",cluster="c1"} 1',
        'beamscope_probe_duration_seconds_bucket{le="2.5",cluster="c1"} 1',
        'beamscope_probe_duration_seconds_bucket{le="5",cluster="c1"} 2',
        'beamscope_probe_duration_seconds_bucket{le="+Inf",cluster="c1"} 2',
        'beamscope_probe_duration_seconds_sum{cluster="c1"} 3.02',
        'beamscope_probe_duration_seconds_count{cluster="c1"} 2',
        '# TYPE beamscope_kubernetes_errors_total counter',
        'beamscope_kubernetes_errors_total{cluster="c1"} 1',
        'beamscope_event_stream_subscribers{cluster="c1"} 2',
      ]),
    );
  });

  it('shows zero series before anything happened, and drops the series of a node that left', async () => {
    const metrics = new ClusterMetrics('c1');
    const before = await text([
      metrics,
      { state: stateOf([pod(ip(1))], [side('myapp@10.0.0.1', [])]), subscribers: 0 },
    ]);
    expect(before).toContain('beamscope_probe_duration_seconds_count{cluster="c1"} 0');
    expect(before).toContain('beamscope_kubernetes_errors_total{cluster="c1"} 0');
    expect(before).toContain('beamscope_node_processes{cluster="c1",node="myapp@10.0.0.1"} 100');
    const after = await text([metrics, { state: stateOf([], []), subscribers: 0 }]);
    expect(after).not.toContain('node="myapp@10.0.0.1"');
  });

  it('keeps each cluster apart, in one family per metric, and off the global registry', async () => {
    const one = new ClusterMetrics('one');
    const two = new ClusterMetrics('two');
    one.observeProbe(1);
    const exposed = await text(
      [one, { state: stateOf([pod(ip(1))], []), subscribers: 0 }],
      [two, { state: stateOf([], []), subscribers: 1 }],
    );
    expect(exposed.match(/^# TYPE beamscope_members gauge$/gm)).toHaveLength(1);
    expect(exposed).toContain('beamscope_members{cluster="one"} 1');
    expect(exposed).toContain('beamscope_members{cluster="two"} 0');
    expect(exposed).toContain('beamscope_probe_duration_seconds_count{cluster="one"} 1');
    expect(exposed).toContain('beamscope_probe_duration_seconds_count{cluster="two"} 0');
    expect(register.getMetricsAsArray()).toEqual([]);
  });
});
