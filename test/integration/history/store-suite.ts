// The one suite every history store passes: the same assertions against memory, SQLite and
// PostgreSQL (history-stores.test.ts runs it once per store).

import { beforeEach, afterEach, describe, expect, it } from 'vitest';

import type { TimelineEvent } from '@/lib/cluster-state';
import { applyWireDelta, expandState } from '@/lib/peer-wire';

import { BeamscopeError } from '../../../server/errors';
import { DAY_MS, HOUR_MS } from '../../../server/history/downsample';
import type { HistoryStore, RecordedEvent, TimelineQuery } from '../../../server/history/store';
import { batch, delta, event, keyframe, meshState, n } from './fixtures';

/** Fresh, empty storage per test: `open` gives a store on it, as many times as asked. */
export interface StoreHarness {
  open(): Promise<HistoryStore>;
  dispose(): Promise<void>;
}

const CLUSTER = 'prod';
const RUN = 'run-a';

/** Every page of a query, following `next` to the end. */
async function allPages(
  store: HistoryStore,
  query: TimelineQuery,
  between?: (page: number) => Promise<void>,
): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 1000; page++) {
    const result = await store.timeline(CLUSTER, { ...query, ...(cursor ? { cursor } : {}) });
    events.push(...result.events);
    if (result.next === null) return events;
    cursor = result.next;
    await between?.(page);
  }
  throw new Error('the timeline never ended');
}

const seqs = (events: RecordedEvent[]) => events.map((recorded) => recorded.event.seq);

