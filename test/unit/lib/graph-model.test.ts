import { describe, expect, it } from 'vitest';

import {
  buildGraphModel,
  GraphModelBuilder,
  markRadius,
  memberHosted,
  memberId,
  memberVisualState,
} from '@/lib/graph-model';
import { boundsOf, fitTransform, groupCenters, seedPositions } from '@/lib/layout';
import { MeshBuilder } from '@/lib/mesh';

import { fullMesh, ip, n, pod, side, stateOf, swarm } from './fixtures';

describe('memberVisualState', () => {
  it('names each state an operator must tell apart', () => {
    const state = stateOf(
      [
        pod(ip(1)),
        pod(ip(2)),
        pod(ip(3)),
        pod(ip(4), { terminating: true, ready: false }),
        pod(ip(5)),
      ],
      [
        ...fullMesh([1, 2]),
        side(n(3), null, { connection: { status: 'unreachable', since: 1, reason: 'refused' } }),
        side(n(5), null, { connection: { status: 'auth_failed', since: 1 } }),
        side(n(9), [n(1)]),
      ],
    );
    const byKey = new Map(state.members.map((member) => [member.key, member]));
    const visual = (key: string) => memberVisualState(byKey.get(key)!, state);
    expect(visual(n(1))).toBe('clustered');
    expect(visual(n(3))).toBe('unreachable');
    expect(visual(n(4))).toBe('terminating');
    expect(visual(n(5))).toBe('auth_failed');
    expect(visual(n(9))).toBe('ghost');
  });

  it('calls a connected node of a minority partition unclustered', () => {
    const state = stateOf(
      [pod(ip(1)), pod(ip(2)), pod(ip(3))],
      [side(n(1), [n(2)]), side(n(2), [n(1)]), side(n(3), [])],
    );
    const third = state.members.find((member) => member.key === n(3))!;
    expect(memberVisualState(third, state)).toBe('unclustered');
  });
});

describe('buildGraphModel', () => {
  it('draws every link of a small cluster, keyed by pod uid', () => {
    const state = stateOf([pod(ip(1)), pod(ip(2)), pod(ip(3))], fullMesh([1, 2, 3]));
    const model = buildGraphModel(state);
    expect(model.mode).toBe('links');
    expect(model.nodes.map((node) => node.id)).toEqual([
      `uid-${ip(1)}`,
      `uid-${ip(2)}`,
      `uid-${ip(3)}`,
    ]);
    expect(model.links).toHaveLength(3);
    expect(model.links.every((link) => link.kind === 'link')).toBe(true);
    expect(model.groups).toHaveLength(1);
    expect(model.nodes.every((node) => node.group === 0)).toBe(true);
  });

  it('puts two partitions in two groups and members outside the mesh in a third', () => {
    const state = stateOf(
      [pod(ip(1)), pod(ip(2)), pod(ip(3)), pod(ip(4)), pod(ip(5))],
      [
        ...fullMesh([1, 2]),
        ...fullMesh([3, 4]),
        side(n(5), null, { connection: { status: 'unreachable', since: 1 } }),
      ],
    );
    const model = buildGraphModel(state);
    expect(model.partitions).toBe(2);
    expect(model.groups.map((group) => group.kind)).toEqual(['partition', 'partition', 'outside']);
    const groupOf = new Map(model.nodes.map((node) => [node.key, node.group]));
    expect(groupOf.get(n(1))).toBe(groupOf.get(n(2)));
    expect(groupOf.get(n(3))).not.toBe(groupOf.get(n(1)));
    expect(groupOf.get(n(5))).toBe(2);
  });

  it('past the threshold draws only asymmetric and missing links', () => {
    // 1 sees 2 and 3; 2 sees 1; 3 sees 1 and 4 … a chain with a one-sided link.
    const state = stateOf(
      [pod(ip(1)), pod(ip(2)), pod(ip(3)), pod(ip(4))],
      [side(n(1), [n(2), n(3)]), side(n(2), [n(1)]), side(n(3), [n(1), n(4)]), side(n(4), [])],
    );
    const model = buildGraphModel(state, { linkThreshold: 2 });
    expect(model.mode).toBe('groups');
    const kinds = model.links.map((link) => link.kind).sort();
    expect(kinds.filter((kind) => kind === 'link')).toEqual([]);
    expect(kinds).toContain('asymmetric');
    // 2—3, 2—4 and 1—4 are in one component but nobody lists them.
    expect(kinds.filter((kind) => kind === 'missing')).toHaveLength(3);
  });

  it('sizes marks by hosted names', () => {
    const state = stateOf(
      [pod(ip(1)), pod(ip(2))],
      [
        side(n(1), [n(2)], { registries: [swarm(100, 90)] }),
        side(n(2), [n(1)], { registries: [swarm(100, 10)] }),
      ],
    );
    const [first, second] = buildGraphModel(state).nodes;
    expect(first!.hosted).toBe(90);
    expect(first!.radius).toBeGreaterThan(second!.radius);
    expect(markRadius(0, 0, 3)).toBe(markRadius(0, 100, 3));
  });

  it('never sizes a mark by a replica: a copy without a hosted figure counts as unknown', () => {
    // Every node holds the whole Swarm table; without the hosted count the node's share is
    // unknown, and 10,000 on each node would draw every mark as the busiest.
    const state = stateOf(
      [pod(ip(1)), pod(ip(2))],
      [
        side(n(1), [n(2)], { registries: [swarm(10_000, null)] }),
        side(n(2), [n(1)], {
          registries: [
            swarm(10_000, null),
            { registry: 'registry:MyApp.Sessions', count: 12, hosted: null, replicated: false },
          ],
        }),
      ],
    );
    const [first, second] = buildGraphModel(state).nodes;
    expect(first!.hosted).toBeNull();
    expect(memberHosted(state.members[0]!)).toBeNull();
    // A node-local registry's count is what lives on the node: that one is hosted.
    expect(second!.hosted).toBe(12);
    expect(second!.radius).toBeGreaterThan(first!.radius);
  });

  it('falls back to the node name for a member without a pod', () => {
    const state = stateOf([], [side(n(7), [])]);
    expect(memberId(state.members[0]!)).toBe(n(7));
  });
});

