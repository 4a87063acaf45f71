import 'server-only';

// Each node's recent past (processes, hosted names, memory) for the node drawer's charts.

import type { NodeHistoryPoint } from '@/lib/cluster-state';

import { HistoryRowRing } from './history-rows';

// A point is a row of numbers; `null` is NaN (a field never holds NaN itself).

const orNaN = (value: number | null): number => (value === null ? Number.NaN : value);
const orNull = (value: number): number | null => (Number.isNaN(value) ? null : value);

/**
 * Per-node history at poll resolution for a fixed window (default one hour): one ring per node,
 * sized so that a window's worth of polls fits. Long-term history is Prometheus's job.
 *
 * The points are held as packed rows (20 bytes, see history-rows.ts), not objects: at 1,000 nodes
 * an hour at 2 s is 1.8 million points, which as objects (with a boxed timestamp each) took
 * about 130 MB, as four Float64s 58 MB, packed 36 MB.
 */
export class NodeHistory {
  private readonly rings = new Map<string, HistoryRowRing>();
  private readonly capacity: number;

  constructor(
    private readonly windowMs: number,
    pollIntervalMs: number,
  ) {
    this.capacity = Math.max(2, Math.ceil(windowMs / Math.max(1, pollIntervalMs)) + 1);
  }

  record(node: string, point: NodeHistoryPoint): void {
    let ring = this.rings.get(node);
    if (!ring) {
      ring = new HistoryRowRing(this.capacity);
      this.rings.set(node, ring);
    }
    ring.push(
      point.at,
      orNaN(point.processCount),
      orNaN(point.registeredNames),
      orNaN(point.memoryBytes),
    );
  }

  /** The node's points within the window ending at `now`, oldest first. */
  points(node: string, now: number): NodeHistoryPoint[] {
    const cutoff = now - this.windowMs;
    const points: NodeHistoryPoint[] = [];
    this.rings.get(node)?.forEach((at, processCount, registeredNames, memoryBytes) => {
      if (at >= cutoff) {
        points.push({
          at,
          processCount: orNull(processCount),
          registeredNames: orNull(registeredNames),
          memoryBytes: orNull(memoryBytes),
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
