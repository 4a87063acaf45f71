import { describe, expect, it } from 'vitest';

import { otpSkewOf, registryDisagreementsOf } from '@/lib/state-builder';

import { fullMesh, ip, n, pod, side, stateOf, swarm } from './fixtures';

describe('otpSkewOf and registryDisagreementsOf', () => {
  it('reports skew only when two releases run', () => {
    expect(otpSkewOf([side(n(1), []), side(n(2), [])])).toBeNull();
    expect(
      otpSkewOf([side(n(1), []), side(n(2), [], { otpRelease: '26' }), side(n(3), [])]),
    ).toEqual({
      releases: [
        { otpRelease: '25', nodes: [n(1), n(3)] },
        { otpRelease: '26', nodes: [n(2)] },
      ],
    });
  });

  it('compares replicated registries within a partition only', () => {
    const sides = new Map(
      [
        side(n(1), [n(2)], { registries: [swarm(10, 4)] }),
        side(n(2), [n(1)], { registries: [swarm(9, 6)] }),
        side(n(3), [], { registries: [swarm(3, 3)] }),
        side(n(4), [], {
          registries: [{ registry: 'registry:A', count: 5, hosted: null, replicated: false }],
        }),
      ].map((entry) => [entry.node, entry]),
    );
    expect(registryDisagreementsOf([[n(1), n(2)], [n(3)], [n(4)]], sides)).toEqual([
      {
        registry: 'swarm',
        partition: 0,
        counts: [
          { node: n(1), count: 10 },
          { node: n(2), count: 9 },
        ],
      },
    ]);
  });
});

describe('buildClusterState', () => {
  it('merges a healthy full mesh into one partition with nothing unclustered', () => {
    const state = stateOf([pod(ip(1)), pod(ip(2)), pod(ip(3))], fullMesh([1, 2, 3]));
    expect(state.members.map((member) => member.key)).toEqual([n(1), n(2), n(3)]);
    expect(state.partitions).toEqual([[n(1), n(2), n(3)]]);
    expect(state.mainPartition).toBe(0);
    expect(state.members.every((member) => member.partition === 0)).toBe(true);
    expect(state.unclustered).toEqual([]);
    expect(state.ghosts).toEqual([]);
    expect(state.asymmetricLinks).toEqual([]);
    expect(state.otpSkew).toBeNull();
  });

  it('splits a partitioned mesh and names the minority as not connected to peers', () => {
    const state = stateOf(
      [pod(ip(1)), pod(ip(2)), pod(ip(3)), pod(ip(4))],
      [...fullMesh([1, 2, 3]), side(n(4), [])],
    );
    expect(state.partitions).toEqual([[n(1), n(2), n(3)], [n(4)]]);
    expect(state.unclustered).toEqual([
      expect.objectContaining({
        node: n(4),
        reason: 'not_connected_to_peers',
        detail: expect.stringContaining('sees none of its peers'),
      }),
    ]);
    expect(state.members.find((member) => member.node === n(4))?.partition).toBe(1);
  });

  it('gives the reason for each kind of unclustered member', () => {
    const state = stateOf(
      [
        pod(ip(1)),
        pod(ip(2)),
        pod(ip(3)),
        pod(ip(4)),
        pod(ip(5)),
        pod(ip(6), { ready: false }),
        pod(ip(7), { beamNode: null }),
      ],
      [
        side(n(1), [n(2), 'other@10.0.0.4']),
        side(n(2), [n(1)]),
        side(n(3), null, {
          connection: {
            status: 'auth_failed',
            since: 1,
            code: 'auth_failed',
            reason: `node ${n(3)} rejected our cookie`,
          },
        }),
        side(n(4), null, {
          connection: { status: 'unreachable', since: 1, code: 'dist_unreachable', reason: 'x' },
        }),
        side(n(5), null, {
          connection: {
            status: 'unreachable',
            since: 1,
            code: 'dist_unreachable',
            reason: `cannot connect to ${n(5)}: connection refused`,
          },
        }),
        side(n(6), null, { connection: { status: 'unreachable', since: 1 } }),
      ],
    );
    const reasons = Object.fromEntries(
      state.unclustered.map((entry) => [entry.key, [entry.reason, entry.detail]]),
    );
    expect(reasons).toEqual({
      [n(3)]: ['auth_failed', `node ${n(3)} rejected our cookie`],
      [n(4)]: [
        'name_mismatch',
        `the node calls itself other@10.0.0.4 but the naming mode expects ${n(4)}`,
      ],
      [n(5)]: ['unreachable', `cannot connect to ${n(5)}: connection refused`],
      'ip:10.0.0.7': ['name_mismatch', expect.stringContaining('no node name can be derived')],
    });
    expect(state.ghosts).toEqual(['other@10.0.0.4']);
    const ghost = state.members.find((member) => member.key === 'other@10.0.0.4');
    expect(ghost?.kubernetes).toBeNull();
    expect(ghost?.beam?.connection.status).toBe('untracked');
    expect(state.asymmetricLinks).toEqual([]);
  });

  it('treats an EPMD that knows no such name as a name mismatch', () => {
    const state = stateOf(
      [pod(ip(1))],
      [
        side(n(1), null, {
          connection: {
            status: 'unreachable',
            since: 1,
            code: 'node_not_registered',
            reason: 'EPMD on 10.0.0.1 has no node named myapp',
          },
        }),
      ],
    );
    expect(state.unclustered[0]?.reason).toBe('name_mismatch');
    expect(state.partitions).toEqual([]);
    expect(state.mainPartition).toBeNull();
  });

  it('reports the distribution error for pods it cannot track', () => {
    const state = stateOf([pod(ip(1))], []);
    expect(state.unclustered).toEqual([
      expect.objectContaining({ reason: 'unreachable', detail: expect.stringContaining(n(1)) }),
    ]);
  });
});
