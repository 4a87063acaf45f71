import { afterEach, describe, expect, it } from 'vitest';

import { probeConcurrency, ProbeScheduler } from '@/server/collector/scheduler';

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

describe('ProbeScheduler', () => {
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
