import { describe, expect, it, vi } from 'vitest';

import type { LogEntry } from '@/server/log';
import { MemoryHistoryStore } from '@/server/history/memory';
import { rebuildStateAt } from '@/server/history/rebuild';
import { HistoryRecorder, type KeyframePolicy } from '@/server/history/recorder';
import type { HistoryBatch } from '@/server/history/store';

import { SimClock, SimCollector } from '../../support/sim-collector';
import { fullMesh, n, pod, stateOf } from '../lib/fixtures';

const pods = (count: number) =>
  Array.from({ length: count }, (_, index) => pod(`10.0.0.${index + 1}`));
const mesh = (count: number, at: number) =>
  stateOf(pods(count), fullMesh(Array.from({ length: count }, (_, index) => index + 1)), at);

/** A memory store whose writes can be made to fail, or to say another replica writes. */
class FlakyStore extends MemoryHistoryStore {
  failing = false;
  writer = true;
  appended: HistoryBatch[] = [];
  override async append(batch: HistoryBatch): Promise<void> {
    if (this.failing) throw new Error('connection refused');
    this.appended.push(batch);
    return super.append(batch);
  }
  override async claimWriter(): Promise<boolean> {
    return this.writer;
  }
}

function setup(
  store = new FlakyStore(),
  options: { maxQueuedRows?: number; keyframes?: Partial<KeyframePolicy> } = {},
) {
  const clock = new SimClock();
  const collector = new SimCollector('c1', mesh(2, clock.now()), clock);
  const log: LogEntry[] = [];
  const recorder = new HistoryRecorder({
    collector,
    store,
    holder: 'replica-a',
    now: clock.now,
    flushIntervalMs: 0,
    log: (entry) => log.push(entry),
    ...options,
  });
  return { clock, collector, store, log, recorder };
}

