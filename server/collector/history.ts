import 'server-only';

// Each node's recent past (processes, hosted names, memory) for the node drawer's charts.

import type { NodeHistoryPoint } from '@/lib/cluster-state';

import { NumberRowRing } from './ring';

/** A point as a row of numbers; `null` is NaN (a field never holds NaN itself). */
const AT = 0;
const PROCESS_COUNT = 1;
const REGISTERED_NAMES = 2;
const MEMORY_BYTES = 3;
const FIELDS = 4;

const orNaN = (value: number | null): number => (value === null ? Number.NaN : value);
const orNull = (value: number): number | null => (Number.isNaN(value) ? null : value);

/**
 * Per-node history at poll resolution for a fixed window (default one hour): one ring per node,
 * sized so that a window's worth of polls fits. Long-term history is Prometheus's job.
 *
 * The points are held as rows of four numbers (32 bytes), not objects: at 1,000 nodes an hour at
 * 2 s is 1.8 million points, which as objects (with a boxed timestamp each) took about 130 MB.
 */
export class NodeHistory {
  private readonly rings = new Map<string, NumberRowRing>();
  private readonly capacity: number;
  private readonly row = new Float64Array(FIELDS);

  constructor(
    private readonly windowMs: number,
    pollIntervalMs: number,
  ) {
    this.capacity = Math.max(2, Math.ceil(windowMs / Math.max(1, pollIntervalMs)) + 1);
  }

  record(node: string, point: NodeHistoryPoint): void {
    let ring = this.rings.get(node);
    if (!ring) {
      ring = new NumberRowRing(this.capacity, FIELDS);
      this.rings.set(node, ring);
    }
    this.row[AT] = point.at;
    this.row[PROCESS_COUNT] = orNaN(point.processCount);
    this.row[REGISTERED_NAMES] = orNaN(point.registeredNames);
    this.row[MEMORY_BYTES] = orNaN(point.memoryBytes);
    ring.push(this.row);
  }

  /** The node's points within the window ending at `now`, oldest first. */
  points(node: string, now: number): NodeHistoryPoint[] {
    const cutoff = now - this.windowMs;
    const points: NodeHistoryPoint[] = [];
    this.rings.get(node)?.forEach((row) => {
      if (row[AT]! >= cutoff) {
        points.push({
          at: row[AT]!,
          processCount: orNull(row[PROCESS_COUNT]!),
          registeredNames: orNull(row[REGISTERED_NAMES]!),
          memoryBytes: orNull(row[MEMORY_BYTES]!),
        });
      }
    });
    return points;
  }

  forget(node: string): void {
    this.rings.delete(node);
  }

  nodes(): string[] {
    return [...this.rings.keys()];
  }
}
