import { describe, expect, it } from 'vitest';

import {
  COMPARE_COST_WAIT,
  DivergenceMonitor,
  suspectedDivergences,
  type CopyComparison,
} from '@/server/collector/divergence';

/** A comparison of `nodes`' Swarm copies that found `duplicates` names on two processes. */
function compared(nodes: string[], duplicates: number): CopyComparison {
  return {
    registry: 'swarm',
    nodes,
    missing: { count: 0, sample: [] },
    duplicates: { count: duplicates, sample: [] },
    calls: 0,
    keysFetched: 0,
    groups: duplicates > 0 ? 2 : 1,
    hostsCompared: 0,
  };
}

describe('DivergenceMonitor', () => {
  it("clears a side's divergence from the split when the healed partition's copies agree", () => {
    const monitor = new DivergenceMonitor(0);
    // During a split, the copies of side b, c disagreed for a moment (a takeover under way).
    expect(monitor.record(compared(['b', 'c'], 3), 1000)).toMatchObject([
      { kind: 'registry_diverged' },
    ]);
    const partitions = [['a', 'b', 'c']];
    expect(monitor.forState({ partitions })).toHaveLength(1);
    // After the heal, the whole partition is compared: its first node is another.
    monitor.healed(2000);
    expect(monitor.record(compared(['a', 'b', 'c'], 10), 3000)).toEqual([]);
    expect(monitor.forState({ partitions })).toMatchObject([
      { partition: 0, since: 1000, duplicates: { count: 10 } },
    ]);
    const [converged] = monitor.record(compared(['a', 'b', 'c'], 0), 7000);
    expect(converged?.message).toBe(
      'Swarm copies agree again on 3 nodes, 5.0 s after the heal (10 duplicates, 0 missing at the last look)',
    );
    expect(monitor.forState({ partitions })).toEqual([]);
  });

  it('suspects copies by their hosted sum only once every node of the partition was probed', () => {
    const nodes = ['a', 'b', 'c', 'd'];
    // A start: three of four nodes counted, each hosting its quarter of the names.
    const stateWith = (probed: string[]) =>
      ({
        partitions: [nodes],
        members: nodes.map((node) => ({
          beam: { node, probedAt: probed.includes(node) ? 1 : null },
        })),
        registries: [
          {
            registry: 'swarm',
            replicated: true,
            shares: probed.map((node) => ({ node, partition: 0, count: 1000, hosted: 250 })),
          },
        ],
      }) as unknown as Parameters<typeof suspectedDivergences>[0];
    expect(suspectedDivergences(stateWith(['a', 'b', 'c']))).toEqual([]);
    expect(suspectedDivergences(stateWith(nodes))).toEqual([]);
    // Every node counted and one name too many: suspected.
    const skewed = stateWith(nodes);
    (skewed.registries[0]!.shares[0] as { hosted: number }).hosted = 251;
    expect(suspectedDivergences(skewed)).toEqual([{ registry: 'swarm', nodes }]);
  });

  it('waits longer before comparing again the copies whose last comparison took long', () => {
    const monitor = new DivergenceMonitor(3000);
    const nodes = ['a', 'b', 'c'];
    // Copies of one size whose hosted entries add up to more: suspected at every state.
    const state = {
      partitions: [nodes],
      members: nodes.map((node) => ({ beam: { node, probedAt: 1 } })),
      registries: [
        {
          registry: 'swarm',
          replicated: true,
          shares: nodes.map((node) => ({ node, partition: 0, count: 1000, hosted: 50 })),
        },
      ],
    } as unknown as Parameters<DivergenceMonitor['due']>[0];
    expect(monitor.due(state, 0)).toHaveLength(1);
    // That comparison took 20 s (k × k counts of a large cluster) and found the copies alike.
    expect(monitor.record(compared(nodes, 0), 20_000)).toEqual([]);
    expect(monitor.due(state, 23_000)).toEqual([]);
    expect(monitor.due(state, 20_000 * COMPARE_COST_WAIT - 1)).toEqual([]);
    expect(monitor.due(state, 20_000 * COMPARE_COST_WAIT)).toHaveLength(1);
    // A quick one keeps the plain interval; a heal asks at once whatever the last one cost.
    monitor.record(compared(nodes, 0), 20_000 * COMPARE_COST_WAIT + 100);
    expect(monitor.due(state, 20_000 * COMPARE_COST_WAIT + 3000)).toHaveLength(1);
    monitor.record(compared(nodes, 0), 20_000 * COMPARE_COST_WAIT + 60_000);
    monitor.healed(20_000 * COMPARE_COST_WAIT + 61_000);
    expect(monitor.due(state, 20_000 * COMPARE_COST_WAIT + 61_000)).toHaveLength(1);
  });
});
