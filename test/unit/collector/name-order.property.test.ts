import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { compareNames } from '@/lib/names';
import { NameOrder } from '@/server/collector/name-order';

import { n } from '../lib/fixtures';

describe('NameOrder (property)', () => {
  // Node names of one cluster (numbers that pad alike: 9, 10, 100), junk, repeats.
  const name = fc.oneof(
    { arbitrary: fc.integer({ min: 1, max: 120 }).map(n), weight: 4 },
    { arbitrary: fc.stringMatching(/^[a-c0-2]{0,3}@h0?[0-9]{0,2}$/), weight: 1 },
  );

  it('sorts every list of a sequence as compareNames does, one table across the lists', () => {
    fc.assert(
      fc.property(fc.array(fc.array(name, { maxLength: 60 }), { maxLength: 8 }), (lists) => {
        const order = new NameOrder();
        for (const list of lists) {
          expect(order.sort(list)).toEqual([...list].sort(compareNames));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('starts its table afresh past its bound and still sorts', () => {
    const order = new NameOrder();
    for (let round = 0; round < 3; round += 1) {
      const list = Array.from({ length: 9000 }, (_, index) => `junk-${round}-${index}@nowhere`);
      expect(order.sort(list)).toEqual([...list].sort(compareNames));
    }
    expect(order.sort([n(2), n(1)])).toEqual([n(1), n(2)]);
  });
});
