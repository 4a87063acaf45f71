/** Summaries of latency samples, shared by every part of `npm run bench`. */

/** Median and p99 (nearest rank) of a set of samples, in milliseconds. */
export interface Summary {
  samples: number;
  medianMs: number | null;
  p99Ms: number | null;
  minMs: number | null;
  maxMs: number | null;
}

/** The nearest-rank quantile of sorted values (null when there are none). */
export function quantileOf(sorted: readonly number[], quantile: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(quantile * sorted.length) - 1))]!;
}

/** The nearest-rank quantile of unsorted values (null when there are none). */
export function quantile(values: readonly number[], q: number): number | null {
  return quantileOf(
    [...values].sort((x, y) => x - y),
    q,
  );
}

/** Rounds to `digits` decimals. */
export function roundTo(value: number, digits = 1): number {
  return Math.round(value * 10 ** digits) / 10 ** digits;
}

/** Rounds to two decimals (null stays null): sub-millisecond digits are noise here. */
export function round2(value: number | null): number | null {
  return value === null ? null : Math.round(value * 100) / 100;
}

/**
 * Median and p99 by nearest rank, as bench/erlang.ts reports them, plus min and max; null
 * figures when there are no samples (a part that measured nothing must not read as 0 ms).
 */
export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((x, y) => x - y);
  return {
    samples: sorted.length,
    medianMs: round2(quantileOf(sorted, 0.5)),
    p99Ms: round2(quantileOf(sorted, 0.99)),
    minMs: round2(sorted[0] ?? null),
    maxMs: round2(sorted.at(-1) ?? null),
  };
}

/** `a / b` to one decimal, or null when either is unknown or b is 0. */
export function ratio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || b === 0) return null;
  return Math.round((a / b) * 10) / 10;
}

/** Median and p99 (nearest rank) of samples in any unit, rounded; NaN (null in JSON) when none. */
export interface Distribution {
  samples: number;
  median: number;
  p99: number;
}

/** The {@link Distribution} of `values`, rounded to `digits` decimals. */
export function distribution(values: readonly number[], digits = 1): Distribution {
  return {
    samples: values.length,
    median: roundTo(quantile(values, 0.5) ?? NaN, digits),
    p99: roundTo(quantile(values, 0.99) ?? NaN, digits),
  };
}
