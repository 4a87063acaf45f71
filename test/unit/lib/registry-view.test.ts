import { describe, expect, it } from 'vitest';

import {
  barNote,
  divergenceCounts,
  entryHosted,
  imbalanceText,
  invariantText,
  listNodes,
  rebalanceProgress,
  rebalanceText,
  registryViews,
  uncheckedText,
} from '@/lib/registry-view';

import { fullMesh, ip, n, pod, side, stateOf, swarm } from './fixtures';
import { divergenceOf, rebalanceOf } from './registry-fixtures';

/** 7 nodes, each with a whole Swarm copy of `size`, hosting `hosted[i]`. */
function swarmState(size: number, hosted: Array<number | null>) {
  const indexes = hosted.map((_, index) => index + 1);
  return stateOf(
    indexes.map((index) => pod(ip(index))),
    fullMesh(indexes).map((entry, index) => ({
      ...entry,
      registries: [swarm(size, hosted[index]!)],
    })),
  );
}

describe('registryViews', () => {
  it('gives one bar per node of what it hosts, the copy beside it, and nothing to flag', () => {
    const state = swarmState(10_000, [1430, 1428, 1429, 1428, 1430, 1427, 1428]);
    const [view] = registryViews(state);
    expect(view).toMatchObject({
      registry: 'swarm',
      label: 'Swarm',
      unit: 'names',
      replicated: true,
      total: 10_000,
      hostedTotal: 10_000,
      copies: { min: 10_000, max: 10_000 },
      nodes: 7,
      flags: [],
    });
    expect(view!.bars.map((bar) => bar.hosted)).toEqual([1430, 1428, 1429, 1428, 1430, 1427, 1428]);
    expect(view!.bars.every((bar) => bar.count === 10_000 && bar.main && !bar.idle)).toBe(true);
    expect(view!.mean).toBeCloseTo(10_000 / 7);
    expect(invariantText(view!.invariant)).toBe('hosted adds up to 10,000 of 10,000');
  });

  it('states a broken invariant plainly and flags the node that hosts nothing yet', () => {
    const state = swarmState(10_000, [1700, 1650, 1650, 1650, 1650, 1650, 0]);
    const [view] = registryViews(state);
    expect(view!.flags).toEqual(['invariant_broken', 'idle_nodes']);
    expect(invariantText(view!.invariant)).toBe('hosted adds up to 9,950 of 10,000');
    expect(view!.bars.filter((bar) => bar.idle).map((bar) => bar.node)).toEqual([n(7)]);
  });

  it('warns of an imbalance only when the busiest node is well over the mean', () => {
    const skewed = registryViews(swarmState(1000, [600, 200, 200]))[0]!;
    expect(skewed.flags).toContain('imbalanced');
    expect(imbalanceText(skewed.imbalance)).toBe('max/mean 1.80');
    // 5 against a mean of 3.3 is a ratio of 1.5, and nothing to worry about.
    const small = registryViews(swarmState(10, [5, 3, 2]))[0]!;
    expect(small.imbalance).toBe(1.5);
    expect(small.flags).not.toContain('imbalanced');
  });

  it('leaves a node that cannot count unknown, and says why the sum is not checked', () => {
    const [view] = registryViews(swarmState(300, [150, null, 150]));
    expect(view!.bars[1]!.hosted).toBeNull();
    expect(view!.invariant).toBeNull();
    expect(uncheckedText(view!)).toBe('a node cannot count what it hosts: sum not checked');
  });

  it('names copies of different sizes and leaves the sum unchecked', () => {
    const state = stateOf(
      [pod(ip(1)), pod(ip(2))],
      [
        side(n(1), [n(2)], { registries: [swarm(300, 150)] }),
        side(n(2), [n(1)], { registries: [swarm(298, 148)] }),
      ],
    );
    const [view] = registryViews(state);
    expect(view!.copies).toEqual({ min: 298, max: 300 });
    expect(view!.flags).toContain('copies_disagree');
    expect(uncheckedText(view!)).toBe('copies differ (298–300): sum not checked');
  });

  it('reads a node-local registry as what lives on each node, with no copy', () => {
    const local = (keys: number) => ({
      registries: [
        { registry: 'registry:MyApp.Sessions', count: keys, hosted: null, replicated: false },
      ],
    });
    const state = stateOf(
      [pod(ip(1)), pod(ip(2))],
      [side(n(1), [n(2)], local(4)), side(n(2), [n(1)], local(6))],
    );
    const [view] = registryViews(state);
    expect(view).toMatchObject({ replicated: false, total: 10, copies: null, unit: 'keys' });
    expect(view!.bars.map((bar) => bar.hosted)).toEqual([4, 6]);
    expect(uncheckedText(view!)).toBeNull();
  });

  it('dims the nodes of another partition: they are not part of the main figures', () => {
    const state = stateOf(
      [pod(ip(1)), pod(ip(2)), pod(ip(3))],
      [
        side(n(1), [n(2)], { registries: [swarm(200, 100)] }),
        side(n(2), [n(1)], { registries: [swarm(200, 100)] }),
        side(n(3), [], { registries: [swarm(90, 90)] }),
      ],
    );
    const [view] = registryViews(state);
    expect(view!.bars.map((bar) => bar.main)).toEqual([true, true, false]);
    expect(view!.nodes).toBe(2);
    expect(view!.copies).toEqual({ min: 200, max: 200 });
  });

  it('joins the rebalance and the divergences of the registry', () => {
    const state = swarmState(300, [100, 100, 100]);
    const rebalance = rebalanceOf({ nodes: [n(3)], moved: 60, ratePerSecond: 20 });
    const divergence = divergenceOf({
      missing: { count: 2, sample: [{ name: 'device-1', heldBy: [n(1)], missingOn: [n(2)] }] },
    });
    const [view] = registryViews({
      ...state,
      rebalances: [rebalance, { ...rebalance, registry: 'global' }],
      divergences: [divergence],
    });
    expect(view!.rebalance).toBe(rebalance);
    expect(view!.divergences).toEqual([divergence]);
    expect(view!.flags).toEqual(['diverged', 'rebalancing']);
  });
});

