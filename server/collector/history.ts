import 'server-only';

// Each node's recent past (processes, hosted names, memory) for the node drawer's charts.

import type { NodeHistoryPoint } from '@/lib/cluster-state';

import { Ring } from './ring';

/**
 * Per-node history at poll resolution for a fixed window (default one hour): one ring per node,
 * sized so that a window's worth of polls fits. Long-term history is Prometheus's job.
 */
export class NodeHistory {
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
    if (!ring) {
      ring = new Ring(this.capacity);
      this.rings.set(node, ring);
    }
    ring.push(point);
  }

  /** The node's points within the window ending at `now`, oldest first. */
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
