import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import type { NodeHistoryPoint } from '@/lib/cluster-state';
import { NodeHistory } from '@/server/collector/history';
import { HistoryRowRing } from '@/server/collector/history-rows';
import { NumberRowRing, Ring } from '@/server/collector/ring';

/**
 * The node history keeps its points as packed rows of numbers in a growing ring (history-rows.ts)
 * instead of objects in a ring sized for the window; what it answers must not change. Checked against the
 * definition it had: one `Ring` of point objects per node, filtered by the window.
 */
class ReferenceHistory {
  private readonly rings = new Map<string, Ring<NodeHistoryPoint>>();
  private readonly capacity: number;

  constructor(
    private readonly windowMs: number,
    pollIntervalMs: number,
  ) {
    this.capacity = Math.max(2, Math.ceil(windowMs / Math.max(1, pollIntervalMs)) + 1);
  }

  record(node: string, point: NodeHistoryPoint): void {
    let ring = this.rings.get(node);
    if (!ring) this.rings.set(node, (ring = new Ring(this.capacity)));
    ring.push(point);
  }

  points(node: string, now: number): NodeHistoryPoint[] {
    const cutoff = now - this.windowMs;
    return (this.rings.get(node)?.toArray() ?? []).filter((point) => point.at >= cutoff);
  }

  forget(node: string): void {
    this.rings.delete(node);
  }

  nodes(): string[] {
    return [...this.rings.keys()];
  }
}

const NODES = ['a@h', 'b@h', 'c@h'];
const count = fc.option(
  fc.oneof(
    fc.integer({ min: 0, max: 2 ** 31 + 5 }),
    fc.constant(2 ** 40 + 3),
    fc.double({ min: 0, max: 1e12, noNaN: true }),
  ),
  { nil: null },
);

type Step =
  | { kind: 'record'; node: string; elapsed: number; point: Omit<NodeHistoryPoint, 'at'> }
  | { kind: 'points'; node: string; later: number }
  | { kind: 'forget'; node: string };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('record' as const),
      node: fc.constantFrom(...NODES),
      // Now and then the clock goes back, a point is off the millisecond, or 49 days pass (the
      // packed rows' time offsets: history-rows.ts).
      elapsed: fc.oneof(
        { weight: 20, arbitrary: fc.integer({ min: 0, max: 5000 }) },
        { weight: 1, arbitrary: fc.constantFrom(-1500, 0.5, 2 ** 32 - 1, 2 ** 32 + 7) },
      ),
      point: fc.record({ processCount: count, registeredNames: count, memoryBytes: count }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('points' as const),
      node: fc.constantFrom(...NODES),
      later: fc.integer({ min: 0, max: 30_000 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('forget' as const), node: fc.constantFrom(...NODES) }),
  },
);

describe('NodeHistory (points as rows of numbers)', () => {
  it('answers as the ring of point objects did, whatever the window and the points', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40_000 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.array(step, { minLength: 1, maxLength: 120 }),
        (windowMs, pollIntervalMs, steps) => {
          const history = new NodeHistory(windowMs, pollIntervalMs);
          const reference = new ReferenceHistory(windowMs, pollIntervalMs);
          let at = 1_700_000_000_000;
          for (const next of steps) {
            if (next.kind === 'record') {
              at += next.elapsed;
              history.record(next.node, { at, ...next.point });
              reference.record(next.node, { at, ...next.point });
            } else if (next.kind === 'points') {
              expect(history.points(next.node, at + next.later)).toEqual(
                reference.points(next.node, at + next.later),
              );
            } else {
              history.forget(next.node);
              reference.forget(next.node);
            }
            expect(history.nodes()).toEqual(reference.nodes());
          }
          for (const node of NODES)
            expect(history.points(node, at)).toEqual(reference.points(node, at));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('grows a row ring to its capacity and then drops the oldest rows', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.double({ noNaN: false }), { maxLength: 200 }),
        (capacity, fields, numbers) => {
          const ring = new NumberRowRing(capacity, fields, 1);
          const reference = new Ring<number[]>(capacity);
          for (let index = 0; index + fields <= numbers.length; index += fields) {
            const row = numbers.slice(index, index + fields);
            ring.push(row);
            reference.push(row);
          }
          const rows: number[][] = [];
          ring.forEach((row) => rows.push([...row]));
          expect(rows).toEqual(reference.toArray());
          expect(ring.size).toBe(reference.size);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('packs rows and reads back exactly what was written, as Float64 rows would', () => {
    const whole = fc.oneof(
      { weight: 12, arbitrary: fc.nat({ max: 2 ** 32 - 2 }) },
      { weight: 2, arbitrary: fc.constant(Number.NaN) },
      { weight: 1, arbitrary: fc.constantFrom(2 ** 32 - 1, 2 ** 40, -0, -1, 0.25) },
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.array(
          fc.tuple(
            fc.oneof(
              { weight: 30, arbitrary: fc.integer({ min: 0, max: 5000 }) },
              { weight: 1, arbitrary: fc.constantFrom(-3, 2 ** 32, 2 ** 31) },
            ),
            whole,
            whole,
            fc.oneof(fc.double(), fc.constant(2 ** 33 + 1)),
          ),
          { maxLength: 150 },
        ),
        (capacity, rows) => {
          const ring = new HistoryRowRing(capacity, 1);
          const reference = new NumberRowRing(capacity, 4, 1);
          let at = 1_700_000_000_000;
          for (const [elapsed, processCount, registeredNames, memoryBytes] of rows) {
            at += elapsed;
            ring.push(at, processCount, registeredNames, memoryBytes);
            reference.push([at, processCount, registeredNames, memoryBytes]);
          }
          const read: number[][] = [];
          ring.forEach((...row) => read.push(row));
          const expected: number[][] = [];
          reference.forEach((row) => expected.push([...row]));
          expect(read).toEqual(expected);
          read.forEach((row, index) =>
            row.forEach((value, field) => expect(value).toBe(expected[index]![field])),
          );
          expect(ring.size).toBe(reference.size);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('moves its time base to the earliest time held, not the oldest row, after the clock went back', () => {
    const ring = new HistoryRowRing(2, 1);
    const start = 1_700_000_000_000;
    ring.push(start, 1, 1, 1);
    ring.push(start + 10_000, 2, 2, 2);
    // Full: the first row gives way; the clock goes back, still after the ring's base.
    ring.push(start + 5000, 3, 3, 3);
    // 49 days and more after the base: the base moves up to start + 5000, not start + 10,000.
    ring.push(start + 5000 + 2 ** 32 - 1, 4, 4, 4);
    const read: number[][] = [];
    ring.forEach((...row) => read.push(row));
    expect(read).toEqual([
      [start + 5000, 3, 3, 3],
      [start + 5000 + 2 ** 32 - 1, 4, 4, 4],
    ]);
  });
});
