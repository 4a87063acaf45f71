import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { compareNames, sortNames } from '@/lib/names';

import { n } from './fixtures';

describe('compareNames', () => {
  it('orders addresses numerically', () => {
    expect([n(10), n(9), n(100), n(1)].sort(compareNames)).toEqual([n(1), n(9), n(10), n(100)]);
  });
});

describe('sortNames', () => {
  // Digit runs that pad to the same key (`01` and `1`), repeats, and plain text.
  const name = fc.oneof(
    fc.integer({ min: 0, max: 300 }).map(n),
    fc.stringMatching(/^[a-c0-2]{0,4}@h[0-9]{0,3}$/),
  );

  it('sorts as compareNames does (property)', () => {
    fc.assert(
      fc.property(fc.array(name, { maxLength: 40 }), (names) => {
        expect(sortNames(names)).toEqual([...names].sort(compareNames));
      }),
      { numRuns: 500 },
    );
  });
});
