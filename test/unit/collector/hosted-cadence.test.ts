import { describe, expect, it } from 'vitest';

import { HostedCadence } from '@/server/collector/hosted-cadence';
import { registryCounts } from '@/server/collector/report';

import { n, side, swarm } from '../lib/fixtures';

describe('HostedCadence', () => {
  it('counts at first, then only when sizes or peers change, or the last count is old', () => {
    const cadence = new HostedCadence(30_000);
    const peers = [n(2)];
    const probed = side(n(1), peers, { registries: [swarm(10_000, 3_000)] });
    expect(cadence.due(n(1), undefined, 0, false)).toBe(true);
    cadence.record(n(1), probed, 0);
    // The same sizes and the same peer list (same identity): nothing to recount.
    expect(cadence.due(n(1), probed, 2_000, false)).toBe(false);
    expect(cadence.due(n(1), { ...probed, registries: [swarm(10_001, 3_000)] }, 4_000, false)).toBe(
      true,
    );
    expect(cadence.due(n(1), { ...probed, sees: [n(2), n(3)] }, 4_000, false)).toBe(true);
    expect(cadence.due(n(1), probed, 4_000, true)).toBe(true);
    expect(cadence.due(n(1), probed, 30_000, false)).toBe(true);
    cadence.forget(n(1));
    expect(cadence.due(n(1), probed, 31_000, false)).toBe(true);
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
