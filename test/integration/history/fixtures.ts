// Real cluster states and deltas for the history store tests, built by the same code as the
// collector's (state builder, diff, compact wire form), and events shaped as the collector's.

import { diffClusterState } from '@/lib/cluster-diff';
import type { ClusterState, TimelineEvent, TimelineEventKind } from '@/lib/cluster-state';
import { compactDelta, compactState } from '@/lib/peer-wire';

import type { HistoryBatch, RecordedDelta, RecordedKeyframe } from '../../../server/history/store';
import { fullMesh, ip, n, pod, stateOf } from '../../unit/lib/fixtures';

/** A mesh of nodes 1..count at `at`. */
export function meshState(count: number, at: number): ClusterState {
  const indexes = Array.from({ length: count }, (_, index) => index + 1);
  return stateOf(
    indexes.map((index) => pod(ip(index))),
    fullMesh(indexes),
    at,
  );
}

export function keyframe(state: ClusterState, run: string, seq: number): RecordedKeyframe {
  return { at: state.at, run, seq, state: compactState(state) };
}

export function delta(
  from: ClusterState,
  to: ClusterState,
  run: string,
  seq: number,
): RecordedDelta {
  // Two states with nothing but the time between them differ by no delta: record the time alone.
  const changes = diffClusterState(from, to) ?? {
    added: [],
    changed: [],
    removed: [],
    set: { at: to.at },
  };
  return { at: to.at, run, seq, delta: compactDelta(changes, to) };
}

export function event(
  seq: number,
  at: number,
  kind: TimelineEventKind = 'node_up',
  node = n((seq % 5) + 1),
): TimelineEvent {
  return { seq, at, kind, severity: 'info', message: `${kind} ${node}`, node };
}

/** A batch with only what is given, the rest empty. */
export function batch(
  clusterId: string,
  run: string,
  parts: Partial<Omit<HistoryBatch, 'clusterId' | 'run'>>,
): HistoryBatch {
  return {
    clusterId,
    run,
    events: [],
    deltas: [],
    keyframes: [],
    points: [],
    observedUntil: 0,
    ...parts,
  };
}

export { n };
