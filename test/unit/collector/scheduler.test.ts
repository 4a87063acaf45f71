import { afterEach, describe, expect, it } from 'vitest';

import {
  leastProbeConcurrency,
  nextProbeConcurrency,
  probeConcurrency,
  ProbeScheduler,
} from '@/server/collector/scheduler';

const schedulers: ProbeScheduler[] = [];

afterEach(() => {
  for (const scheduler of schedulers.splice(0)) scheduler.stop();
});

/** A scheduler whose probes wait until the test releases them. */
function setup(options: { concurrency?: number; due?: string[] } = {}) {
  const started: string[] = [];
  const release = new Map<string, () => void>();
  const scheduler = new ProbeScheduler({
    intervalMs: 60_000,
    concurrency: options.concurrency,
    due: () => options.due ?? [],
    clusterSize: () => 10,
    probe: (node) =>
      new Promise<void>((resolve) => {
        started.push(node);
        release.set(node, resolve);
      }),
  });
  scheduler.start();
  schedulers.push(scheduler);
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  return { scheduler, started, release, settle };
}

describe('probeConcurrency', () => {
  it('grows with the cluster from 4 to 64, unless fixed', () => {
    expect(probeConcurrency(1, undefined)).toBe(4);
    expect(probeConcurrency(160, undefined)).toBe(10);
    expect(probeConcurrency(5000, undefined)).toBe(64);
    expect(probeConcurrency(5000, 2)).toBe(2);
    expect(probeConcurrency(5000, 0)).toBe(1);
  });
});

describe('leastProbeConcurrency', () => {
  it('keeps one probe in flight per 64 nodes, from 4, never more than the most', () => {
    expect(leastProbeConcurrency(6)).toBe(4);
    expect(leastProbeConcurrency(1000)).toBe(16);
    expect(leastProbeConcurrency(2000)).toBe(32);
    expect(leastProbeConcurrency(10_000)).toBe(64);
  });
});

describe('nextProbeConcurrency', () => {
  const bounds = { least: 16, most: 64 };
  it('doubles when the last poll took over half the interval or is not done', () => {
    expect(nextProbeConcurrency(16, bounds, 1200, 2000)).toBe(32);
    expect(nextProbeConcurrency(16, bounds, null, 2000)).toBe(32);
    expect(nextProbeConcurrency(48, bounds, null, 2000)).toBe(64);
  });
  it('halves when it took a quarter of the interval or less, down to the least', () => {
    expect(nextProbeConcurrency(64, bounds, 250, 2000)).toBe(32);
    expect(nextProbeConcurrency(32, bounds, 500, 2000)).toBe(16);
    expect(nextProbeConcurrency(16, bounds, 10, 2000)).toBe(16);
  });
  it('keeps it in between', () => {
    expect(nextProbeConcurrency(32, bounds, 700, 2000)).toBe(32);
    expect(nextProbeConcurrency(8, bounds, 700, 2000)).toBe(16);
  });
});

describe('ProbeScheduler', () => {
  it('starts with the most in flight, then keeps as few as end a poll inside its interval', async () => {
    const nodes = Array.from({ length: 200 }, (_, index) => `n${index}@h`);
    let slow = false;
    const held: Array<() => void> = [];
    const scheduler = new ProbeScheduler({
      intervalMs: 200,
      concurrency: undefined,
      due: () => nodes,
      clusterSize: () => 1000,
      probe: () => (slow ? new Promise<void>((resolve) => held.push(resolve)) : Promise.resolve()),
    });
    schedulers.push(scheduler);
    scheduler.start();
    scheduler.enqueue('n0@h', true);
    expect(scheduler.inFlightBound).toBe(probeConcurrency(1000, undefined));
    const pollsFrom = async (from: number, until: (bound: number) => boolean) => {
      const deadline = Date.now() + 2000;
      const seen = [from];
      while (!until(scheduler.inFlightBound)) {
        if (Date.now() > deadline) throw new Error(`bounds seen: ${seen.join(', ')}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
        if (seen.at(-1) !== scheduler.inFlightBound) seen.push(scheduler.inFlightBound);
      }
      return seen;
    };
    // Polls whose probes end at once: halved at each, down to the least, one per 64 nodes.
    expect(await pollsFrom(63, (bound) => bound === 16)).toEqual([63, 32, 16]);
    // Nodes that stop answering hold their slots past the next poll: doubled again.
    slow = true;
    expect(await pollsFrom(16, (bound) => bound === 63)).toEqual([16, 32, 63]);
    for (const release of held) release();
  });

  it('runs a newly connected node ahead of the routine queue', async () => {
    const { scheduler, started, release, settle } = setup({ concurrency: 1 });
    scheduler.enqueue('a', false);
    scheduler.enqueue('b', false);
    scheduler.enqueue('c', true);
    await settle();
    expect(started).toEqual(['a']);
    release.get('a')!();
    await settle();
    expect(started).toEqual(['a', 'c']);
    release.get('c')!();
    await settle();
    expect(started).toEqual(['a', 'c', 'b']);
  });

  it('never queues a node that is queued or being probed', async () => {
    const { scheduler, started, release, settle } = setup({ concurrency: 1 });
    scheduler.enqueue('a', false);
    scheduler.enqueue('a', true);
    scheduler.enqueue('b', false);
    scheduler.enqueue('b', false);
    await settle();
    release.get('a')!();
    await settle();
    release.get('b')!();
    await settle();
    expect(started).toEqual(['a', 'b']);
    // Once done, a node can be probed again.
    scheduler.enqueue('a', false);
    await settle();
    expect(started).toEqual(['a', 'b', 'a']);
  });

  it('drops the queued probes when stopped, and takes no more', async () => {
    const { scheduler, started, release, settle } = setup({ concurrency: 1 });
    scheduler.enqueue('a', false);
    scheduler.enqueue('b', false);
    await settle();
    scheduler.stop();
    release.get('a')!();
    scheduler.enqueue('c', true);
    await settle();
    expect(started).toEqual(['a']);
  });
});
