import 'server-only';

// How node series thin out with age. Each tier keeps, per node and per bucket aligned to the
// epoch, the LAST point of the bucket (its real time and values), not an average: every point a
// chart draws is a value the node really reported, a gauge's last reading is what the live view
// showed at the bucket's end, and compacting twice (or 10 s buckets into 1 min ones) gives the
// same points as compacting once. Spikes shorter than a bucket are not kept past the tier's age.

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

export interface DownsampleTier {
  /** Points older than this (relative to `now`) are thinned... */
  olderThanMs: number;
  /** ...to one per bucket of this size. */
  bucketMs: number;
}

/** Full probe resolution for the last hour, 10 s buckets after it, 1 min buckets after a day. */
export const DOWNSAMPLE_TIERS: readonly DownsampleTier[] = [
  { olderThanMs: HOUR_MS, bucketMs: 10_000 },
  { olderThanMs: DAY_MS, bucketMs: 60_000 },
];

/** The start of the bucket `at` falls in. */
export function bucketOf(at: number, bucketMs: number): number {
  return Math.floor(at / bucketMs) * bucketMs;
}

/**
 * One node's points (oldest first) thinned by the tiers at `now`: before each tier's boundary,
 * only the last point of each bucket stays. Points at or after the boundary are untouched.
 */
export function downsample<P extends { at: number }>(points: readonly P[], now: number): P[] {
  let kept = [...points];
  for (const tier of DOWNSAMPLE_TIERS) {
    const boundary = now - tier.olderThanMs;
    kept = kept.filter((point, index) => {
      if (point.at >= boundary) return true;
      const next = kept[index + 1];
      // Dropped when a later point of the same bucket (also before the boundary) follows.
      return !(
        next !== undefined &&
        next.at < boundary &&
        bucketOf(next.at, tier.bucketMs) === bucketOf(point.at, tier.bucketMs)
      );
    });
  }
  return kept;
}
