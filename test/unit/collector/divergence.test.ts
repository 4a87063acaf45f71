import { describe, expect, it } from 'vitest';

import { DivergenceMonitor, type CopyComparison } from '@/server/collector/divergence';

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
});
