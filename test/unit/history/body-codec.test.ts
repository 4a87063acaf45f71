import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';

import { beforeAll, describe, expect, it } from 'vitest';

import type { NodeHistoryPoint } from '@/lib/cluster-state';
import type { WireClusterDelta } from '@/lib/peer-wire';
import {
  decodeJsonBody,
  DeltaChainDecoder,
  DeltaChainEncoder,
  encodeJsonBody,
} from '@/server/history/body-codec';
import { decodePoints, encodePoints } from '@/server/history/point-blocks';
import type { RecordedDelta } from '@/server/history/store';
import { loadZstd, zstdCompress, zstdDecompress } from '@/server/history/zstd';

// The stores load it when they open; these tests call the codec directly.
beforeAll(() => loadZstd());

/** A probe's delta: every member's counters move, and the state's time. */
function probe(seq: number, members = 20, run = 'run-a'): RecordedDelta {
  const at = 1_700_000_000_000 + seq * 2000;
  const delta: WireClusterDelta = {
    added: [],
    removed: [],
    set: { at },
    changed: Array.from({ length: members }, (_, index) => ({
      key: `app@10.0.0.${index}`,
      beam: {
        memoryBytes: 60_000_000 + ((seq * 7919 + index * 104_729) % 200_000) - 100_000,
        probedAt: at,
        ...(seq % 2 === index % 2 ? { processCount: 400 + ((seq + index) % 9) - 4 } : {}),
        ...(index === 3 ? { sees: { except: [] }, probeError: null } : {}),
      },
    })),
  };
  return { at, run, seq, delta };
}

const decodeAll = (run: string, rows: Array<{ seq: number; body: Buffer }>) => {
  const decoder = new DeltaChainDecoder();
  return rows.map((row) => decoder.decode(run, row.seq, row.body));
};

describe('history bodies', () => {
  it('gives back every delta of a chain exactly, written batch by batch', () => {
    const encoder = new DeltaChainEncoder();
    const deltas = Array.from({ length: 30 }, (_, index) => probe(index + 1));
    const rows: Array<{ seq: number; body: Buffer }> = [];
    for (let start = 0; start < deltas.length; start += 4) {
      const batch = deltas.slice(start, start + 4);
      const { bodies, commit } = encoder.encodeBatch('prod', batch, []);
      commit();
      batch.forEach((delta, index) => rows.push({ seq: delta.seq, body: bodies[index]! }));
    }
    expect(decodeAll('run-a', rows)).toEqual(deltas.map((recorded) => recorded.delta));
    // A probe's delta after the first weighs a fraction of its JSON.
    const json = JSON.stringify(deltas[10]!.delta).length;
    expect(rows[10]!.body.length).toBeLessThan(json / 4);
  });

  it('starts a chain again after a keyframe, so the deltas after it decode on their own', () => {
    const encoder = new DeltaChainEncoder();
    const deltas = Array.from({ length: 6 }, (_, index) => probe(index + 1));
    const first = encoder.encodeBatch('prod', deltas.slice(0, 3), [{ run: 'run-a', seq: 0 }]);
    first.commit();
    // The keyframe at seq 3 comes in a batch of its own, before the deltas that follow it.
    encoder.encodeBatch('prod', [], [{ run: 'run-a', seq: 3 }]).commit();
    const second = encoder.encodeBatch('prod', deltas.slice(3), []);
    second.commit();
    const afterKeyframe = second.bodies.map((body, index) => ({ seq: 4 + index, body }));
    expect(decodeAll('run-a', afterKeyframe)).toEqual(deltas.slice(3).map((d) => d.delta));
    // Without its chain's start, a delta does not decode (and is not guessed).
    expect(decodeAll('run-a', afterKeyframe.slice(1))[0]).toBeNull();
  });

  it('leaves the chain as it was when a batch is not committed (its write failed)', () => {
    const encoder = new DeltaChainEncoder();
    const deltas = Array.from({ length: 4 }, (_, index) => probe(index + 1));
    const first = encoder.encodeBatch('prod', deltas.slice(0, 2), []);
    first.commit();
    encoder.encodeBatch('prod', deltas.slice(2), []); // failed: never committed
    const retry = encoder.encodeBatch('prod', deltas.slice(2), []);
    retry.commit();
    const rows = [...first.bodies, ...retry.bodies].map((body, index) => ({
      seq: index + 1,
      body,
    }));
    expect(decodeAll('run-a', rows)).toEqual(deltas.map((d) => d.delta));
  });

  it('reads bodies written before compression (JSON text, or its bytes)', () => {
    const delta = probe(1).delta;
    const text = JSON.stringify(delta);
    expect(decodeJsonBody(text)).toEqual(delta);
    expect(decodeJsonBody(Buffer.from(text))).toEqual(delta);
    expect(new DeltaChainDecoder().decode('run-a', 1, Buffer.from(text))).toEqual(delta);
    expect(decodeJsonBody(encodeJsonBody({ a: [1, 'b', null] }))).toEqual({ a: [1, 'b', null] });
  });

  it("writes standard zstd frames: Node's zlib reads them, and they read what it wrote", () => {
    const dictionary = Buffer.from(JSON.stringify(probe(1).delta));
    const data = Buffer.from(JSON.stringify(probe(2).delta));
    expect(zstdDecompressSync(zstdCompress(data))).toEqual(data);
    expect(zstdDecompressSync(zstdCompress(data, dictionary), { dictionary })).toEqual(data);
    expect(zstdDecompress(zstdCompressSync(data))).toEqual(data);
    expect(zstdDecompress(zstdCompressSync(data, { dictionary }), dictionary)).toEqual(data);
    // The dictionary is used, not only carried: the previous probe's delta shares the keys.
    expect(zstdCompress(data, dictionary).length).toBeLessThan(zstdCompress(data).length);
  });

  it('keeps node points in blocks exactly, missing values and all', () => {
    const points: NodeHistoryPoint[] = Array.from({ length: 50 }, (_, index) => ({
      at: 1_700_000_000_000 + index * 2000 + (index % 3),
      processCount: index % 7 === 0 ? null : 400 + (index % 5) - 2,
      registeredNames: 3,
      memoryBytes: index % 11 === 0 ? null : 60_000_000 - index * 12_345,
    }));
    expect(decodePoints(encodePoints(points))).toEqual(points);
    const fractional = [{ at: 5, processCount: 1.5, registeredNames: null, memoryBytes: -3 }];
    expect(decodePoints(encodePoints(fractional))).toEqual(fractional);
    expect(decodePoints(encodePoints([]))).toEqual([]);
  });
});
