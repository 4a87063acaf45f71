import { describe, expect, it } from 'vitest';

import type { ClusterSnapshot } from '@/lib/api';
import { diffClusterState } from '@/lib/cluster-diff';
import type { TimelineEvent } from '@/lib/cluster-state';
import {
  appendSample,
  appendTimelineMessage,
  applyDeltaMessage,
  reconnectDelay,
  clusterTotals,
  linkFailed,
  sampleOf,
} from '@/lib/dashboard';
import { filterRows, membershipRows, sortRows } from '@/lib/membership';

import { fullMesh, ip, n, pod, side, stateOf, swarm } from './fixtures';

function snapshotOf(state: ClusterSnapshot['state'], seq = 5): ClusterSnapshot {
  return {
    epoch: 'e1',
    seq,
    state,
    timeline: [],
    at: 0,
    cluster: {
      id: 'test',
      displayName: 'Test',
      namespace: 'default',
      discovery: { mode: 'endpointSlices', target: 'service myapp' },
      members: { total: 0, ready: 0 },
      mesh: { connected: 0, partitions: 0, unclustered: 0 },
      kubernetes: { state: 'ok', since: 0 },
    },
  };
}

const event = (seq: number): TimelineEvent => ({
  seq,
  at: seq,
  kind: 'member_joined',
  severity: 'info',
  message: `event ${seq}`,
});

describe('stream messages', () => {
  it('applies a newer delta and skips one the snapshot already holds', () => {
    const before = stateOf([pod(ip(1))], fullMesh([1]));
    const after = stateOf([pod(ip(1)), pod(ip(2))], fullMesh([1, 2]));
    const delta = diffClusterState(before, after)!;
    const current = snapshotOf(before);
    expect(applyDeltaMessage(current, { seq: 5, delta })).toBe(current);
    const next = applyDeltaMessage(current, { seq: 6, delta })!;
    expect(next.seq).toBe(6);
    expect(next.state.members.map((member) => member.key)).toEqual([n(1), n(2)]);
  });

  it('appends timeline events once and keeps the last few', () => {
    let current: ClusterSnapshot | undefined = snapshotOf(stateOf([], []), 0);
    for (let seq = 1; seq <= 5; seq += 1) current = appendTimelineMessage(current, event(seq), 3);
    current = appendTimelineMessage(current, event(4), 3);
    expect(current!.timeline.map((entry) => entry.seq)).toEqual([3, 4, 5]);
  });
});

describe('link state and back-off', () => {
  it('doubles the delay up to a cap', () => {
    expect([0, 1, 2, 3].map((attempt) => reconnectDelay(attempt))).toEqual([
      1000, 2000, 4000, 8000,
    ]);
    expect(reconnectDelay(20)).toBe(30_000);
    expect(reconnectDelay(0, 1)).toBe(1200);
  });

  it('keeps the time the link was lost and turns stale after a few failures', () => {
    let link = linkFailed({ status: 'live', since: 0 }, 'closed', 100);
    expect(link).toMatchObject({ status: 'reconnecting', since: 100, attempt: 0 });
    for (let attempt = 1; attempt <= 3; attempt += 1)
      link = linkFailed(link, 'down', 100 + attempt);
    expect(link).toMatchObject({ status: 'stale', since: 100, reason: 'down' });
  });
});

describe('clusterTotals', () => {
  it('counts pods, clustered nodes, partitions, registries and OTP releases', () => {
    const state = stateOf(
      [pod(ip(1)), pod(ip(2), { ready: false }), pod(ip(3))],
      [
        side(n(1), [n(2)], { registries: [swarm(10, 6)] }),
        side(n(2), [n(1)], { registries: [swarm(10, 4)], otpRelease: '26' }),
        side(n(3), []),
      ],
    );
    expect(clusterTotals(state)).toMatchObject({
      podsReady: 2,
      pods: 3,
      nodesClustered: 2,
      nodes: 3,
      partitions: 2,
      registries: [{ registry: 'swarm', names: 10 }],
      // What the connected nodes host (6 + 4), not their copies (10 + 10).
      hostedNames: 10,
      otpReleases: [
        { otpRelease: '25', nodes: 2 },
        { otpRelease: '26', nodes: 1 },
      ],
    });
  });

  it('samples hosted names for the strip chart, each name once however many copies', () => {
    const state = stateOf(
      [pod(ip(1)), pod(ip(2)), pod(ip(3))],
      fullMesh([1, 2, 3]).map((entry, index) => ({
        ...entry,
        registries: [swarm(9_000, 3_000 + index)],
      })),
    );
    expect(sampleOf(state, 5)).toEqual({ at: 5, members: 3, clustered: 3, hostedNames: 9_003 });
  });

  it('keeps an hour of samples and folds a burst into one', () => {
    let samples = appendSample([], { at: 0, members: 1, clustered: 1, hostedNames: 0 });
    samples = appendSample(samples, { at: 500, members: 2, clustered: 2, hostedNames: 0 });
    expect(samples).toHaveLength(1);
    samples = appendSample(samples, {
      at: 3_700_000,
      members: 3,
      clustered: 3,
      hostedNames: 0,
    });
    expect(samples.map((sample) => sample.at)).toEqual([3_700_000]);
  });
});

describe('membership rows', () => {
  const state = stateOf(
    [pod(ip(1)), pod(ip(2)), pod(ip(10), { beamNode: null })],
    [side(n(1), [n(2)], { processCount: 50 }), side(n(2), [n(1)], { processCount: 900 })],
  );

  it('sorts numbers by value with blanks last and filters by text, state and kind', () => {
    const rows = membershipRows(state);
    const byProcesses = sortRows(rows, { column: 'processes', direction: 'descending' });
    expect(byProcesses.map((row) => row.processes)).toEqual([900, 50, null]);
    expect(filterRows(rows, { text: '10.0.0.1', states: [], sides: [] })).toHaveLength(2);
    expect(
      filterRows(rows, { text: '', states: [], sides: ['kubernetes-only'] }).map((row) => row.ip),
    ).toEqual([ip(10)]);
    expect(filterRows(rows, { text: '', states: ['clustered'], sides: [] })).toHaveLength(2);
  });
});
