import { describe, expect, it } from 'vitest';

import { SandboxCluster } from '@/server/sandbox/kube-api/cluster';
import { truncateEndpoints } from '@/server/sandbox/kube-api/cluster/endpoints';
import type { PodInfo, PodRuntime } from '@/server/sandbox/kube-api/cluster/sandbox-control';
import type { StoredObject } from '@/server/sandbox/kube-api/models';
import { ObjectStore } from '@/server/sandbox/kube-api/store';

type Endpoint = {
  addresses: string[];
  conditions: { ready: boolean; serving: boolean; terminating: boolean };
};
type Address = { ip: string };

function sandbox(
  options: { maxEndpointsPerSlice?: number; podRuntime?: PodRuntime; readyDelayMs?: number } = {},
) {
  const store = new ObjectStore();
  const cluster = new SandboxCluster(store, {
    namespace: 'default',
    service: { name: 'myapp', labels: { app: 'myapp' }, selector: { app: 'myapp' } },
    readyDelayMs: options.readyDelayMs ?? 20,
    terminationGraceMs: 150,
    maxEndpointsPerSlice: options.maxEndpointsPerSlice,
    podRuntime: options.podRuntime,
    onDropWatches: () => {},
  });
  return { store, cluster };
}

async function until<T>(
  probe: () => T | undefined | false,
  what: string,
  timeoutMs = 3000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const slices = (store: ObjectStore) => store.list('endpointslices');
const endpointsOf = (slice: StoredObject) => (slice.endpoints as Endpoint[] | null) ?? [];
const allEndpoints = (store: ObjectStore) => slices(store).flatMap(endpointsOf);
const subset = (store: ObjectStore) =>
  (
    store.get('endpoints', 'default', 'myapp')?.subsets as
      Array<{ addresses?: Address[]; notReadyAddresses?: Address[] }> | undefined
  )?.[0];

describe('the EndpointSlice and Endpoints controllers', () => {
  it('keep one placeholder slice, with null endpoints, for a service without pods', () => {
    const { store } = sandbox();
    expect(slices(store)).toHaveLength(1);
    expect(slices(store)[0]!.endpoints).toBeNull();
    expect(store.get('endpoints', 'default', 'myapp')?.subsets).toBeUndefined();
  });

  it('spread endpoints over slices of at most maxEndpointsPerSlice, labelled for the service', async () => {
    const { store, cluster } = sandbox({ maxEndpointsPerSlice: 2 });
    await cluster.scale(5);
    await until(
      () => allEndpoints(store).filter((endpoint) => endpoint.conditions.ready).length === 5,
      '5 ready',
    );
    expect(slices(store)).toHaveLength(3);
    for (const slice of slices(store)) {
      expect(endpointsOf(slice).length).toBeLessThanOrEqual(2);
      expect(slice.metadata.labels).toMatchObject({
        app: 'myapp',
        'kubernetes.io/service-name': 'myapp',
        'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io',
      });
      expect(slice.metadata.ownerReferences).toMatchObject([{ kind: 'Service', name: 'myapp' }]);
    }
    const addresses = allEndpoints(store)
      .flatMap((endpoint) => endpoint.addresses)
      .sort();
    expect(addresses).toEqual([
      '10.244.0.2',
      '10.244.0.3',
      '10.244.0.4',
      '10.244.0.5',
      '10.244.0.6',
    ]);
    // The Endpoints controller reconciles in a turn of its own, after the slices'.
    await until(() => subset(store)?.addresses?.length === 5, '5 addresses in the Endpoints');
    expect(subset(store)?.addresses?.map((address) => address.ip)).toEqual(addresses);

    // Scaling down empties slices, which are deleted; the rest stay within the limit.
    await cluster.scale(1);
    await until(
      () => allEndpoints(store).length === 1 && slices(store).length === 1,
      'one slice left',
    );
  });

  it('mark a deleted pod terminating (ready false, serving true) until its grace period ends', async () => {
    const { store, cluster } = sandbox();
    const pod = await cluster.createPod();
    await until(() => cluster.pods()[0]?.ready, 'pod ready');
    cluster.deletePod(pod.name);
    await until(() => allEndpoints(store)[0]?.conditions.terminating, 'terminating endpoint');
    expect(allEndpoints(store)[0]!.conditions).toEqual({
      ready: false,
      serving: true,
      terminating: true,
    });
    expect(cluster.pods()[0]).toMatchObject({ terminating: true });
    expect(store.get('pods', 'default', pod.name)?.metadata.deletionTimestamp).toBeDefined();
    await until(() => subset(store) === undefined, 'pod out of Endpoints');
    await until(() => cluster.pods().length === 0 && allEndpoints(store).length === 0, 'pod gone');
    const reasons = store.list('events').map((event) => event.reason);
    expect(reasons).toEqual(expect.arrayContaining(['Scheduled', 'Started', 'Killing']));
    // The freed address goes to the next pod.
    expect((await cluster.createPod()).ip).toBe(pod.ip);
  });

  it('move an unready pod to notReadyAddresses and record Unhealthy', async () => {
    const { store, cluster } = sandbox();
    await cluster.scale(2);
    await until(() => subset(store)?.addresses?.length === 2, 'two ready addresses');
    const [first] = cluster.pods();
    cluster.setPodReady(first!.name, false);
    await until(() => subset(store)?.notReadyAddresses?.length === 1, 'one not-ready address');
    expect(subset(store)?.notReadyAddresses?.[0]?.ip).toBe(first!.ip);
    const endpoint = allEndpoints(store).find((candidate) => candidate.addresses[0] === first!.ip);
    expect(endpoint?.conditions).toEqual({ ready: false, serving: false, terminating: false });
    const unhealthy = store.list('events').find((event) => event.reason === 'Unhealthy');
    expect(unhealthy).toMatchObject({
      type: 'Warning',
      involvedObject: { kind: 'Pod', name: first!.name },
    });
    expect(
      store.list('events').find((event) => event.reason === 'ScalingReplicaSet')?.message,
    ).toMatch(/^Scaled up replica set myapp-\w+ from 0 to 2$/);
  });

  it('make a pod Ready when the PodRuntime has started it, and stop it on delete', async () => {
    const started: PodInfo[] = [];
    const stopped: string[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { cluster } = sandbox({
      readyDelayMs: 0,
      podRuntime: {
        start: async (pod) => {
          started.push(pod);
          await gate;
        },
        stop: async (pod) => {
          stopped.push(pod.name);
        },
      },
    });
    const pod = await cluster.createPod();
    await until(() => started.length === 1, 'runtime started');
    expect(started[0]).toMatchObject({ name: pod.name, ip: '10.244.0.2', phase: 'Running' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(cluster.pods()[0]!.ready).toBe(false);
    release();
    await until(() => cluster.pods()[0]?.ready, 'ready after start');
    cluster.deletePod(pod.name);
    expect(stopped).toEqual([pod.name]);
  });
});

describe('the Endpoints controller at 1,000 addresses, as kubernetes truncateEndpoints', () => {
  const addresses = (from: number, count: number) =>
    Array.from({ length: count }, (_, index) => ({
      ip: `10.1.${Math.floor((from + index) / 250)}.${(from + index) % 250}`,
    }));
  const ports = [{ name: 'dist', port: 9100, protocol: 'TCP' }];

  it('leaves 1,000 addresses alone', () => {
    const subsets = [
      { addresses: addresses(0, 900), notReadyAddresses: addresses(900, 100), ports },
    ];
    expect(truncateEndpoints(subsets)).toEqual({ subsets, truncated: false });
  });

  it('cuts not-ready addresses first', () => {
    const { subsets, truncated } = truncateEndpoints([
      { addresses: addresses(0, 900), notReadyAddresses: addresses(900, 300), ports },
    ]);
    expect(truncated).toBe(true);
    expect(subsets[0]!.addresses).toHaveLength(900);
    expect(subsets[0]!.notReadyAddresses).toEqual(addresses(900, 100));
    expect(subsets[0]!.ports).toEqual(ports);
  });

  it('over 1,000 ready: each subset keeps its share of them, rounded up, and no not-ready one', () => {
    const { subsets, truncated } = truncateEndpoints([
      { addresses: addresses(0, 900), notReadyAddresses: addresses(2000, 5), ports },
      { addresses: addresses(900, 600), ports },
    ]);
    expect(truncated).toBe(true);
    // 900 / 1500 of 1,000 = 600; the second takes the 400 left (its share, 400, fits).
    expect(subsets.map((subset) => subset.addresses?.length)).toEqual([600, 400]);
    expect(subsets[0]!.addresses).toEqual(addresses(0, 600));
    expect(subsets.every((subset) => subset.notReadyAddresses === undefined)).toBe(true);
  });
});
