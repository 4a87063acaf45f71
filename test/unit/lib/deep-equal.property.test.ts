/**
 * `deepEqual` (lib/cluster-diff.ts) decides which members' fields a delta carries. Rewritten
 * without per-call arrays and closures, it must answer as the plain definition does: arrays
 * element by element, objects by their own keys with undefined values counted as absent.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { deepEqual } from '@/lib/cluster-diff';

/** The definition, written the obvious way. */
function reference(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, index) => reference(item, b[index]));
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const leftKeys = Object.keys(left).filter((key) => left[key] !== undefined);
  const rightKeys = Object.keys(right).filter((key) => right[key] !== undefined);
  return (
    leftKeys.length === rightKeys.length &&
    leftKeys.every((key) => reference(left[key], right[key]))
  );
}

const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(undefined, null, 0, 1, 'a', 'b', true, false),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'c'), tie('value'), { maxKeys: 3 }),
  ),
}));

describe('deepEqual', () => {
  it('answers as the definition on random pairs and on pairs made alike', () => {
    fc.assert(
      fc.property(value, value, (a, b) => {
        expect(deepEqual(a, b)).toBe(reference(a, b));
        const copy: unknown = structuredClone(a);
        expect(deepEqual(a, copy)).toBe(true);
      }),
      { numRuns: 5000 },
    );
    expect(deepEqual({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(deepEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(deepEqual([1, [2]], [1, [2]])).toBe(true);
    expect(deepEqual([], {})).toBe(false);
  });
});
