import 'server-only';

import { AggregatorRegistry } from 'prom-client';

import type {
  ClusterSnapshot,
  ListPage,
  NodeDetailsResponse,
  RegistryLookupResponse,
  TimelineEventDetailsResponse,
} from '@/lib/api';
import { compactState, type WireClusterState } from '@/lib/peer-wire';
import { linksOf } from '@/lib/timeline-summary';

import { BeamscopeError } from '../errors';
import type { ClusterRuntime } from '../runtime';
import { peersForm } from './peers-param';

/** What a node name in a URL may look like: `name@host`, as OTP allows it. */
const NODE_NAME = /^[A-Za-z0-9_-]{1,255}@[A-Za-z0-9_.:-]{1,255}$/;

function badRequest(message: string): BeamscopeError {
  return new BeamscopeError('http', 'bad_request', message);
}

/**
 * A cluster's snapshot for `GET /api/clusters/{id}`: peer lists whole, or with `?peers=compact`
 * relative to each node's partition (what the dashboard asks for; `lib/peer-wire.ts`).
 */
export function clusterSnapshot(
  cluster: Pick<ClusterRuntime, 'snapshot'>,
  params: URLSearchParams,
): ClusterSnapshot | (Omit<ClusterSnapshot, 'state'> & { state: WireClusterState }) {
  const form = peersForm(params);
  const snapshot = cluster.snapshot();
  return form === 'compact' ? { ...snapshot, state: compactState(snapshot.state) } : snapshot;
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

/** Items a page of an event's list holds unless `?limit=` says otherwise, and at most. */
const DEFAULT_PAGE = 1000;
const MAX_PAGE = 10_000;

/** One whole number from a query parameter's `values`; read by name at the call, for review. */
function pageParam(values: string[], name: string, fallback: number, max: number): number {
  if (values.length === 0) return fallback;
  const value = values.length === 1 && /^\d{1,9}$/.test(values[0]!) ? Number(values[0]) : NaN;
  if (!Number.isSafeInteger(value) || value > max) {
    throw badRequest(`?${name}= takes one whole number from 0 to ${max}`);
  }
  return value;
}

/**
 * A summary event's full lists, for `GET /api/clusters/{id}/events/{seq}`: every side, and a page
 * of its links or members (`?offset=` from 0, `?limit=` up to 10,000). The server keeps the lists
 * of its last summary events only; an older one answers 404 `event_not_found`.
 */
export function eventDetails(
  cluster: Pick<ClusterRuntime, 'collector' | 'config'>,
  rawSeq: string,
  params: URLSearchParams,
): TimelineEventDetailsResponse {
  if (!/^\d{1,15}$/.test(rawSeq)) {
    throw badRequest(`"${rawSeq.slice(0, 100)}" is not an event's sequence number`);
  }
  const offset = pageParam(params.getAll('offset'), 'offset', 0, Number.MAX_SAFE_INTEGER);
  const limit = pageParam(params.getAll('limit'), 'limit', DEFAULT_PAGE, MAX_PAGE);
  const held = cluster.collector.eventDetails(Number(rawSeq));
  if (!held) {
    throw new BeamscopeError(
      'http',
      'event_not_found',
      `cluster ${cluster.config.id} holds no list for event ${rawSeq}: only the last summary events keep theirs`,
    );
  }
  const { event, details } = held;
  const page = <T>(total: number, items: T[]): ListPage<T> => ({ total, offset, items });
  return {
    clusterId: cluster.config.id,
    event,
    ...(details.sides ? { sides: details.sides } : {}),
    ...(details.links
      ? { links: page(details.links.packed.length, linksOf(details.links, offset, limit)) }
      : {}),
    ...(details.members
      ? {
          members: page(details.members.length, details.members.slice(offset, offset + limit)),
        }
      : {}),
  };
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
