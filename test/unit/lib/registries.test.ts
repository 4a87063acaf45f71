import { describe, expect, it } from 'vitest';

import { hostedNames } from '@/lib/registries';

import { n, side, swarm } from './fixtures';

describe('hostedNames', () => {
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
