// The live push's latency with the history recorder on and off, in the same run: is recording
// visible in the push's tail? One run's two p99s differ by milliseconds either way on a shared
// machine (2.25 / 5.87, 7.9 / 17.5, 2.7 / 2.2 ms in three runs), so the run is cut into many
// short segments, off and on alternating in ABBA order (a drift of the machine's load falls on
// both alike), and the answer is the spread of the segments' p99s and a bootstrap interval of
// the pooled p99s' difference, resampling whole segments (samples within one are not
// independent: one busy second of a neighbour's build lifts a whole segment).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { HistoryRecorder } from '@/server/history/recorder';
import { COMPACT_EVERY_MS } from '@/server/history/supervised';

import { SimClock, SimCollector } from '../test/support/sim-collector';
import type { BenchStore } from './history';
import { plainFigure } from './support/figures';
import { ChurningCluster } from './support/history-sim';
import { distribution, quantile, roundTo, summarize } from './support/stats';

type Mode = 'off' | 'on';

export interface PushLatencyOptions {
  /** One segment's real time (default 5 s). */
  segmentMs?: number;
  /** Off/on pairs (default 12: two minutes of segments). */
  pairs?: number;
  /**
   * The start of each segment left out (default 1 s): a recorder's start writes a keyframe of
   * the whole state, once per server start, not in its steady state; the off segments lose the
   * same share.
   */
  warmupMs?: number;
  log: (line: string) => void;
}

const WEEK_MS = 7 * 86_400_000;
const BOOTSTRAP_ROUNDS = 2000;

/** A small seeded generator, so a rerun on the same samples gives the same interval. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The pooled p99 of segments drawn with replacement. */
function resampledP99(segments: readonly number[][], random: () => number): number {
  const pooled: number[] = [];
  for (let index = 0; index < segments.length; index++)
    pooled.push(...segments[Math.floor(random() * segments.length)]!);
  return quantile(pooled, 0.99) ?? NaN;
}

/**
 * A change every 50 ms (100 nodes churning), a push subscriber after the recorder's, and the
 * latency from the change's due moment to its delta reaching the subscriber (timer lateness
 * included: a flush that held the event loop shows there). While recording, the store is
 * compacted at the server's cadence (every `COMPACT_EVERY_MS` of recording), as the server does.
 */
export async function pushLatency(storeKind: BenchStore, options: PushLatencyOptions) {
  const { log } = options;
  const segmentMs = options.segmentMs ?? 5_000;
  const pairs = options.pairs ?? 12;
  const warmupMs = options.warmupMs ?? 1_000;
  const dir = await mkdtemp(join(tmpdir(), 'beamscope-bench-history-live-'));
  const segments: Record<Mode, number[][]> = { off: [], on: [] };
  let compactions = 0;
  try {
    const store = await storeKind.open(dir);
    const cluster = new ChurningCluster(100);
    const collector = new SimCollector(
      'bench',
      cluster.state(Date.now()),
      new SimClock(Date.now()),
    );
    let recordedMs = 0;
    let lastCompaction = 0;
    let step = 0;
    const order: Mode[] = [];
    for (let pair = 0; pair < pairs; pair++)
      order.push(...(pair % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)));
    for (const mode of order) {
      const recorder =
        mode === 'on'
          ? new HistoryRecorder({ collector, store, holder: 'bench', now: Date.now }).start()
          : null;
      const samples: number[] = [];
      const started = performance.now();
      let due = started;
      const unsubscribe = collector.subscribe((message) => {
        if (message.type === 'delta' && due - started >= warmupMs)
          samples.push(performance.now() - due);
      });
      let compacting: Promise<void> | null = null;
      while (performance.now() - started < segmentMs) {
        due += 50;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
        cluster.poll();
        if (++step % 200 === 0) cluster.advanceScenario();
        collector.set(cluster.state(Date.now()));
        if (mode === 'on' && !compacting) {
          recordedMs += 50;
          if (recordedMs - lastCompaction >= COMPACT_EVERY_MS) {
            lastCompaction = recordedMs;
            compactions++;
            const now = Date.now();
            compacting = store.compact(now - WEEK_MS, now);
          }
        }
      }
      unsubscribe();
      await compacting;
      await recorder?.stop();
      segments[mode].push(samples);
    }
    log(
      `live push: ${pairs} pairs of ${segmentMs / 1000} s segments, ${compactions} compactions while recording`,
    );
    await storeKind.bytes(dir, store);
    await store.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  const pooled = { off: segments.off.flat(), on: segments.on.flat() };
  const on = summarize(pooled.on);
  const off = summarize(pooled.off);
  const segmentP99s = (mode: Mode) =>
    segments[mode].map((samples) => roundTo(quantile(samples, 0.99) ?? NaN, 2));
  const spread = (values: readonly number[]) => ({
    min: Math.min(...values),
    median: roundTo(quantile(values, 0.5) ?? NaN, 2),
    max: Math.max(...values),
  });
  const random = mulberry32(17);
  const differences: number[] = [];
  for (let round = 0; round < BOOTSTRAP_ROUNDS; round++)
    differences.push(resampledP99(segments.on, random) - resampledP99(segments.off, random));
  const difference = {
    estimateMs: roundTo((on.p99Ms ?? NaN) - (off.p99Ms ?? NaN), 2),
    low95Ms: roundTo(quantile(differences, 0.025) ?? NaN, 2),
    high95Ms: roundTo(quantile(differences, 0.975) ?? NaN, 2),
  };
  log(
    `live push p99 off / on: ${off.p99Ms} / ${on.p99Ms} ms; on − off ${difference.estimateMs} ms, 95 % interval [${difference.low95Ms}, ${difference.high95Ms}]`,
  );
  return {
    recordingOff: plainFigure('live push p99, recording off', off.p99Ms, 'ms', off.samples),
    recordingOn: plainFigure('live push p99, recording on', on.p99Ms, 'ms', on.samples),
    p99Difference: plainFigure(
      `live push p99, on − off (95 % interval ${difference.low95Ms} to ${difference.high95Ms} ms)`,
      difference.estimateMs,
      'ms',
    ),
    difference,
    medians: { offMs: off.medianMs, onMs: on.medianMs },
    segments: {
      count: { off: segments.off.length, on: segments.on.length },
      segmentMs,
      warmupMs,
      p99sMs: { off: segmentP99s('off'), on: segmentP99s('on') },
      p99SpreadMs: { off: spread(segmentP99s('off')), on: spread(segmentP99s('on')) },
    },
    distribution: { off: distribution(pooled.off, 2), on: distribution(pooled.on, 2) },
  };
}
