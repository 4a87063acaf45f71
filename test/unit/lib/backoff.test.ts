import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { backoffDelay, type BackoffPolicy } from '@/lib/backoff';

describe('backoffDelay', () => {
  const equal: BackoffPolicy = { initialMs: 100, maxMs: 1000, jitter: 'equal' };
  const plus20: BackoffPolicy = { ...equal, jitter: 'plus20' };

  it('doubles from the first delay up to the ceiling', () => {
    expect([0, 1, 2, 3, 4, 50].map((attempt) => backoffDelay(attempt, plus20, 0))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
    expect(backoffDelay(-3, plus20, 0)).toBe(100);
  });

  it('keeps every delay within its jitter band', () => {
    fc.assert(
      fc.property(fc.nat(60), fc.double({ min: 0, max: 1, noNaN: true }), (attempt, random) => {
        const step = Math.min(1000, 100 * 2 ** Math.min(attempt, 30));
        const half = backoffDelay(attempt, equal, random);
        expect(half).toBeGreaterThanOrEqual(Math.round(step / 2));
        expect(half).toBeLessThanOrEqual(step);
        const more = backoffDelay(attempt, plus20, random);
        expect(more).toBeGreaterThanOrEqual(step);
        expect(more).toBeLessThanOrEqual(Math.round(step * 1.2));
      }),
    );
  });
});
