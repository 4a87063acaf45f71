import 'server-only';

import type { NodeDetailsResponse, RegistryLookupResponse } from '@/lib/api';

import { BeamscopeError } from '../errors';
import type { ClusterRuntime } from '../runtime';

/** What a node name in a URL may look like: `name@host`, as OTP allows it. */
const NODE_NAME = /^[A-Za-z0-9_-]{1,255}@[A-Za-z0-9_.:-]{1,255}$/;

function badRequest(message: string): BeamscopeError {
  return new BeamscopeError('http', 'bad_request', message);
}

/** One member's details and history, for `GET /api/clusters/{id}/nodes/{node}`. */
export function nodeDetails(
  cluster: Pick<ClusterRuntime, 'collector' | 'config'>,
  rawNode: string,
): NodeDetailsResponse {
  let node = rawNode;
  try {
    node = decodeURIComponent(rawNode);
  } catch {
    // Not percent-encoded after all: validated as it is below.
  }
  if (!NODE_NAME.test(node)) {
    throw badRequest(`"${node.slice(0, 100)}" is not a node name (expected name@host)`);
  }
  const { state } = cluster.collector.snapshot();
  const member = state.members.find((candidate) => candidate.node === node);
  if (!member) {
    throw new BeamscopeError(
      'http',
      'node_not_found',
      `cluster ${cluster.config.id} has no member with the node ${node}`,
    );
  }
  return { clusterId: state.clusterId, member, history: cluster.collector.nodeHistory(node) };
}

/** Where `?name=` is registered, for `GET /api/clusters/{id}/registry`. */
export function registryLookup(
  cluster: Pick<ClusterRuntime, 'collector'>,
  params: URLSearchParams,
): Promise<RegistryLookupResponse> {
  const names = params.getAll('name');
  if (names.length !== 1 || !names[0]) {
    throw badRequest('give exactly one non-empty name to look up: ?name=…');
  }
  return cluster.collector.lookup(names[0]);
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(values: Record<string, string>): string {
  const text = Object.entries(values)
    .map(([name, value]) => `${name}="${escapeLabel(value)}"`)
    .join(',');
  return `{${text}}`;
}

class MetricsWriter {
  private readonly families = new Map<string, { help: string; type: string; lines: string[] }>();

  add(
    name: string,
    type: 'gauge' | 'counter' | 'histogram',
    help: string,
    values: Record<string, string>,
    value: number,
    suffix = '',
  ): void {
    let family = this.families.get(name);
    if (!family) {
      family = { help, type, lines: [] };
      this.families.set(name, family);
    }
    family.lines.push(`${name}${suffix}${labels(values)} ${value}`);
  }

  toString(): string {
    const out: string[] = [];
    for (const [name, family] of this.families) {
      out.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} ${family.type}`, ...family.lines);
    }
    return `${out.join('\n')}\n`;
  }
}

/**
 * Every cluster's numbers in the Prometheus text format (0.0.4), for `GET /api/metrics`:
 * members, clustered nodes, partitions, registered names per node and registry, the probe
 * latency histogram, and how often the Kubernetes link failed.
 */
export function renderMetrics(clusters: Iterable<Pick<ClusterRuntime, 'collector'>>): string {
  const metrics = new MetricsWriter();
  for (const cluster of clusters) {
    const { state } = cluster.collector.snapshot();
    const id = { cluster: state.clusterId };
    const pods = state.members.filter((member) => member.kubernetes !== null);
    metrics.add('beamscope_members', 'gauge', 'Pods Kubernetes lists.', id, pods.length);
    metrics.add(
      'beamscope_members_ready',
      'gauge',
      'Pods Kubernetes lists as ready.',
      id,
      pods.filter((member) => member.kubernetes?.ready).length,
    );
    metrics.add(
      'beamscope_nodes_connected',
      'gauge',
      'Nodes beamscope is connected to.',
      id,
      state.members.filter((member) => member.beam?.connection.status === 'connected').length,
    );
    metrics.add(
      'beamscope_nodes_clustered',
      'gauge',
      'Nodes in the main component of the mesh.',
      id,
      state.mainPartition === null ? 0 : (state.partitions[state.mainPartition]?.length ?? 0),
    );
    metrics.add(
      'beamscope_partitions',
      'gauge',
      'Connected components of the distribution mesh.',
      id,
      state.partitions.length,
    );
    metrics.add(
      'beamscope_unclustered',
      'gauge',
      'Ready pods whose node is outside the main component.',
      id,
      state.unclustered.length,
    );
    metrics.add(
      'beamscope_ghosts',
      'gauge',
      'Nodes in the mesh that no pod accounts for.',
      id,
      state.ghosts.length,
    );
    for (const member of state.members) {
      const beam = member.beam;
      if (!beam || beam.probedAt === null) continue;
      const node = { ...id, node: beam.node };
      if (beam.processCount !== null)
        metrics.add(
          'beamscope_node_processes',
          'gauge',
          'Processes on the node.',
          node,
          beam.processCount,
        );
      if (beam.memoryBytes !== null)
        metrics.add(
          'beamscope_node_memory_bytes',
          'gauge',
          'erlang:memory(total) of the node.',
          node,
          beam.memoryBytes,
        );
      for (const registry of beam.registries) {
        metrics.add(
          'beamscope_registered_names',
          'gauge',
          'Names in a registry as the node sees it.',
          { ...node, registry: registry.registry },
          registry.count,
        );
        if (registry.hosted !== null)
          metrics.add(
            'beamscope_hosted_names',
            'gauge',
            'Names in a registry whose process runs on the node.',
            { ...node, registry: registry.registry },
            registry.hosted,
          );
      }
    }
    const latency = cluster.collector.probeLatency();
    latency.buckets.forEach((bound, index) => {
      metrics.add(
        'beamscope_probe_duration_seconds',
        'histogram',
        'Time to probe one node (all catalogue calls).',
        { ...id, le: String(bound) },
        latency.counts[index] ?? 0,
        '_bucket',
      );
    });
    metrics.add(
      'beamscope_probe_duration_seconds',
      'histogram',
      '',
      { ...id, le: '+Inf' },
      latency.count,
      '_bucket',
    );
    metrics.add('beamscope_probe_duration_seconds', 'histogram', '', id, latency.sum, '_sum');
    metrics.add('beamscope_probe_duration_seconds', 'histogram', '', id, latency.count, '_count');
    metrics.add(
      'beamscope_kubernetes_errors_total',
      'counter',
      'Times the Kubernetes link went into error (each followed by a watch restart).',
      id,
      cluster.collector.kubernetesErrors,
    );
    metrics.add(
      'beamscope_event_stream_subscribers',
      'gauge',
      'Open event streams (browser tabs).',
      id,
      cluster.collector.subscriberCount,
    );
  }
  return metrics.toString();
}
