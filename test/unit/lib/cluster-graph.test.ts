import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  buildMesh,
  compareNames,
  hasLink,
  hostedNames,
  meshLinks,
  otpSkewOf,
  partitionsOf,
  registryDisagreementsOf,
} from '@/lib/cluster-graph';

import { fullMesh, ip, n, pod, side, stateOf, swarm } from './fixtures';

describe('compareNames', () => {
  it('orders addresses numerically', () => {
    expect([n(10), n(9), n(100), n(1)].sort(compareNames)).toEqual([n(1), n(9), n(10), n(100)]);
  });
});

describe('buildMesh', () => {
  it('counts a link reported by either side and flags the one-sided ones', () => {
    const mesh = buildMesh([
      { node: 'a@h', sees: ['b@h', 'c@h'] },
      { node: 'b@h', sees: ['a@h'] },
      { node: 'c@h', sees: [] },
      { node: 'd@h', sees: null },
    ]);
    expect(mesh.nodes).toEqual(['a@h', 'b@h', 'c@h']);
    expect(hasLink(mesh, 'c@h', 'a@h')).toBe(true);
    expect(hasLink(mesh, 'b@h', 'c@h')).toBe(false);
    expect(meshLinks(mesh)).toEqual([
      ['a@h', 'b@h'],
      ['a@h', 'c@h'],
    ]);
    expect(mesh.asymmetric).toEqual([{ from: 'a@h', to: 'c@h' }]);
  });

  it('updated from the previous mesh, equals one built from scratch, step after step', () => {
    // buildMesh updates the last mesh when few lists changed: check it against the definition.
    const names = Array.from({ length: 16 }, (_, index) => `n${index}@h`);
    const list = fc.subarray(names);
    const reference = (views: Array<{ node: string; sees: string[] | null }>) => {
      const sets = new Map<string, Set<string>>();
      for (const view of views) {
        if (view.sees) sets.set(view.node, new Set(view.sees.filter((peer) => peer !== view.node)));
      }
      const nodes = new Set<string>();
      const asymmetric: Array<{ from: string; to: string }> = [];
      for (const [node, sees] of sets) {
        nodes.add(node);
        for (const peer of sees) {
          nodes.add(peer);
          if (sets.has(peer) && !sets.get(peer)!.has(node))
            asymmetric.push({ from: node, to: peer });
        }
      }
      asymmetric.sort((x, y) => compareNames(x.from, y.from) || compareNames(x.to, y.to));
      return { nodes: [...nodes].sort(compareNames), asymmetric };
    };
    fc.assert(
      fc.property(
        fc.array(list, { minLength: 16, maxLength: 16 }),
        fc.array(fc.tuple(fc.nat(15), fc.option(list, { freq: 4 })), { maxLength: 12 }),
        (initial, steps) => {
          const views = names.map((node, index) => ({ node, sees: initial[index] ?? null }));
          buildMesh(views);
          for (const [index, sees] of steps) {
            views[index] = { node: names[index]!, sees };
            const mesh = buildMesh([...views]);
            const expected = reference(views);
            expect(mesh.nodes).toEqual(expected.nodes);
            expect(mesh.asymmetric).toEqual(expected.asymmetric);
            expect([...mesh.views.keys()].sort()).toEqual(
              views
                .filter((view) => view.sees)
                .map((view) => view.node)
                .sort(),
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('does not call a link asymmetric when the other side has not reported', () => {
    const mesh = buildMesh([{ node: 'a@h', sees: ['b@h'] }]);
    expect(mesh.nodes).toEqual(['a@h', 'b@h']);
    expect(mesh.asymmetric).toEqual([]);
  });
});

/** A mesh given as undirected links, each reported by its first node only. */
function fromLinks(nodes: string[], links: Array<[string, string]>) {
  const views = new Map<string, Set<string>>();
  for (const [a, b] of links) {
    const set = views.get(a) ?? new Set<string>();
    set.add(b);
    views.set(a, set);
  }
  return { nodes, views };
}

describe('partitionsOf', () => {
  it('finds connected components, largest first, ties by the smallest name', () => {
    const partitions = partitionsOf(
      fromLinks(
        ['e', 'a', 'b', 'c', 'd', 'f'],
        [
          ['c', 'd'],
          ['a', 'b'],
          ['e', 'f'],
          ['d', 'e'],
        ],
      ),
    );
    expect(partitions).toEqual([
      ['c', 'd', 'e', 'f'],
      ['a', 'b'],
    ]);
    expect(partitionsOf(fromLinks(['z', 'y'], []))).toEqual([['y'], ['z']]);
    expect(partitionsOf(fromLinks([], []))).toEqual([]);
  });

  it('gives the same answer whatever the order of the input', () => {
    const links: Array<[string, string]> = [
      ['a', 'b'],
      ['c', 'd'],
    ];
    const forward = partitionsOf(fromLinks(['a', 'b', 'c', 'd'], links));
    const backward = partitionsOf(
      fromLinks(
        ['d', 'c', 'b', 'a'],
        [...links].reverse().map(([a, b]): [string, string] => [b, a]),
      ),
    );
    expect(backward).toEqual(forward);
    expect(forward[0]).toEqual(['a', 'b']);
  });
});

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

  it('counts hosted names from Swarm and local registries', () => {
    expect(
      hostedNames(
        side(n(1), [], {
          registries: [
            swarm(10, 4),
            { registry: 'global', count: 7, hosted: null, replicated: true },
            { registry: 'registry:A', count: 5, hosted: null, replicated: false },
          ],
        }),
      ),
    ).toBe(9);
    expect(hostedNames(side(n(1), []))).toBeNull();
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
