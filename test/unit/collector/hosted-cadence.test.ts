import { describe, expect, it } from 'vitest';

import { HostedCadence } from '@/server/collector/hosted-cadence';
import { registryCounts } from '@/server/collector/report';

import { n, side, swarm } from '../lib/fixtures';

describe('HostedCadence', () => {
  it('counts at first, then only when sizes or peers change, or the last count is old', () => {
    const cadence = new HostedCadence(30_000);
    const peers = [n(2)];
    const probed = side(n(1), peers, { registries: [swarm(10_000, 3_000)] });
    expect(cadence.due(n(1), undefined, 0, 'settled')).toBe(true);
    cadence.record(n(1), probed, 0);
    // The same sizes and the same peer list (same identity): nothing to recount.
    expect(cadence.due(n(1), probed, 2_000, 'settled')).toBe(false);
    expect(
      cadence.due(n(1), { ...probed, registries: [swarm(10_001, 3_000)] }, 4_000, 'settled'),
    ).toBe(true);
    expect(cadence.due(n(1), { ...probed, sees: [n(2), n(3)] }, 4_000, 'settled')).toBe(true);
    expect(cadence.due(n(1), probed, 4_000, 'moving')).toBe(true);
    expect(cadence.due(n(1), probed, 4_000, 'off')).toBe(true);
    expect(cadence.due(n(1), probed, 30_000, 'settled')).toBe(true);
    cadence.forget(n(1));
    expect(cadence.due(n(1), probed, 31_000, 'settled')).toBe(true);
  });

  it('counts at every probe while something is off and moving, less often while it holds', () => {
    const cadence = new HostedCadence(60_000);
    // One peer list throughout (a new one is a sign of its own).
    const peers = [n(2)];
    const at = (hosted: number) => side(n(1), peers, { registries: [swarm(10_000, hosted)] });
    /** The probes, every 2 s from `from` to `to`, that count; each count finds `hosted`. */
    const counts = (from: number, to: number, hosted: (time: number) => number) => {
      const counted: number[] = [];
      const probed = at(hosted(from));
      for (let time = from; time <= to; time += 2_000) {
        if (!cadence.due(n(1), probed, time, 'off')) continue;
        counted.push(time);
        cadence.record(n(1), { ...probed, registries: at(hosted(time)).registries }, time);
      }
      return counted;
    };
    // Moving: every probe.
    expect(counts(0, 10_000, (time) => 3_000 + time)).toEqual([
      0, 2_000, 4_000, 6_000, 8_000, 10_000,
    ]);
    // Holding: the same counts again and again, so 2, 4, 8, then 16 s apart.
    expect(counts(12_000, 60_000, () => 20_000)).toEqual([
      12_000, 14_000, 16_000, 20_000, 28_000, 44_000, 60_000,
    ]);
    // A rebalance is followed at every probe, however long the counts held.
    expect(cadence.due(n(1), at(20_000), 60_000, 'moving')).toBe(true);
    // Moving again: seen at the end of the wait, then every probe.
    expect(counts(62_000, 84_000, (time) => time)).toEqual([
      76_000, 78_000, 80_000, 82_000, 84_000,
    ]);
  });
});

describe('registryCounts between two counts', () => {
  it('keeps the last hosted counts and supervisor children when a probe did not count them', () => {
    const report = {
      global: { status: 'absent' as const },
      swarm: { status: 'present' as const, names: 10_001, hostedHere: null },
      pg: { status: 'absent' as const },
      syn: { status: 'absent' as const },
      horde: [],
      hordeSupervisors: [{ name: 'MyApp.Sup', status: 'present' as const, children: null }],
      elixirRegistries: [],
    };
    const previous = [
      swarm(10_000, 3_000),
      { registry: 'horde_supervisor:MyApp.Sup', count: 4, hosted: 4, replicated: false },
    ];
    expect(registryCounts(report, previous)).toEqual([
      swarm(10_001, 3_000),
      { registry: 'horde_supervisor:MyApp.Sup', count: 4, hosted: 4, replicated: false },
    ]);
    // Never counted yet: unknown, not zero.
    expect(registryCounts(report, [])).toEqual([swarm(10_001, null)]);
    // Counts equal to the last ones come back as the last array itself (the state's summaries
    // are rebuilt only when a node's counts are not the very same).
    const same = registryCounts(report, previous);
    expect(registryCounts(report, same)).toBe(same);
    expect(registryCounts(report, [swarm(10_000, 3_000)])).not.toBe(same);
  });
});
