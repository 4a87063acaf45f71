import 'server-only';

import { AggregatorRegistry } from 'prom-client';

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

/**
 * Where `?name=` is registered, for `GET /api/clusters/{id}/registry`: the name is read (plain
 * text or term syntax) before anything is sent, and malformed syntax is a 400 saying where.
 */
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

/**
 * Every cluster's numbers in the Prometheus text format (0.0.4), for `GET /api/metrics`:
 * members, clustered nodes, partitions, registered names per node and registry, the probe
 * latency histogram, and how often the Kubernetes link failed. Each collector keeps its own
 * cluster's metrics; merging them here gives one family per metric, a series per cluster.
 */
export async function renderMetrics(
  clusters: Iterable<Pick<ClusterRuntime, 'collector'>>,
): Promise<string> {
  const perCluster = await Promise.all([...clusters].map(({ collector }) => collector.metrics()));
  return AggregatorRegistry.aggregate(perCluster).metrics();
}
