import { describe, expect, it } from 'vitest';

import {
  applyClusterDelta,
  deepEqual,
  diffClusterState,
  diffClusterStates,
} from '@/lib/cluster-diff';

import { fullMesh, ip, n, pod, side, stateOf, swarm } from './fixtures';

const kinds = (events: Array<{ kind: string }>) => events.map((event) => event.kind);

describe('deepEqual', () => {
  it('ignores key order and undefined keys', () => {
    expect(deepEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1, d: undefined })).toBe(
      true,
    );
    expect(deepEqual({ a: 1 }, { a: 2 })).toBe(false);
    expect(deepEqual([1], { 0: 1 })).toBe(false);
  });
});

describe('diffClusterState / applyClusterDelta', () => {
  it('is null when only the timestamp moved', () => {
    const pods = [pod(ip(1)), pod(ip(2))];
    expect(
      diffClusterState(stateOf(pods, fullMesh([1, 2]), 1), stateOf(pods, fullMesh([1, 2]), 2)),
    ).toBeNull();
  });

  it('round-trips: applying the delta to the old state gives the new one', () => {
    const prev = stateOf([pod(ip(1)), pod(ip(2)), pod(ip(3))], fullMesh([1, 2, 3]), 1);
    const next = stateOf(
      [pod(ip(1)), pod(ip(2)), pod(ip(4))],
      [side(n(1), [n(2)]), side(n(2), [n(1)], { processCount: 7 }), side(n(4), [])],
      2,
    );
    const delta = diffClusterState(prev, next)!;
    expect(delta.removed).toEqual([n(3)]);
    expect(delta.added.map((member) => member.key)).toEqual([n(4)]);
    // Only what changed travels: n(2)'s process count and both nodes' lists of peers.
    expect(delta.changed).toEqual([
      { key: n(1), beam: { sees: [n(2)] } },
      { key: n(2), beam: { processCount: 7, sees: [n(1)] } },
    ]);
    expect(delta.set.partitions).toEqual([[n(1), n(2)], [n(4)]]);
    expect(delta.set.clusterId).toBeUndefined();
    expect(applyClusterDelta(prev, delta)).toEqual(next);
  });
});

