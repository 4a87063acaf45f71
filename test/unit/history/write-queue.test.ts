import { describe, expect, it } from 'vitest';

import type { HistoryBatch, RecordedDelta, RecordedKeyframe } from '@/server/history/store';
import { rowsOf, WriteQueue } from '@/server/history/write-queue';

const delta = (seq: number): RecordedDelta => ({
  at: seq,
  run: 'r',
  seq,
  delta: { added: [], changed: [], removed: [], set: {} },
});
const keyframe = (seq: number) => ({ at: seq, run: 'r', seq, state: {} }) as RecordedKeyframe;

function batch(until: number, parts: Partial<HistoryBatch> = {}): HistoryBatch {
  return {
    clusterId: 'c',
    run: 'r',
    events: [],
    deltas: [],
    keyframes: [],
    points: [],
    observedUntil: until,
    ...parts,
  };
}

describe('WriteQueue', () => {
  it('merges a waiting batch into the last one, never into the one being written', () => {
    const queue = new WriteQueue({ maxRows: 100, maxBatchRows: 10 });
    queue.push(batch(1, { deltas: [delta(1)] }), 0);
    const first = queue.take()!;
    queue.push(batch(2, { deltas: [delta(2)] }), 1);
    queue.push(batch(3, { deltas: [delta(3)] }), 2);
    expect(queue.length).toBe(2);
    queue.done();
    const second = queue.take()!;
    expect(first.deltas.map((entry) => entry.seq)).toEqual([1]);
    expect(second.deltas.map((entry) => entry.seq)).toEqual([2, 3]);
    expect(second.observedUntil).toBe(3);
    queue.done();
    expect(queue.rowCount).toBe(0);
  });

  it('drops the oldest past its bound, and the deltas left without a keyframe before them', () => {
    const queue = new WriteQueue({ maxRows: 4, maxBatchRows: 2 });
    queue.push(batch(1, { keyframes: [keyframe(0)], deltas: [delta(1)] }), 0);
    queue.push(batch(2, { deltas: [delta(2), delta(3)] }), 1);
    const dropped = queue.push(batch(3, { keyframes: [keyframe(3)], deltas: [delta(4)] }), 2);
    // The first batch went; the second's deltas followed it and have no base left.
    expect(dropped).toEqual({ from: 0, to: 1, rows: 2 });
    expect(queue.rowCount).toBe(2);
    expect(queue.push(batch(4, { deltas: [delta(5)] }), 3)).toBeNull();
    const left: HistoryBatch[] = [];
    for (let next = queue.take(); next; next = queue.take()) {
      left.push(next);
      queue.done();
    }
    expect(left.flatMap((entry) => entry.deltas.map((d) => d.seq))).toEqual([4, 5]);
    expect(left.flatMap((entry) => entry.keyframes.map((k) => k.seq))).toEqual([3]);
    expect(left.reduce((sum, entry) => sum + rowsOf(entry), 0)).toBe(3);
  });

  it('keeps a batch that failed first, to be tried again', () => {
    const queue = new WriteQueue({ maxRows: 100, maxBatchRows: 10 });
    queue.push(batch(1, { deltas: [delta(1)] }), 0);
    const tried = queue.take();
    expect(queue.failed()).toBeNull();
    expect(queue.take()).toBe(tried);
  });
});
