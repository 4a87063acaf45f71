import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { PackedRows } from '@/server/collector/link-columns';
import { LINK_PACKING as PACKING } from '@/server/collector/links';

// The link tracker's packed columns (its own packing, LINK_PACKING) must hand back every number
// exactly as written — the packed forms where they fit, Float64 where a value does not (a counter
// past 2³², a rate that is not two significant digits, −0) — so a packed reading answers as the
// Float64 rows did.

/** Two significant digits, as the link tracker rounds a rate. */
function roundRate(rate: number): number {
  if (rate === 0) return 0;
  const magnitude = 10 ** (Math.floor(Math.log10(Math.abs(rate))) - 1);
  return Math.round(rate / magnitude) * magnitude;
}

const time = fc.oneof(
  fc.constantFrom(1_700_000_000_000, 1_700_000_002_000, 1_700_000_004_999),
  fc.integer({ min: 0, max: 2 ** 45 }),
  fc.double({ noDefaultInfinity: true }),
);
const count = fc.oneof(
  fc.constant(Number.NaN),
  fc.nat({ max: 1000 }),
  fc.constantFrom(0xffff_fffe, 0xffff_ffff, 2 ** 32, 2 ** 53 - 1, -0, -1, 0.5),
  fc.integer({ min: 0, max: 2 ** 40 }),
);
const rate = fc.oneof(
  fc.constant(Number.NaN),
  fc.constant(0),
  fc.double({ min: 1e-9, max: 1e9, noNaN: true }).map(roundRate),
  fc.double({ min: 1e-300, max: 1e300, noNaN: true }).map(roundRate),
  fc.constantFrom(-0, 1.234, 1e-200, Number.MAX_VALUE, 0.1 + 0.2),
);
const row = fc.tuple(time, count, count, time, rate, rate, count);

describe('PackedRows', () => {
  it('reads back every number exactly as written', () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 40 }), fc.nat({ max: 5 }), (rows, spare) => {
        // Rows beyond `count` in the scratch array are not packed.
        const values = new Float64Array((rows.length + spare) * PACKING.length).fill(7);
        rows.forEach((fields, index) => values.set(fields, index * PACKING.length));
        const packed = PackedRows.pack(values, rows.length, PACKING);
        expect(packed.count).toBe(rows.length);
        rows.forEach((fields, index) => {
          fields.forEach((value, field) => expect(packed.get(index, field)).toBe(value));
        });
      }),
      { numRuns: 500 },
    );
  });

  it('packs a whole reading of 999 links into about 20 bytes a link', () => {
    const at = 1_700_000_000_000;
    const values = new Float64Array(999 * PACKING.length);
    for (let index = 0; index < 999; index += 1) {
      values.set(
        [at, index * 3, index * 6, at - 40_000, roundRate(index / 20), roundRate(index / 10), 0],
        index * PACKING.length,
      );
    }
    const packed = PackedRows.pack(values, 999, PACKING);
    expect(packed.bytes).toBeLessThanOrEqual(999 * 20 + 64);
    expect(packed.get(998, 4)).toBe(roundRate(998 / 20));
  });
});