describe('diffClusterStates', () => {
  it('tells a pod joining and its node coming up', () => {
    const prev = stateOf([pod(ip(1))], fullMesh([1]));
    const joined = stateOf(
      [pod(ip(1)), pod(ip(2))],
      [side(n(1), []), side(n(2), null, { connection: { status: 'connecting', since: 1 } })],
    );
    const events = diffClusterStates(prev, joined);
    expect(events).toEqual([
      expect.objectContaining({ kind: 'member_joined', node: n(2), pod: 'myapp-abc-2' }),
    ]);
    const up = stateOf([pod(ip(1)), pod(ip(2))], fullMesh([1, 2]));
    expect(kinds(diffClusterStates(joined, up))).toEqual(['node_up']);
  });

  it('tells a node going down with its reason, and a pod leaving', () => {
    const prev = stateOf([pod(ip(1)), pod(ip(2))], fullMesh([1, 2]));
    const down = stateOf(
      [pod(ip(1)), pod(ip(2))],
      [
        side(n(1), []),
        side(n(2), null, {
          connection: {
            status: 'unreachable',
            since: 2,
            code: 'node_down',
            reason: 'connection closed',
          },
        }),
      ],
    );
    const events = diffClusterStates(prev, down);
    expect(events).toEqual([
      expect.objectContaining({
        kind: 'node_down',
        node: n(2),
        severity: 'error',
        message: `node ${n(2)} is down: connection closed`,
      }),
    ]);
    const gone = stateOf([pod(ip(1))], [side(n(1), [])]);
    expect(kinds(diffClusterStates(down, gone))).toEqual(['member_left']);
  });

  it('tells readiness and termination changes', () => {
    const prev = stateOf(
      [pod(ip(1)), pod(ip(2)), pod(ip(3), { ready: false })],
      fullMesh([1, 2, 3]),
    );
    const next = stateOf(
      [pod(ip(1), { ready: false }), pod(ip(2), { ready: false, terminating: true }), pod(ip(3))],
      fullMesh([1, 2, 3]),
    );
    expect(diffClusterStates(prev, next).map((event) => [event.kind, event.node])).toEqual([
      ['pod_unready', n(1)],
      ['pod_terminating', n(2)],
      ['pod_ready', n(3)],
    ]);
  });

  it('tells a partition as one event naming both sides and the links between them, and its heal', () => {
    const pods = [pod(ip(1)), pod(ip(2)), pod(ip(3))];
    const whole = stateOf(pods, fullMesh([1, 2, 3]));
    const split = stateOf(pods, [side(n(1), []), side(n(2), [n(3)]), side(n(3), [n(2)])]);
    const events = diffClusterStates(whole, split);
    // The two links that went down are the partition's, told inside it.
    expect(kinds(events)).toEqual(['partition_detected']);
    expect(events[0]).toMatchObject({
      sides: [
        { count: 2, sample: [n(2), n(3)] },
        { count: 1, sample: [n(1)] },
      ],
      sideCount: 2,
      links: {
        count: 2,
        sample: [
          [n(1), n(2)],
          [n(1), n(3)],
        ],
      },
      expandable: true,
    });
    expect(events[0]?.message).toBe(
      `partition detected: [${n(2)}, ${n(3)}] | [${n(1)}], 2 links down`,
    );

    const healed = diffClusterStates(split, whole);
    expect(kinds(healed)).toEqual(['partition_healed']);
    expect(healed[0]?.sides).toEqual(events[0]?.sides);
    expect(healed[0]?.message).toBe(
      `partition healed: [${n(2)}, ${n(3)}] | [${n(1)}] rejoined, 2 links up`,
    );
  });

  it('tells a single link going down or up as one event naming it', () => {
    const pods = [pod(ip(1)), pod(ip(2)), pod(ip(3))];
    const whole = stateOf(pods, fullMesh([1, 2, 3]));
    const cut = stateOf(pods, [side(n(1), [n(3)]), side(n(2), [n(3)]), side(n(3), [n(1), n(2)])]);
    expect(diffClusterStates(whole, cut)).toEqual([
      {
        kind: 'link_down',
        severity: 'warning',
        message: `link ${n(1)} — ${n(2)} is down`,
        link: [n(1), n(2)],
      },
    ]);
    expect(diffClusterStates(cut, whole)).toEqual([
      expect.objectContaining({ kind: 'link_up', link: [n(1), n(2)] }),
    ]);
  });

  it('does not call a node that dies or starts a partition', () => {
    const pods = [pod(ip(1)), pod(ip(2)), pod(ip(3))];
    const whole = stateOf(pods, fullMesh([1, 2, 3]));
    const withoutThree = stateOf(pods, [
      ...fullMesh([1, 2]),
      side(n(3), null, { connection: { status: 'unreachable', since: 2, code: 'node_down' } }),
    ]);
    expect(kinds(diffClusterStates(whole, withoutThree))).toEqual(['node_down']);
    const fresh = stateOf(pods, [...fullMesh([1, 2]), side(n(3), [])]);
    expect(kinds(diffClusterStates(withoutThree, fresh))).toEqual(['node_up']);
  });

  it('coalesces registry count changes into one event', () => {
    const pods = [pod(ip(1)), pod(ip(2))];
    const prev = stateOf(pods, [
      side(n(1), [n(2)], { registries: [swarm(10, 5)] }),
      side(n(2), [n(1)], { registries: [swarm(10, 5)] }),
    ]);
    const next = stateOf(pods, [
      side(n(1), [n(2)], { registries: [swarm(12, 6)] }),
      side(n(2), [n(1)], { registries: [swarm(12, 6)] }),
    ]);
    const events = diffClusterStates(prev, next);
    expect(kinds(events)).toEqual(['registry_changed']);
    expect(events[0]?.registries).toEqual([
      { node: n(1), registry: 'swarm', from: 10, to: 12 },
      { node: n(2), registry: 'swarm', from: 10, to: 12 },
    ]);
  });

  it('is empty between equal states', () => {
    const state = stateOf([pod(ip(1))], fullMesh([1]));
    expect(diffClusterStates(state, state)).toEqual([]);
  });
});
