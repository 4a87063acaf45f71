import { describe, expect, it } from 'vitest';

import { SandboxCluster } from '@/server/sandbox/kube-api/cluster';
import type { PodInfo, PodRuntime } from '@/server/sandbox/kube-api/cluster/sandbox-control';
import { ObjectStore } from '@/server/sandbox/kube-api/store';

/** A PodRuntime whose containers start at once and whose calls are recorded. */
class RecordingRuntime implements PodRuntime {
  readonly calls: string[] = [];
  starts = 0;
  /** Pending stops, resolved by the test (a node taking its time to stop). */
  readonly stopping: Array<() => void> = [];

  start(pod: PodInfo): Promise<void> {
    this.starts += 1;
    this.calls.push(`start ${pod.name}`);
    return Promise.resolve();
  }
  stop(pod: PodInfo): Promise<void> {
    this.calls.push(`stop ${pod.name}`);
    return new Promise((resolve) => this.stopping.push(resolve));
  }
  kill(podName: string): void {
    this.calls.push(`kill ${podName}`);
  }
  partition(sides: string[][]): Promise<void> {
    this.calls.push(`partition ${sides.map((side) => side.join(',')).join('/')}`);
    return Promise.resolve();
  }
  heal(): Promise<void> {
    this.calls.push('heal');
    return Promise.resolve();
  }
  miscookie(podName: string, restore = false): Promise<void> {
    this.calls.push(`miscookie ${podName}${restore ? ' restore' : ''}`);
    return Promise.resolve();
  }
  flood(fromPod: string, toPod: string, seconds: number): Promise<void> {
    this.calls.push(`flood ${fromPod}>${toPod} ${seconds}`);
    return Promise.resolve();
  }
  setTicktime(podName: string, seconds: number): Promise<void> {
    this.calls.push(`ticktime ${podName} ${seconds}`);
    return Promise.resolve();
  }
}

function sandbox(podRuntime?: PodRuntime) {
  const store = new ObjectStore();
  const cluster = new SandboxCluster(store, {
    namespace: 'default',
    service: { name: 'myapp', labels: { app: 'myapp' }, selector: { app: 'myapp' } },
    readyDelayMs: 10,
    terminationGraceMs: 2_000,
    restartBackoffMs: 50,
    podRuntime,
    onDropWatches: () => {},
  });
  return { store, cluster };
}

async function until<T>(probe: () => T | undefined | false, what: string): Promise<T> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

type ContainerStatus = {
  restartCount: number;
  ready: boolean;
  started: boolean;
  state: Record<string, { reason?: string }>;
  lastState?: { terminated?: { exitCode: number; reason: string; message?: string } };
};
const containerStatus = (store: ObjectStore, name: string) =>
  (store.get('pods', 'default', name)?.status as { containerStatuses: ContainerStatus[] })
    .containerStatuses[0]!;
const reasons = (store: ObjectStore, name: string) =>
  store
    .list('events')
    .filter((event) => (event.involvedObject as { name: string }).name === name)
    .map((event) => event.reason as string);

describe('a crashed container (the emulated kubelet)', () => {
  it('turns the pod unready, backs off, restarts it and counts the restart', async () => {
    const runtime = new RecordingRuntime();
    const { store, cluster } = sandbox(runtime);
    const pod = await cluster.createPod();
    await until(() => cluster.pods()[0]?.ready, 'ready');
    expect(containerStatus(store, pod.name).restartCount).toBe(0);

    cluster.containerExited(pod.name, { signal: 'SIGKILL' });
    expect(cluster.pods()[0]!.ready).toBe(false);
    const waiting = containerStatus(store, pod.name);
    expect(waiting).toMatchObject({
      restartCount: 1,
      started: false,
      state: { waiting: { reason: 'CrashLoopBackOff' } },
      lastState: { terminated: { exitCode: 137, reason: 'Error' } },
    });
    expect(reasons(store, pod.name).at(-1)).toBe('BackOff');
    // The endpoint goes unready with the pod, so the peers drop the node.
    const endpoint = () =>
      (store.list('endpointslices')[0]!.endpoints as Array<{ conditions: { ready: boolean } }>)[0]!;
    await until(() => !endpoint().conditions.ready, 'unready endpoint');

    await until(() => cluster.pods()[0]?.ready, 'ready again');
    expect(runtime.starts).toBe(2);
    expect(containerStatus(store, pod.name)).toMatchObject({
      restartCount: 1,
      started: true,
      ready: true,
    });
    expect(containerStatus(store, pod.name).state.running).toBeDefined();
    // The recorder folds a repeated event into the first one: Started now counts 2.
    const started = store
      .list('events')
      .find(
        (event) =>
          (event.involvedObject as { name: string }).name === pod.name &&
          event.reason === 'Started',
      );
    expect(started?.count).toBe(2);
    expect(reasons(store, pod.name)).toEqual(
      expect.arrayContaining(['Scheduled', 'Started', 'BackOff']),
    );
    await until(() => endpoint().conditions.ready, 'ready endpoint');

    // A second crash counts again; a crash of a deleted pod does nothing.
    cluster.containerExited(pod.name, { code: 1 });
    await until(() => cluster.pods()[0]?.ready, 'ready after the second crash');
    expect(containerStatus(store, pod.name).restartCount).toBe(2);
    cluster.deletePod(pod.name);
    cluster.containerExited(pod.name, { code: 1 });
    expect(containerStatus(store, pod.name).restartCount).toBe(2);
  });

  it('deletes a terminating pod as soon as its container has stopped', async () => {
    const runtime = new RecordingRuntime();
    const { cluster, store } = sandbox(runtime);
    await cluster.scale(2);
    await until(() => cluster.pods().every((pod) => pod.ready), 'ready');
    await cluster.scale(1);
    expect(cluster.pods().filter((pod) => pod.terminating)).toHaveLength(1);
    expect(
      reasons(store, runtime.calls.find((call) => call.startsWith('stop'))!.slice(5)),
    ).toContain('Killing');
    runtime.stopping[0]!();
    await until(() => cluster.pods().length === 1, 'the stopped pod to be gone');
  });
});

