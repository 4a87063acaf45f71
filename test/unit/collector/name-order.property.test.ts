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

  it('gives two lists one fingerprint exactly when they are the same, in the same order', () => {
    fc.assert(
      fc.property(fc.array(name, { maxLength: 30 }), fc.array(name, { maxLength: 30 }), (x, y) => {
        const order = new NameOrder();
        const same = x.length === y.length && x.every((entry, at) => entry === y[at]);
        expect(order.fingerprint(order.idsOf(x)) === order.fingerprint(order.idsOf(y))).toBe(same);
      }),
      { numRuns: 500 },
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

describe('NameOrder fingerprints', () => {
  it('match for the same list and differ for another order, another list or another table', () => {
    const order = new NameOrder();
    const list = [n(3), n(1), n(2)];
    const print = order.fingerprint(order.idsOf(list));
    expect(order.fingerprint(order.idsOf([...list]))).toBe(print);
    expect(order.fingerprint(order.idsOf([n(1), n(3), n(2)]))).not.toBe(print);
    expect(order.fingerprint(order.idsOf([n(3), n(1)]))).not.toBe(print);
    expect(order.fingerprint(order.idsOf([n(3), n(1), n(2), n(2)]))).not.toBe(print);
    // Past its bound the table starts afresh: the same names get new ids, and a print of the
    // old table never matches one of the new.
    order.sort(Array.from({ length: 19_000 }, (_, index) => `junk-${index}@nowhere`));
    order.sort(Array.from({ length: 2_000 }, (_, index) => `more-${index}@nowhere`));
    expect(order.fingerprint(order.idsOf(list))).not.toBe(print);
  });
});