export function historyStoreSuite(name: string, makeHarness: () => Promise<StoreHarness>): void {
  describe(`history store: ${name}`, () => {
    let harness: StoreHarness;
    let store: HistoryStore;

    beforeEach(async () => {
      harness = await makeHarness();
      store = await harness.open();
    });
    afterEach(async () => {
      await store.close();
      await harness.dispose();
    });

    it('gives back what it was given: events, keyframes, deltas, points, the observation', async () => {
      const first = meshState(3, 1_000);
      const second = meshState(4, 2_000);
      const events = [event(1, 1_000, 'member_joined'), event(2, 2_000, 'node_up')];
      events[1]!.link = [n(1), n(4)];
      await store.append(
        batch(CLUSTER, RUN, {
          events,
          keyframes: [keyframe(first, RUN, 1)],
          deltas: [delta(first, second, RUN, 2)],
          points: [
            {
              node: n(1),
              point: { at: 1_000, processCount: 50, registeredNames: 3, memoryBytes: 9 },
            },
            {
              node: n(1),
              point: { at: 2_000, processCount: 51, registeredNames: null, memoryBytes: 10 },
            },
          ],
          observedUntil: 2_500,
        }),
      );

      const page = await store.timeline(CLUSTER, { limit: 10, order: 'oldest' });
      expect(page.events.map((recorded) => recorded.event)).toEqual(events);
      expect(page.events.every((recorded) => recorded.run === RUN)).toBe(true);
      expect(page.events[1]!.id).toBeGreaterThan(page.events[0]!.id);
      expect(page.next).toBeNull();
      // The node filter finds an event by a link's end, not only by its own node.
      const byLinkEnd = await store.timeline(CLUSTER, { limit: 10, node: n(4) });
      expect(byLinkEnd.events.map((recorded) => recorded.event.seq)).toEqual([2]);

      const at = await store.stateAt(CLUSTER, 2_000);
      expect(at).not.toBeNull();
      // Rebuilt through the wire form, the state is exactly the one that was current.
      const rebuilt = at!.deltas.reduce(
        (state, recorded) => applyWireDelta(state, recorded.delta),
        expandState(at!.keyframe.state),
      );
      expect(rebuilt).toEqual(second);

      expect(await store.nodeSeries(CLUSTER, n(1), 0, 5_000)).toEqual([
        { at: 1_000, processCount: 50, registeredNames: 3, memoryBytes: 9 },
        { at: 2_000, processCount: 51, registeredNames: null, memoryBytes: 10 },
      ]);
      expect(await store.nodeSeries(CLUSTER, n(1), 1_500, 5_000)).toHaveLength(1);
      expect(await store.nodeSeries(CLUSTER, n(2), 0, 5_000)).toEqual([]);
      expect(await store.lastObservation(CLUSTER)).toEqual({ run: RUN, until: 2_500 });
      expect(await store.lastObservation('other')).toBeNull();
      expect(await store.stateAt('other', 2_000)).toBeNull();
    });

    it('writes a batch whole or not at all', async () => {
      const state = meshState(2, 1_000);
      const broken = keyframe(state, RUN, 2);
      // A value no store can keep (a cycle), after rows that could be written.
      (broken.state as unknown as { self: unknown }).self = broken.state;
      await expect(
        store.append(
          batch(CLUSTER, RUN, {
            events: [event(1, 1_000)],
            keyframes: [keyframe(state, RUN, 1), broken],
            points: [
              {
                node: n(1),
                point: { at: 1_000, processCount: 1, registeredNames: 1, memoryBytes: 1 },
              },
            ],
            observedUntil: 1_000,
          }),
        ),
      ).rejects.toThrow();
      expect((await store.timeline(CLUSTER, { limit: 10 })).events).toEqual([]);
      expect(await store.stateAt(CLUSTER, 1_000)).toBeNull();
      expect(await store.nodeSeries(CLUSTER, n(1), 0, 2_000)).toEqual([]);
      expect(await store.lastObservation(CLUSTER)).toBeNull();
      expect(await store.retained(CLUSTER)).toBeNull();
    });

    it('answers stateAt with the newest keyframe at or before T and only the deltas after it', async () => {
      const states = [1_000, 1_500, 2_000, 5_000, 5_000, 5_500, 6_000].map((at, index) =>
        meshState(2 + index, at),
      );
      await store.append(
        batch(CLUSTER, RUN, {
          keyframes: [keyframe(states[0]!, RUN, 1), keyframe(states[3]!, RUN, 4)],
          deltas: states
            .slice(1)
            .map((state, index) => delta(states[index]!, state, RUN, index + 2)),
          observedUntil: 6_000,
        }),
      );
      expect(await store.stateAt(CLUSTER, 999)).toBeNull();
      const early = await store.stateAt(CLUSTER, 2_000);
      expect(early!.keyframe.seq).toBe(1);
      expect(early!.deltas.map((d) => d.seq)).toEqual([2, 3]);
      const atSecond = await store.stateAt(CLUSTER, 4_999);
      expect(atSecond!.keyframe.seq).toBe(1);
      expect(atSecond!.deltas.map((d) => d.seq)).toEqual([2, 3]);
      // The keyframe at 5000 is seq 4: its own delta (seq 4) is in it; seq 5 at the same ms is not.
      const same = await store.stateAt(CLUSTER, 5_000);
      expect(same!.keyframe.seq).toBe(4);
      expect(same!.deltas.map((d) => d.seq)).toEqual([5]);
      const later = await store.stateAt(CLUSTER, 5_700);
      expect(later!.deltas.map((d) => d.seq)).toEqual([5, 6]);
      for (const [at, index] of [
        [5_700, 5],
        [6_000, 6],
        [2_000, 2],
        [1_000, 0],
      ] as const) {
        const found = await store.stateAt(CLUSTER, at);
        const rebuilt = found!.deltas.reduce(
          (state, recorded) => applyWireDelta(state, recorded.delta),
          expandState(found!.keyframe.state),
        );
        expect(rebuilt).toEqual(states[index]);
      }
    });

    it('pages the timeline both ways with filters, and a cursor survives new rows', async () => {
      const events: TimelineEvent[] = Array.from({ length: 25 }, (_, index) =>
        event(index + 1, 10_000 + index * 100, index % 3 === 0 ? 'node_down' : 'node_up'),
      );
      await store.append(
        batch(CLUSTER, RUN, { events: events.slice(0, 12), observedUntil: 11_200 }),
      );
      await store.append(batch(CLUSTER, RUN, { events: events.slice(12), observedUntil: 12_500 }));
      await store.append(
        batch('other', RUN, { events: [event(1, 10_000)], observedUntil: 10_000 }),
      );

      const newest = await allPages(store, { limit: 10 });
      expect(seqs(newest)).toEqual(events.map((e) => e.seq).reverse());
      const oldest = await allPages(store, { limit: 7, order: 'oldest' });
      expect(seqs(oldest)).toEqual(events.map((e) => e.seq));

      const downs = await allPages(store, { limit: 4, kinds: ['node_down'], order: 'oldest' });
      expect(seqs(downs)).toEqual(events.filter((e) => e.kind === 'node_down').map((e) => e.seq));
      const both = await allPages(store, { limit: 4, kinds: ['node_down', 'node_up'] });
      expect(both).toHaveLength(25);

      const ofNode = await allPages(store, { limit: 2, node: n(2), order: 'oldest' });
      expect(seqs(ofNode)).toEqual(events.filter((e) => e.node === n(2)).map((e) => e.seq));
      expect(await allPages(store, { limit: 5, node: 'nobody@nowhere' })).toEqual([]);

      const window = await allPages(store, { limit: 3, from: 10_500, to: 11_000, order: 'oldest' });
      expect(window.map((r) => r.event.at)).toEqual([
        10_500, 10_600, 10_700, 10_800, 10_900, 11_000,
      ]);

      // Rows that arrive while a client pages: oldest-first reaches them, newest-first does not
      // repeat or skip any row it had not yet seen.
      let extra = 26;
      const grow = async () => {
        if (extra > 30) return;
        await store.append(
          batch(CLUSTER, RUN, {
            events: [event(extra, 20_000 + extra)],
            observedUntil: 20_000 + extra,
          }),
        );
        extra++;
      };
      const forward = await allPages(store, { limit: 6, order: 'oldest' }, grow);
      // Four rows arrived between the five pages, each reached; none read twice.
      expect(extra - 1).toBe(29);
      expect(seqs(forward)).toEqual(Array.from({ length: 29 }, (_, index) => index + 1));
      const backward = await allPages(store, { limit: 6 }, async () => {
        await store.append(
          batch(CLUSTER, RUN, { events: [event(99, 30_000)], observedUntil: 30_000 }),
        );
      });
      expect(seqs(backward)).toEqual(Array.from({ length: 29 }, (_, index) => 29 - index));
    });

    it('refuses a cursor it did not hand out with a bad_cursor error', async () => {
      await store.append(batch(CLUSTER, RUN, { events: [event(1, 1_000), event(2, 2_000)] }));
      const { next } = await store.timeline(CLUSTER, { limit: 1 });
      expect(next).not.toBeNull();
      for (const cursor of [
        '',
        'garbage!',
        'MTIz',
        next!.slice(0, -2),
        `${next}x`,
        Buffer.from('e1.-4').toString('base64url'),
      ]) {
        const failure = await store
          .timeline(CLUSTER, { limit: 1, cursor })
          .catch((error: unknown) => error);
        expect(failure, cursor).toBeInstanceOf(BeamscopeError);
        expect((failure as BeamscopeError).code).toBe('bad_cursor');
      }
    });

    it('says the retained range and the last observation', async () => {
      expect(await store.retained(CLUSTER)).toBeNull();
      await store.append(batch(CLUSTER, 'run-1', { events: [event(1, 500)], observedUntil: 900 }));
      expect(await store.retained(CLUSTER)).toBeNull();
      await store.append(
        batch(CLUSTER, 'run-1', {
          keyframes: [keyframe(meshState(2, 1_000), 'run-1', 2)],
          observedUntil: 1_200,
        }),
      );
      expect(await store.retained(CLUSTER)).toEqual({ from: 1_000, to: 1_200 });
      await store.append(
        batch(CLUSTER, 'run-2', {
          keyframes: [keyframe(meshState(3, 8_000), 'run-2', 0)],
          observedUntil: 9_000,
        }),
      );
      expect(await store.retained(CLUSTER)).toEqual({ from: 1_000, to: 9_000 });
      expect(await store.lastObservation(CLUSTER)).toEqual({ run: 'run-2', until: 9_000 });
    });

    it('keeps stateAt answering at the retention edge after compact()', async () => {
      const states = Array.from({ length: 7 }, (_, index) =>
        meshState(2 + (index % 4), index * 5_000),
      );
      await store.append(
        batch(CLUSTER, RUN, {
          keyframes: [
            keyframe(states[0]!, RUN, 0),
            keyframe(states[2]!, RUN, 2),
            keyframe(states[5]!, RUN, 5),
          ],
          deltas: states
            .slice(1)
            .map((state, index) => delta(states[index]!, state, RUN, index + 1)),
          events: states.map((state, index) => event(index, state.at)),
          points: states.map((state) => ({
            node: n(1),
            point: { at: state.at, processCount: 1, registeredNames: 1, memoryBytes: 1 },
          })),
          observedUntil: 30_000,
        }),
      );
      const edge = 17_000;
      const before = await store.stateAt(CLUSTER, edge);
      const atEnd = await store.stateAt(CLUSTER, 30_000);
      await store.compact(edge, 31_000);
      expect(await store.stateAt(CLUSTER, edge)).toEqual(before);
      expect(await store.stateAt(CLUSTER, 30_000)).toEqual(atEnd);
      expect(await store.stateAt(CLUSTER, 9_999)).toBeNull();
      expect(await store.retained(CLUSTER)).toEqual({ from: edge, to: 30_000 });
      const kept = await allPages(store, { limit: 100, order: 'oldest' });
      expect(kept.map((r) => r.event.at)).toEqual([20_000, 25_000, 30_000]);
      expect((await store.nodeSeries(CLUSTER, n(1), 0, 40_000)).map((p) => p.at)).toEqual([
        20_000, 25_000, 30_000,
      ]);
      // A second compaction at the same edge changes nothing.
      await store.compact(edge, 31_000);
      expect(await store.stateAt(CLUSTER, edge)).toEqual(before);
      expect(await store.retained(CLUSTER)).toEqual({ from: edge, to: 30_000 });
    });

    it('downsamples node series with age: 10 s buckets after an hour, 1 min after a day', async () => {
      const now = 10 * DAY_MS;
      const point = (at: number, value: number) => ({
        node: n(1),
        point: { at, processCount: value, registeredNames: value, memoryBytes: value * 1000 },
      });
      // Every 2 s for 40 s: 30 min ago (kept whole), 2 h ago (10 s buckets), 2 days ago (1 min).
      const recent = Array.from({ length: 20 }, (_, i) => now - 30 * 60_000 + i * 2_000);
      const hoursAgo = Array.from({ length: 20 }, (_, i) => now - 2 * HOUR_MS + i * 2_000);
      const daysAgo = Array.from({ length: 60 }, (_, i) => now - 2 * DAY_MS + i * 2_000);
      const all = [...daysAgo, ...hoursAgo, ...recent];
      await store.append(
        batch(CLUSTER, RUN, { points: all.map((at, i) => point(at, i)), observedUntil: now }),
      );
      await store.append(
        batch('other', RUN, { points: hoursAgo.map((at, i) => point(at, i)), observedUntil: now }),
      );
      await store.compact(0, now);
      const lastOfBuckets = (times: number[], bucket: number) =>
        times.filter(
          (at, i) => Math.floor(at / bucket) !== Math.floor((times[i + 1] ?? Infinity) / bucket),
        );
      const expected = [
        ...lastOfBuckets(daysAgo, 60_000),
        ...lastOfBuckets(hoursAgo, 10_000),
        ...recent,
      ];
      const series = await store.nodeSeries(CLUSTER, n(1), 0, now);
      expect(series.map((p) => p.at)).toEqual(expected);
      // Each kept point is the bucket's last reading, values and all.
      for (const kept of series) {
        const value = all.indexOf(kept.at);
        expect(kept).toEqual(point(kept.at, value).point);
      }
      expect((await store.nodeSeries('other', n(1), 0, now)).map((p) => p.at)).toEqual(
        lastOfBuckets(hoursAgo, 10_000),
      );
      await store.compact(0, now);
      expect(await store.nodeSeries(CLUSTER, n(1), 0, now)).toEqual(series);
      // An hour later the recent points are 90 min old: thinned in turn by the next run, which
      // starts where the last one stopped.
      await store.compact(0, now + HOUR_MS);
      expect((await store.nodeSeries(CLUSTER, n(1), 0, now)).map((p) => p.at)).toEqual([
        ...lastOfBuckets(daysAgo, 60_000),
        ...lastOfBuckets(hoursAgo, 10_000),
        ...lastOfBuckets(recent, 10_000),
      ]);
    });

    it('leases a cluster to one writer until the lease expires', async () => {
      const other = await harness.open();
      try {
        expect(await store.claimWriter(CLUSTER, 'replica-a', 10_000, 1_000)).toBe(true);
        expect(await other.claimWriter(CLUSTER, 'replica-b', 10_000, 2_000)).toBe(false);
        expect(await store.claimWriter(CLUSTER, 'replica-a', 10_000, 9_000)).toBe(true);
        expect(await other.claimWriter(CLUSTER, 'replica-b', 10_000, 18_999)).toBe(false);
        // Another cluster has its own lease.
        expect(await other.claimWriter('other', 'replica-b', 10_000, 2_000)).toBe(true);
        expect(await other.claimWriter(CLUSTER, 'replica-b', 10_000, 19_000)).toBe(true);
        expect(await store.claimWriter(CLUSTER, 'replica-a', 10_000, 19_500)).toBe(false);
      } finally {
        if (other !== store) await other.close();
      }
    });
  });
}
