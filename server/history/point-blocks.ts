import 'server-only';

// Node series on disk. A row per probe per node is ~45 bytes in SQLite, a day of 100 nodes at a
// 2 s probe ~4.3 million of them — and still ~1 million once thinned to 10 s buckets: over the
// 50 MB a day the whole history has. So the stores keep a point as a row only until the next
// compaction (a minute in the server); compaction moves the rows into one block per node and
// hour — its points as varint columns (times and values as differences from the previous one),
// compressed — and thins a block again whenever a downsampling tier's boundary passes over it.
// A thinned hour of 360 points is ~2 KB. What a block keeps is exactly what `downsample` keeps.

import type { NodeHistoryPoint } from '@/lib/cluster-state';

import { encodeJsonBody, decodeJsonBody } from './body-codec';
import { bucketOf, DOWNSAMPLE_TIERS, downsample, HOUR_MS } from './downsample';
import { ByteReader, ByteWriter } from './varint';
import { zstdCompress, zstdDecompress } from './zstd';

/** The span one block covers, aligned to the epoch. */
export const BLOCK_MS = HOUR_MS;

const POINT_COLUMNS = 0x03;

/** A block as stored: its hour, the `now` it was last thinned at, its body. */
export interface StoredBlock {
  start: number;
  thinnedAt: number;
  body: Uint8Array;
}

type Value = number | null;
const VALUE_FIELDS = ['processCount', 'registeredNames', 'memoryBytes'] as const;
const columnable = (value: Value) => value === null || Number.isSafeInteger(value);

/** Points (oldest first) as a block body. */
export function encodePoints(points: readonly NodeHistoryPoint[]): Buffer {
  if (!points.every((point) => VALUE_FIELDS.every((field) => columnable(point[field])))) {
    // A value that is not an integer (no probe reports one today) keeps its exact form.
    return encodeJsonBody(points);
  }
  const writer = new ByteWriter().uint(points.length);
  let previousAt = 0;
  for (const point of points) {
    writer.int(point.at - previousAt);
    previousAt = point.at;
  }
  for (const field of VALUE_FIELDS) {
    let previous = 0;
    for (const point of points) {
      const value = point[field];
      // 0 is a missing value; a present one is its difference from the last present one, + 1.
      if (value === null) writer.uint(0);
      else {
        const difference = value - previous;
        writer.uint((difference >= 0 ? difference * 2 : -difference * 2 - 1) + 1);
        previous = value;
      }
    }
  }
  return Buffer.concat([Uint8Array.of(POINT_COLUMNS), zstdCompress(writer.toBuffer())]);
}

export function decodePoints(body: Uint8Array): NodeHistoryPoint[] {
  if (body[0] !== POINT_COLUMNS) return decodeJsonBody(body);
  const reader = new ByteReader(zstdDecompress(body.subarray(1)));
  const count = reader.uint();
  const points: NodeHistoryPoint[] = [];
  let at = 0;
  for (let index = 0; index < count; index += 1) {
    at += reader.int();
    points.push({ at, processCount: null, registeredNames: null, memoryBytes: null });
  }
  for (const field of VALUE_FIELDS) {
    let previous = 0;
    for (const point of points) {
      const stored = reader.uint();
      if (stored === 0) continue;
      const zigzag = stored - 1;
      previous += zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
      point[field] = previous;
    }
  }
  return points;
}

/**
 * Which of a series' blocks a compaction at `now` must read and rewrite, beside those that take
 * the rows being moved and the one the retention edge cuts: those some tier's boundary has moved
 * into since they were last thinned. `param` writes a parameter (`?` or `$n`) for a value.
 */
export function staleBlocksSql(now: number, param: (value: number) => string): string {
  return DOWNSAMPLE_TIERS.map(
    (tier) =>
      `(thinned_at < start + ${BLOCK_MS + tier.olderThanMs} AND start < ${param(now - tier.olderThanMs)})`,
  ).join(' OR ');
}

/** What a compaction writes for one series: blocks to (re)write, and hours to delete. */
export interface SeriesRewrite {
  write: Array<{ start: number; body: Buffer }>;
  remove: number[];
}

/**
 * One series' compaction: the rows being moved (`rows`, oldest first) merged into the blocks
 * read, everything before `before` dropped, and each block thinned as `downsample` at `now`.
 */
export function rewriteSeries(
  blocks: readonly StoredBlock[],
  rows: readonly NodeHistoryPoint[],
  before: number,
  now: number,
): SeriesRewrite {
  const hours = new Map<number, NodeHistoryPoint[]>();
  for (const block of blocks) hours.set(block.start, decodePoints(block.body));
  for (const row of rows) {
    const start = bucketOf(row.at, BLOCK_MS);
    const points = hours.get(start) ?? [];
    points.push(row);
    hours.set(start, points);
  }
  const rewrite: SeriesRewrite = { write: [], remove: [] };
  for (const [start, points] of hours) {
    // The same moment twice (a row written again): the later one stands, as a second write would.
    const byTime = new Map<number, NodeHistoryPoint>();
    for (const point of points) if (point.at >= before) byTime.set(point.at, point);
    const kept = downsample(
      [...byTime.values()].sort((a, b) => a.at - b.at),
      now,
    );
    if (kept.length === 0) rewrite.remove.push(start);
    else rewrite.write.push({ start, body: encodePoints(kept) });
  }
  return rewrite;
}

/** A series' points in [from, to] from its blocks and its rows not yet moved, oldest first. */
export function seriesBetween(
  blocks: readonly StoredBlock[],
  rows: readonly NodeHistoryPoint[],
  from: number,
  to: number,
): NodeHistoryPoint[] {
  const byTime = new Map<number, NodeHistoryPoint>();
  for (const block of blocks) {
    for (const point of decodePoints(block.body)) byTime.set(point.at, point);
  }
  for (const row of rows) byTime.set(row.at, row);
  return [...byTime.values()]
    .filter((point) => point.at >= from && point.at <= to)
    .sort((a, b) => a.at - b.at);
}