describe('HistoryRecorder', () => {
  it('tells the span no run observed after a restart, on the live stream and in the store', async () => {
    const first = setup();
    first.recorder.start();
    first.clock.advance(500);
    await first.recorder.stop();
    const stoppedAt = first.clock.now();

    const clock = new SimClock(stoppedAt + 98_000);
    const collector = new SimCollector('c1', mesh(2, clock.now()), clock);
    const live: string[] = [];
    collector.subscribe((message) => {
      if (message.type === 'timeline') live.push(message.event.kind);
    });
    const recorder = new HistoryRecorder({
      collector,
      store: first.store,
      holder: 'replica-a',
      now: clock.now,
      flushIntervalMs: 0,
    }).start();
    await recorder.flush();
    expect(live).toEqual(['observation_gap']);
    const page = await first.store.timeline('c1', { limit: 10 });
    const gap = page.events[0]!.event;
    expect(gap.kind).toBe('observation_gap');
    expect(gap.gap).toEqual({ from: stoppedAt, to: stoppedAt + 98_000 });
    expect(gap.message).toMatch(/^beamscope was not observing \d{4}-\d\d-\d\d \d\d:\d\d:\d\d–/);
    await recorder.stop();
  });

  it('heartbeats observedUntil at every flush, with nothing else to write', async () => {
    const { recorder, clock, store } = setup();
    recorder.start();
    clock.advance(1000);
    await recorder.flush();
    clock.advance(1000);
    await recorder.flush();
    expect(await store.lastObservation('c1')).toEqual({
      run: expect.any(String),
      until: clock.now(),
    });
    expect(store.appended.at(-1)!.deltas).toEqual([]);
    await recorder.stop();
  });

  it('queues while the store fails, says so once, and catches up when it answers', async () => {
    const { recorder, clock, collector, store, log } = setup();
    recorder.start();
    await recorder.flush();
    store.failing = true;
    for (let step = 3; step <= 6; step += 1) {
      clock.advance(1000);
      collector.set(mesh(step, clock.now()));
      await recorder.flush();
    }
    expect(recorder.status()).toEqual({
      state: 'error',
      reason: 'history store: connection refused',
    });
    expect(log.filter((entry) => entry.level === 'error')).toHaveLength(1);
    store.failing = false;
    await recorder.flush();
    expect(recorder.status()).toEqual({ state: 'ok' });
    expect(log.map((entry) => entry.state)).toEqual(['error', 'ok']);
    const stored = await store.stateAt('c1', clock.now());
    expect(rebuildStateAt(stored!.keyframe, stored!.deltas)).toEqual(collector.current);
    await recorder.stop();
  });

  it('does not take a keyframe at every flush when the keyframe alone outweighs the rebuild bound', async () => {
    // A 1,000-node keyframe outweighs the default bound by itself; here a 20-node one, a tiny bound.
    const { recorder, clock, collector, store } = setup(new FlakyStore(), {
      keyframes: { maxRebuildWeight: 10 },
    });
    const members = pods(20);
    const sides = fullMesh(Array.from({ length: 20 }, (_, index) => index + 1));
    collector.set(stateOf(members, sides, clock.now()));
    recorder.start();
    await recorder.flush();
    for (let step = 1; step <= 6; step += 1) {
      clock.advance(1000);
      // One pod's readiness: a delta far lighter than the keyframe.
      const toggled = members.map((member, index) =>
        index === 0 ? { ...member, ready: step % 2 === 0 } : member,
      );
      collector.set(stateOf(toggled, sides, clock.now()));
      await recorder.flush();
    }
    const keyframes = store.appended.reduce((sum, batch) => sum + batch.keyframes.length, 0);
    // The start's, and at most one more once the deltas weigh half of it: not one per flush.
    expect(keyframes).toBeLessThanOrEqual(2);
    const stored = await store.stateAt('c1', clock.now());
    expect(rebuildStateAt(stored!.keyframe, stored!.deltas)).toEqual(collector.current);
    await recorder.stop();
  });

  it('weighs a delta after the turn that told it, and before the flush that follows decides', async () => {
    // Any delta outweighs a hundredth of the keyframe: each one makes the next keyframe due.
    const { recorder, clock, collector, store } = setup(new FlakyStore(), {
      keyframes: { weightRatio: 0.01 },
    });
    recorder.start();
    await recorder.flush();
    const keyframesIn = (batch: HistoryBatch | undefined) => batch?.keyframes.length;
    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      clock.advance(1000);
      collector.set(mesh(3, clock.now()));
      const told = stringify.mock.calls.length;
      // The live page's bytes of the delta are written in the promises that follow the telling:
      // the recorder's weighing must not come before them.
      for (let hop = 0; hop < 20; hop += 1) await Promise.resolve();
      expect(stringify.mock.calls.length).toBe(told);
      await new Promise((resolve) => setImmediate(resolve));
      expect(stringify.mock.calls.length).toBeGreaterThan(told);
    } finally {
      stringify.mockRestore();
    }
    await recorder.flush();
    expect(keyframesIn(store.appended.at(-1))).toBe(1);

    // A flush in the very turn of the delta weighs it first.
    clock.advance(1000);
    collector.set(mesh(4, clock.now()));
    await recorder.flush();
    expect(keyframesIn(store.appended.at(-1))).toBe(1);
    const stored = await store.stateAt('c1', clock.now());
    expect(rebuildStateAt(stored!.keyframe, stored!.deltas)).toEqual(collector.current);
    await recorder.stop();
  });

  it('drops the oldest rows past its bound, keeps the rebuild consistent and tells the gap', async () => {
    const { recorder, clock, collector, store } = setup(new FlakyStore(), { maxQueuedRows: 6 });
    recorder.start();
    await recorder.flush();
    const written = clock.now();
    store.failing = true;
    for (let step = 1; step <= 12; step += 1) {
      clock.advance(1000);
      collector.set(mesh(2 + (step % 4), clock.now()));
      await recorder.flush();
    }
    expect(recorder.status()).toMatchObject({ state: 'error', reason: /oldest rows are dropped/ });
    store.failing = false;
    clock.advance(1000);
    collector.set(mesh(8, clock.now()));
    await recorder.flush();
    await recorder.flush();
    expect(recorder.status()).toEqual({ state: 'ok' });
    // Every moment the store answers for rebuilds a state that was live (never a mix).
    const lived = [mesh(2, 0), ...[1, 2, 3, 4, 5, 8].map((count) => mesh(count, 0))].map((state) =>
      state.members.map((member) => member.key),
    );
    for (let at = written; at <= clock.now(); at += 500) {
      const stored = await store.stateAt('c1', at);
      const rebuilt = rebuildStateAt(stored!.keyframe, stored!.deltas);
      expect(lived).toContainEqual(rebuilt.members.map((member) => member.key));
      expect(rebuilt.partitions).toEqual([rebuilt.members.map((member) => member.node)]);
    }
    const gaps = (await store.timeline('c1', { limit: 10, kinds: ['observation_gap'] })).events;
    expect(gaps).toHaveLength(1);
    expect(gaps[0]!.event.gap!.from).toBeGreaterThanOrEqual(written);
    await recorder.stop();
  });

  it('writes nothing for a cluster another replica records', async () => {
    const store = new FlakyStore();
    store.writer = false;
    const { recorder, clock, collector } = setup(store);
    recorder.start();
    clock.advance(1000);
    collector.set(mesh(3, clock.now()));
    await recorder.flush();
    expect(store.appended).toEqual([]);
    store.writer = true;
    clock.advance(1000);
    await recorder.flush();
    // Taking over starts with a keyframe, never with deltas that lack one.
    expect(store.appended[0]!.keyframes).toHaveLength(1);
    expect((await store.stateAt('c1', clock.now()))!.keyframe.state.members).toHaveLength(3);
    await recorder.stop();
  });

  it('records each node point as the collector records it', async () => {
    const { recorder, collector, store, clock } = setup();
    recorder.start();
    const point = { at: clock.now(), processCount: 10, registeredNames: 2, memoryBytes: 99 };
    collector.point(n(1), point);
    await recorder.flush();
    expect(await store.nodeSeries('c1', n(1), 0, clock.now())).toEqual([point]);
    await recorder.stop();
  });
});

describe('HistoryRecorder.stop', () => {
  it('gives up on a store that never answers instead of holding the stop', async () => {
    const store = new FlakyStore();
    const { recorder } = setup(store);
    recorder.start();
    store.append = () => new Promise(() => {});
    await recorder.stop(50);
    expect(store.appended).toEqual([]);
  });
});
