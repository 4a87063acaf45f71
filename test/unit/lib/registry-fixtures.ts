import type { RegistryDivergence, RegistryRebalance } from '@/lib/cluster-state';

import { n } from './fixtures';

/** Swarm rebalancing after node `joined` came up. */
export function rebalanceOf(overrides: Partial<RegistryRebalance> = {}): RegistryRebalance {
  return {
    registry: 'swarm',
    cause: 'scale_up',
    since: 0,
    nodes: [n(7)],
    moved: 1200,
    ratePerSecond: 240,
    etaMs: 1000,
    ...overrides,
  };
}

/** Swarm's copies in partition 0 disagreeing, with nothing in the samples unless given. */
export function divergenceOf(overrides: Partial<RegistryDivergence> = {}): RegistryDivergence {
  return {
    registry: 'swarm',
    partition: 0,
    since: 0,
    comparedAt: 0,
    missing: { count: 0, sample: [] },
    duplicates: { count: 0, sample: [] },
    ...overrides,
  };
}
