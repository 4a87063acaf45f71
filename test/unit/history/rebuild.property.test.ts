import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import type { BeamSide, ClusterState, TimelineEventDraft } from '@/lib/cluster-state';
import { rebuildStateAt } from '@/server/history/rebuild';
import { HistoryRecorder } from '@/server/history/recorder';
import { MemoryHistoryStore } from '@/server/history/memory';
import { SqliteHistoryStore } from '@/server/history/sqlite';
import type { HistoryStore } from '@/server/history/store';

import { SimClock, SimCollector } from '../../support/sim-collector';
import { n, pod, side, stateOf } from '../lib/fixtures';

const NODES = 6;

/** A random cluster at `at`: which pods exist, which nodes are connected, whom each sees. */
const arbitraryCluster = fc.record({
  pods: fc.uniqueArray(fc.integer({ min: 1, max: NODES }), { maxLength: NODES }),
  sides: fc.array(
    fc.record({
      index: fc.integer({ min: 1, max: NODES }),
      connected: fc.boolean(),
      sees: fc.uniqueArray(fc.integer({ min: 1, max: NODES + 1 }), { maxLength: NODES }),
      processes: fc.integer({ min: 1, max: 3 }),
    }),
    { maxLength: NODES },
  ),
});

type Cluster = typeof arbitraryCluster extends fc.Arbitrary<infer T> ? T : never;

function stateAt(cluster: Cluster, at: number): ClusterState {
  const byNode = new Map<string, BeamSide>();
  for (const entry of cluster.sides) {
    byNode.set(
      n(entry.index),
      side(
        n(entry.index),
        entry.connected ? entry.sees.filter((peer) => peer !== entry.index).map(n) : null,
        {
          processCount: entry.processes,
          connection: entry.connected
            ? { status: 'connected', since: 1 }
            : { status: 'unreachable', since: 1, code: 'dist_unreachable', reason: 'refused' },
        },
      ),
    );
  }
  return stateOf(
    cluster.pods.map((index) => pod(`10.0.0.${index}`, { ready: index % 2 === 0 })),
    [...byNode.values()],
    at,
  );
}

const step = fc.record({
  cluster: arbitraryCluster,
  /** Time to the next change: several changes may share a millisecond. */
  afterMs: fc.integer({ min: 0, max: 3000 }),
  flush: fc.boolean(),
  event: fc.boolean(),
});

/** A fresh store per run, and how to let it go. */
interface StoreKind {
  name: string;
  runs: number;
  open(): Promise<{ store: HistoryStore; dispose(): Promise<void> }>;
}

const STORES: StoreKind[] = [
  {
    name: 'in memory (the rows as given)',
    runs: 150,
    open: async () => ({ store: new MemoryHistoryStore(), dispose: async () => {} }),
  },
  {
    // The SQL stores keep bodies compressed, deltas as chains (server/history/body-codec.ts).
    name: 'in SQLite (bodies compressed, deltas chained)',
    runs: 60,
    open: async () => {
      const directory = await mkdtemp(join(tmpdir(), 'beamscope-rebuild-'));
      const store = new SqliteHistoryStore({ directory });
      await store.open();
      return {
        store,
        dispose: async () => {
          await store.close();
          await rm(directory, { recursive: true, force: true });
        },
      };
    },
  },
];

describe.each(STORES)(
  'the flight recorder $name: rebuilt(T) equals the live state at T',
  (kind) => {
    it('for random sequences of states, flushes, keyframe policies and moments', async () => {
      await fc.assert(
        fc.asyncProperty(
          arbitraryCluster,
          fc.array(step, { minLength: 1, maxLength: 40 }),
          fc.record({
            maxDeltas: fc.integer({ min: 1, max: 8 }),
            weightRatio: fc.double({ min: 0.1, max: 5, noNaN: true }),
            maxRebuildWeight: fc.integer({ min: 1_000, max: 100_000 }),
          }),
          fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 20 }),
          async (initial, steps, keyframes, fractions) => {
            const clock = new SimClock();
            const collector = new SimCollector('c1', stateAt(initial, clock.now()), clock);
            const { store, dispose } = await kind.open();
            try {
              const recorder = new HistoryRecorder({
                collector,
                store,
                holder: 'test',
                now: clock.now,
                flushIntervalMs: 0,
                keyframes: { ...keyframes, maxAgeMs: 10_000 },
              }).start();
              const start = clock.now();
              // The live states, each with the moment it became current.
              const live: Array<{ at: number; state: ClusterState }> = [
                { at: start, state: collector.current },
              ];
              const told: TimelineEventDraft[] = [];
              for (const { cluster, afterMs, flush, event } of steps) {
                clock.advance(afterMs);
                const events: TimelineEventDraft[] = event
                  ? [{ kind: 'pod_ready', severity: 'info', message: `step ${told.length}` }]
                  : [];
                told.push(...events);
                if (collector.set(stateAt(cluster, clock.now()), events))
                  live.push({ at: clock.now(), state: collector.current });
                if (flush) await recorder.flush();
              }
              await recorder.stop();
              const end = clock.now();

              for (const fraction of fractions) {
                const at = Math.round(start + fraction * (end - start));
                const stored = await store.stateAt('c1', at);
                expect(stored).not.toBeNull();
                const expected = live.findLast((entry) => entry.at <= at)!.state;
                expect(rebuildStateAt(stored!.keyframe, stored!.deltas)).toEqual(expected);
              }
              const page = await store.timeline('c1', { limit: 1000, order: 'oldest' });
              expect(page.events.map(({ event }) => event.message)).toEqual(
                told.map((event) => event.message),
              );
            } finally {
              await dispose();
            }
          },
        ),
        { numRuns: kind.runs },
      );
    });
  },
);
