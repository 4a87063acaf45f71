import { afterEach, describe, expect, it } from 'vitest';

import { startEmulatedApi, type EmulatedApi } from '@/server/sandbox/kube-api';

// The emulated cluster's mass events: a rolling restart and a Kubernetes node lost with its pods.

let api: EmulatedApi | undefined;
afterEach(async () => {
  await api?.stop();
  api = undefined;
});

const live = (emulated: EmulatedApi) => emulated.control.pods().filter((pod) => !pod.terminating);

describe('the emulated cluster', () => {
  it('restarts every pod in a rollout, a quarter at a time, never below the replicas Ready', async () => {
    api = await startEmulatedApi({ readyDelayMs: 30, terminationGraceMs: 100 });
    const emulated = api;
    await emulated.control.scale(8);
    await expect.poll(() => live(emulated).every((pod) => pod.ready)).toBe(true);
    const before = new Set(live(emulated).map((pod) => pod.name));
    let fewestReady = Infinity;
    const watch = setInterval(() => {
      fewestReady = Math.min(fewestReady, live(emulated).filter((pod) => pod.ready).length);
    }, 5);
    try {
      await emulated.control.rolloutRestart();
    } finally {
      clearInterval(watch);
    }
    await expect.poll(() => emulated.control.pods().length, { timeout: 5000 }).toBe(8);
    const after = live(emulated);
    expect(after.every((pod) => !before.has(pod.name))).toBe(true);
    expect(new Set(after.map((pod) => pod.name.split('-').at(-2))).size).toBe(1);
    expect(fewestReady).toBeGreaterThanOrEqual(8);
  });

  it('loses a node with its pods at once and replaces them on the other nodes', async () => {
    api = await startEmulatedApi({ readyDelayMs: 30, terminationGraceMs: 100 });
    const emulated = api;
    await emulated.control.scale(6);
    const onNode = live(emulated).filter((pod) => pod.nodeName === 'sandbox-node-1');
    expect(onNode.length).toBeGreaterThan(0);
    const lost = await emulated.control.loseNode('sandbox-node-1');
    expect(lost.sort()).toEqual(onNode.map((pod) => pod.name).sort());
    const now = live(emulated);
    expect(now).toHaveLength(6);
    expect(now.some((pod) => pod.nodeName === 'sandbox-node-1')).toBe(false);
    expect(now.some((pod) => lost.includes(pod.name))).toBe(false);
    emulated.control.restoreNode('sandbox-node-1');
  });
});