describe('an OOM kill (the kernel, then the emulated kubelet)', () => {
  it('kills the container through the runtime and records OOMKilled, exit code 137, restart+1', async () => {
    const runtime = new RecordingRuntime();
    const { store, cluster } = sandbox(runtime);
    const pod = await cluster.createPod();
    await until(() => containerStatus(store, pod.name).ready, 'the pod to be ready');
    await cluster.oomKillPod(pod.ip);
    expect(runtime.calls).toContain(`kill ${pod.name}`);
    // The runtime reports the SIGKILL'd process as it exits.
    cluster.containerExited(pod.name, { signal: 'SIGKILL' });
    const status = containerStatus(store, pod.name);
    expect(status.restartCount).toBe(1);
    expect(status.state.waiting?.reason).toBe('CrashLoopBackOff');
    expect(status.lastState?.terminated).toMatchObject({ reason: 'OOMKilled', exitCode: 137 });
    // A real kubelet gives an OOM kill no message.
    expect(status.lastState?.terminated).not.toHaveProperty('message');
    expect(reasons(store, pod.name).at(-1)).toBe('BackOff');
    await until(() => containerStatus(store, pod.name).ready, 'the restarted pod to be ready');
    // The next crash is an ordinary one again.
    cluster.containerExited(pod.name, { code: 1 });
    expect(containerStatus(store, pod.name).lastState?.terminated).toMatchObject({
      reason: 'Error',
      exitCode: 1,
    });
  });

  it('with pods that run nothing, the exit is recorded at once; only a running container can be killed', async () => {
    const { store, cluster } = sandbox();
    const pod = await cluster.createPod();
    await until(() => containerStatus(store, pod.name).ready, 'the pod to be ready');
    await cluster.oomKillPod(pod.name);
    expect(containerStatus(store, pod.name).lastState?.terminated?.reason).toBe('OOMKilled');
    // In its back-off there is no container to kill.
    await expect(cluster.oomKillPod(pod.name)).rejects.toMatchObject({ code: 'pod_not_running' });
    await expect(cluster.oomKillPod('no-such-pod')).rejects.toMatchObject({
      code: 'pod_not_found',
    });
  });
});

describe('the runtime-backed controls', () => {
  it('resolve pods by name or IP and pass them on to the PodRuntime', async () => {
    const runtime = new RecordingRuntime();
    const { cluster } = sandbox(runtime);
    await cluster.scale(3);
    const [a, b, c] = cluster.pods().sort((x, y) => x.ip.localeCompare(y.ip));
    expect((await cluster.killPod(a!.ip)).name).toBe(a!.name);
    expect(await cluster.partition([[a!.name, b!.ip], [c!.ip]])).toEqual([
      [a!.name, b!.name],
      [c!.name],
    ]);
    await cluster.heal();
    await cluster.miscookie(c!.name);
    await cluster.miscookie(c!.ip, true);
    expect(runtime.calls.filter((call) => !call.startsWith('start'))).toEqual([
      `kill ${a!.name}`,
      `partition ${a!.name},${b!.name}/${c!.name}`,
      'heal',
      `miscookie ${c!.name}`,
      `miscookie ${c!.name} restore`,
    ]);
    await expect(cluster.killPod('127.9.9.9')).rejects.toMatchObject({ code: 'pod_not_found' });
    await expect(cluster.partition([[a!.name]])).rejects.toMatchObject({
      code: 'invalid_partition',
    });
    await expect(cluster.partition([[a!.name], [a!.ip]])).rejects.toMatchObject({
      code: 'invalid_partition',
    });
    const status = await cluster.status();
    expect(status.pods.map((pod) => pod.restartCount)).toEqual([0, 0, 0]);

    // Flood and tick time go to the runtime by pod name, bounded, never a pod to itself.
    runtime.calls.length = 0;
    expect(await cluster.flood(a!.ip, b!.name, 30)).toEqual({ from: a!.name, to: b!.name });
    await cluster.flood(a!.name, '', 0);
    await cluster.setTicktime(c!.ip, 90);
    expect(runtime.calls).toEqual([
      `flood ${a!.name}>${b!.name} 30`,
      `flood ${a!.name}> 0`,
      `ticktime ${c!.name} 90`,
    ]);
    await expect(cluster.flood(a!.name, a!.ip, 30)).rejects.toMatchObject({ code: 'bad_request' });
    await expect(cluster.flood(a!.name, b!.name, 1.5)).rejects.toMatchObject({
      code: 'bad_request',
    });
    await expect(cluster.setTicktime(c!.name, 2)).rejects.toMatchObject({ code: 'bad_request' });
    await expect(cluster.flood(a!.name, 'nobody', 30)).rejects.toMatchObject({
      code: 'pod_not_found',
    });
  });

  it('answer not_supported when the pods run nothing', async () => {
    const { cluster } = sandbox();
    const pod = await cluster.createPod();
    await expect(cluster.killPod(pod.name)).rejects.toMatchObject({ code: 'not_supported' });
    await expect(cluster.heal()).rejects.toMatchObject({ code: 'not_supported' });
  });
});
