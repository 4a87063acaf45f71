import 'server-only';

// The recorder's batches on their way to the store: written one at a time, in order, off the
// live path. A store that is slow or down makes the queue grow up to a bound; past it the oldest
// batches give way, and the deltas that no longer follow a stored keyframe go with them (applied
// to the wrong state they would rebuild a state that never was).

import type { HistoryBatch } from './store';

export interface WriteQueueOptions {
  /** Rows (events, deltas, keyframes, points) held in all before the oldest batch is dropped. */
  maxRows: number;
  /** Rows one batch may gather while it waits (a write is all or nothing: keep it bounded). */
  maxBatchRows: number;
}

/** What the queue dropped: the span of the lost batches and how many rows they held. */
export interface DroppedSpan {
  from: number;
  to: number;
  rows: number;
}

export function rowsOf(batch: HistoryBatch): number {
  return batch.events.length + batch.deltas.length + batch.keyframes.length + batch.points.length;
}

/** A batch waiting for the store, with the moment its rows start (for a gap's span). */
interface Queued {
  batch: HistoryBatch;
  since: number;
}

export class WriteQueue {
  private readonly queued: Queued[] = [];
  private rows = 0;
  /** The batch being written: not merged into, not dropped. */
  private inFlight: Queued | null = null;

  constructor(private readonly options: WriteQueueOptions) {}

  get length(): number {
    return this.queued.length;
  }

  get rowCount(): number {
    return this.rows;
  }

  /**
   * Queues `batch` (its rows observed from `since`), merged into the last waiting batch when that
   * stays within the batch bound. Returns what had to be dropped to stay within the row bound.
   */
  push(batch: HistoryBatch, since: number): DroppedSpan | null {
    const tail = this.queued.at(-1);
    const size = rowsOf(batch);
    if (tail && tail !== this.inFlight && rowsOf(tail.batch) + size <= this.options.maxBatchRows) {
      tail.batch = {
        ...tail.batch,
        events: [...tail.batch.events, ...batch.events],
        deltas: [...tail.batch.deltas, ...batch.deltas],
        keyframes: [...tail.batch.keyframes, ...batch.keyframes],
        points: [...tail.batch.points, ...batch.points],
        observedUntil: batch.observedUntil,
      };
    } else this.queued.push({ batch, since });
    this.rows += size;
    return this.trim();
  }

  /** The oldest batch, marked as being written until {@link done} or {@link failed}. */
  take(): HistoryBatch | null {
    const head = this.queued[0];
    if (!head) return null;
    this.inFlight = head;
    return head.batch;
  }

  /** The batch from {@link take} is stored. */
  done(): void {
    const head = this.inFlight;
    this.inFlight = null;
    if (!head || this.queued[0] !== head) return;
    this.queued.shift();
    this.rows -= rowsOf(head.batch);
  }

  /** The batch from {@link take} was not stored: it stays first, to be tried again. */
  failed(): DroppedSpan | null {
    this.inFlight = null;
    return this.trim();
  }

  /** Drops everything (this replica is not the cluster's writer). */
  clear(): void {
    this.queued.length = 0;
    this.inFlight = null;
    this.rows = 0;
  }

  /** Whether a keyframe waits in the queue (deltas queued after it still have their base). */
  hasKeyframe(): boolean {
    return this.queued.some(({ batch }) => batch.keyframes.length > 0);
  }

  private trim(): DroppedSpan | null {
    let from = Infinity;
    let to = -Infinity;
    let droppedRows = 0;
    while (this.rows > this.options.maxRows) {
      const index = this.queued[0] === this.inFlight ? 1 : 0;
      const oldest = this.queued[index];
      if (!oldest) break;
      this.queued.splice(index, 1);
      const rows = rowsOf(oldest.batch);
      this.rows -= rows;
      from = Math.min(from, oldest.since);
      to = Math.max(to, oldest.batch.observedUntil);
      droppedRows += rows;
    }
    if (droppedRows === 0) return null;
    this.orphanDeltas();
    return { from, to, rows: droppedRows };
  }

  /** Drops the deltas that come before the first keyframe still queued: their base is gone. */
  private orphanDeltas(): void {
    for (const entry of this.queued) {
      if (entry === this.inFlight) continue;
      const firstKeyframe = entry.batch.keyframes[0];
      const kept = firstKeyframe
        ? entry.batch.deltas.filter((delta) => delta.seq > firstKeyframe.seq)
        : [];
      this.rows -= entry.batch.deltas.length - kept.length;
      entry.batch = { ...entry.batch, deltas: kept };
      if (firstKeyframe) return;
    }
  }
}