describe('the sentences of a registry', () => {
  const rebalance = rebalanceOf({ nodes: ['myapp@10.0.0.8'], ratePerSecond: 240.4, etaMs: 35_000 });

  it('tells a rebalance: moved so far, the rate and the time to balanced', () => {
    expect(rebalanceText(rebalance, 'names')).toBe(
      'after a scale-up (+myapp@10.0.0.8): 1,200 names moved so far · 240 names/s · balanced in about 35s',
    );
    expect(
      rebalanceText(
        { ...rebalance, cause: 'scale_down', ratePerSecond: null, etaMs: null },
        'names',
      ),
    ).toBe(
      'after a scale-down (−myapp@10.0.0.8): 1,200 names moved so far · rate not measured yet · time to balanced unknown',
    );
  });

  it('measures progress from what moved and what is left at the current rate', () => {
    // 240/s for 35 s is 8,400 left beside the 1,200 moved.
    expect(rebalanceProgress({ ...rebalance, ratePerSecond: 240 })).toBeCloseTo(1200 / 9600);
    expect(rebalanceProgress({ ...rebalance, etaMs: null })).toBeNull();
    expect(rebalanceProgress({ ...rebalance, moved: 0, etaMs: 0 })).toBe(1);
  });

  it('counts what diverged', () => {
    const divergence = divergenceOf({
      missing: { count: 1200, sample: [] },
      duplicates: { count: 3, sample: [] },
    });
    expect(divergenceCounts(divergence, 'names')).toBe(
      '1,200 names missing on some copies · 3 resolving to different processes (duplicates)',
    );
  });

  it('takes a replicated entry’s hosted figure, and a node-local one’s count', () => {
    expect(entryHosted({ count: 10_000, hosted: null, replicated: true })).toBeNull();
    expect(entryHosted({ count: 10_000, hosted: 1430, replicated: true })).toBe(1430);
    expect(entryHosted({ count: 12, hosted: null, replicated: false })).toBe(12);
  });
});

describe('the notes beside a bar', () => {
  const bar = { main: true, partition: 0, hosted: 10, idle: false };

  it('says why a bar is not like the others, and nothing when it is', () => {
    expect(barNote(bar, 0)).toBeNull();
    expect(barNote({ ...bar, hosted: 0, idle: true }, 0)).toBe('joined, hosts nothing yet');
    expect(barNote({ ...bar, hosted: null }, 0)).toBe('cannot count what it hosts');
    expect(barNote({ ...bar, main: false, partition: 1 }, 0)).toBe('partition 2');
    expect(barNote({ ...bar, main: false, partition: null }, 0)).toBe('outside the mesh');
  });

  it('names a few nodes and counts the rest', () => {
    expect(listNodes([])).toBe('no node');
    expect(listNodes(['a', 'b', 'c', 'd'])).toBe('a, b, c, d');
    expect(listNodes(['a', 'b', 'c', 'd', 'e'])).toBe('a, b, c and 2 more');
  });
});