describe('GraphModelBuilder', () => {
  it('hands back the model before when a delta changed nothing the graph draws', () => {
    const meshes = new MeshBuilder();
    const graphs = new GraphModelBuilder(meshes);
    const pods = [1, 2, 3].map((i) => pod(ip(i)));
    const sides = fullMesh([1, 2, 3]);
    const first = graphs.build(stateOf(pods, sides, 1, meshes));
    // New load figures on every member: new member objects, the same drawing.
    const loadChanged = sides.map((entry) => ({ ...entry, processCount: 999, probedAt: 20 }));
    expect(graphs.build(stateOf(pods, loadChanged, 2, meshes))).toBe(first);
    // A member going unreachable changes its mark: a new model.
    const unreachable = [
      ...fullMesh([1, 2]),
      side(n(3), null, { connection: { status: 'unreachable', since: 1, reason: 'refused' } }),
    ];
    const third = graphs.build(stateOf(pods, unreachable, 3, meshes));
    expect(third).not.toBe(first);
    expect(third).toEqual(buildGraphModel(stateOf(pods, unreachable, 3)));
  });
});

describe('layout inputs', () => {
  it('keeps known marks where they were and seeds new ones near their group', () => {
    const centers = groupCenters([
      { id: 'a', label: '', kind: 'partition', size: 3, main: true },
      { id: 'b', label: '', kind: 'partition', size: 2, main: false },
    ]);
    expect(centers[0]!.x).toBeLessThan(centers[1]!.x);
    const previous = new Map([['kept', { x: 5, y: 6 }]]);
    const seeded = seedPositions(
      [
        { id: 'kept', group: 1 },
        { id: 'new', group: 1 },
      ],
      previous,
      centers,
    );
    expect(seeded.get('kept')).toEqual({ x: 5, y: 6 });
    const fresh = seeded.get('new')!;
    expect(Math.hypot(fresh.x - centers[1]!.x, fresh.y - centers[1]!.y)).toBeLessThanOrEqual(30);
    // Deterministic: the same id starts at the same place.
    expect(seedPositions([{ id: 'new', group: 1 }], new Map(), centers).get('new')).toEqual(fresh);
  });

  it('fits the drawing into the box without zooming in too far', () => {
    const bounds = boundsOf([
      { x: -10, y: -10, radius: 5 },
      { x: 10, y: 10, radius: 5 },
    ])!;
    expect(bounds).toEqual({ minX: -15, minY: -15, maxX: 15, maxY: 15 });
    const fit = fitTransform(bounds, 400, 300, 20, 2);
    expect(fit.k).toBe(2);
    expect(fit).toEqual({ k: 2, x: 200, y: 150 });
    const wide = fitTransform({ minX: 0, minY: 0, maxX: 1000, maxY: 100 }, 400, 300, 0);
    expect(wide.k).toBeCloseTo(0.4);
  });
});
