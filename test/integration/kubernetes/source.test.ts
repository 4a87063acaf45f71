import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';

import type { KubernetesEvent, KubernetesMember, KubernetesSourceStatus } from '@/lib/members';
import type { ClusterConfig } from '@/server/config';
import { KubernetesSource } from '@/server/kubernetes';
import { loadKubeConfig } from '@/server/kubernetes/kubeconfig';
import { RESOURCE_KINDS, ResourceWatcher } from '@/server/kubernetes/watcher';
import {
  startEmulatedApi,
  type EmulatedApi,
  type EmulatedApiOptions,
} from '@/server/sandbox/kube-api';

import {
  assertThat,
  eventually,
  FAST_BACKOFF,
  sandboxCluster,
  scratchDir,
  startRecordingProxy,
  writeKubeconfig,
  type RecordingProxy,
} from './support';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  api: EmulatedApi;
  kubeconfig: string;
  proxy?: RecordingProxy;
}

/** An emulated API (optionally behind a recording proxy) and a kubeconfig for it. */
async function setup(options: EmulatedApiOptions = {}, withProxy = false): Promise<Setup> {
  const api = await startEmulatedApi({ readyDelayMs: 100, terminationGraceMs: 300, ...options });
  cleanups.push(() => api.stop());
  const scratch = await scratchDir();
  cleanups.push(scratch.remove);
  let proxy: RecordingProxy | undefined;
  if (withProxy) {
    proxy = await startRecordingProxy(api.url);
    cleanups.push(() => proxy!.close());
  }
  const kubeconfig = await writeKubeconfig(scratch.dir, { ...api, url: proxy?.url ?? api.url });
  return { api, kubeconfig, ...(proxy ? { proxy } : {}) };
}

interface Recorded {
  source: KubernetesSource;
  emissions: KubernetesMember[][];
  statuses: KubernetesSourceStatus[];
  events: KubernetesEvent[];
}

function startSource(cluster: ClusterConfig, watchEvents = false): Recorded {
  const source = new KubernetesSource(cluster, { backoff: FAST_BACKOFF, watchEvents });
  const recorded: Recorded = { source, emissions: [], statuses: [], events: [] };
  source.on('members', (members) => recorded.emissions.push(members));
  source.on('status', (status) => recorded.statuses.push(status));
  source.on('event', (event) => recorded.events.push(event));
  cleanups.push(() => source.stop());
  source.start();
  return recorded;
}

const names = (members: readonly KubernetesMember[]) => members.map((member) => member.beamNode);

describe('KubernetesSource against the emulated API', () => {
  it('follows a pod added, made unready and deleted (EndpointSlices)', async () => {
    const { api, kubeconfig } = await setup();
    const first = await api.control.createPod();
    const { source, emissions } = startSource(sandboxCluster(kubeconfig));
    await source.waitForSync(5000);
    // Listed is synced; ok once the server has accepted the watches too.
    await eventually(() => expect(source.status().state).toBe('ok'));

    await eventually(() => {
      expect(source.members()).toMatchObject([
        {
          beamNode: `myapp@${first.ip}`,
          podName: first.name,
          ready: true,
          phase: 'Running',
          restarts: 0,
        },
      ]);
    });

    const second = await api.control.createPod();
    await eventually(() =>
      expect(names(source.members())).toEqual([`myapp@${first.ip}`, `myapp@${second.ip}`]),
    );
    await eventually(() => expect(source.members().every((member) => member.ready)).toBe(true));
    const added = source.members()[1]!;
    expect(added).toMatchObject({
      podName: second.name,
      podUid: second.uid,
      k8sNode: second.nodeName,
      source: { kind: 'EndpointSlice' },
    });
    expect(added.startTime).toMatch(/^\d{4}-\d\d-\d\dT/);

    api.control.setPodReady(second.name, false);
    await eventually(() =>
      expect(source.members()[1]).toMatchObject({ ready: false, terminating: false }),
    );

    api.control.deletePod(first.name);
    await eventually(() =>
      expect(source.members()[0]).toMatchObject({
        podName: first.name,
        terminating: true,
        ready: false,
      }),
    );
    await eventually(() => expect(names(source.members())).toEqual([`myapp@${second.ip}`]));

    // Emitted on change only: no two consecutive emissions say the same thing.
    for (let index = 1; index < emissions.length; index += 1) {
      expect(JSON.stringify(emissions[index])).not.toBe(JSON.stringify(emissions[index - 1]));
    }
  });

  it('keeps listed and watched objects without their managedFields (never read, 10 MB at 1,000 pods)', async () => {
    const { api, kubeconfig } = await setup();
    await api.control.createPod();
    const cluster = sandboxCluster(kubeconfig);
    const { kubeConfig, namespace, server } = loadKubeConfig(cluster);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    // The emulated API sends them, as a real one does.
    const listed = await core.listNamespacedPod({ namespace });
    expect(listed.items[0]?.metadata?.managedFields?.length).toBeGreaterThan(0);
    const watcher = new ResourceWatcher<V1Pod>({
      kubeConfig,
      kind: RESOURCE_KINDS.pods,
      namespace,
      server,
      backoff: FAST_BACKOFF,
      list: () => core.listNamespacedPod({ namespace }),
      onChange: () => undefined,
      onState: () => undefined,
    });
    cleanups.push(() => watcher.stop());
    watcher.start();
    await eventually(() => expect(watcher.objects()).toHaveLength(1));
    const added = await api.control.createPod();
    await eventually(() => expect(watcher.objects()).toHaveLength(2));
    for (const pod of watcher.objects()) {
      expect(pod.metadata?.name).toBeTruthy();
      expect(pod.metadata?.managedFields).toBeUndefined();
    }
    expect(watcher.objects().map((pod) => pod.metadata?.name)).toContain(added.name);
  });

  it('merges every EndpointSlice of the service', async () => {
    const { api, kubeconfig } = await setup({ maxEndpointsPerSlice: 2 });
    await api.control.scale(5);
    const { source } = startSource(sandboxCluster(kubeconfig));
    await source.waitForSync(5000);
    const expected = api.control
      .pods()
      .map((pod) => `myapp@${pod.ip}`)
      .sort();
    await eventually(() => {
      const members = source.members();
      expect(names(members).sort()).toEqual(expected);
      expect(new Set(members.map((member) => member.source.name)).size).toBeGreaterThanOrEqual(3);
    });
  });

  it.each([
    ['endpoints', { mode: 'endpoints', selector: 'app=myapp' }, 'Endpoints'],
    ['pods', { mode: 'pods', selector: 'app=myapp' }, 'Pod'],
  ] as const)('discovers through %s', async (_mode, discovery, kind) => {
    const { api, kubeconfig } = await setup();
    await api.control.scale(2);
    const { source } = startSource(sandboxCluster(kubeconfig, { discovery: { ...discovery } }));
    await source.waitForSync(5000);
    await eventually(() => {
      const members = source.members();
      expect(names(members).sort()).toEqual(
        api.control
          .pods()
          .map((pod) => `myapp@${pod.ip}`)
          .sort(),
      );
      expect(members.every((member) => member.ready && member.source.kind === kind)).toBe(true);
    });
  });

  it('names nodes in dns mode from the namespace', async () => {
    const { api, kubeconfig } = await setup();
    const pod = await api.control.createPod();
    const { source } = startSource(
      sandboxCluster(kubeconfig, { nodeNaming: { mode: 'dns', basename: 'myapp' } }),
    );
    await source.waitForSync(5000);
    await eventually(() =>
      expect(names(source.members())).toEqual([
        `myapp@${pod.ip.replaceAll('.', '-')}.default.pod.cluster.local`,
      ]),
    );
  });

  it('after compaction and a cut watch, gets 410 and re-lists without losing or duplicating a member', async () => {
    const { api, kubeconfig, proxy } = await setup({}, true);
    await api.control.scale(3);
    const { source, statuses } = startSource(sandboxCluster(kubeconfig));
    await source.waitForSync(5000);
    await eventually(() =>
      assertThat(source.members().filter((member) => member.ready).length === 3, 'three ready'),
    );
    const listsBefore = proxy!.requests.filter((request) => !request.includes('watch=true')).length;

    api.control.compact();
    api.control.dropWatches();
    const added = await api.control.createPod();

    const expected = [...api.control.pods().map((pod) => `myapp@${pod.ip}`)].sort();
    await eventually(() => {
      expect(names(source.members()).sort()).toEqual(expected);
      expect(source.members().find((member) => member.podName === added.name)?.ready).toBe(true);
    });
    // The informer resumed from its resourceVersion, got 410 Gone and listed again.
    const listsAfter = proxy!.requests.filter((request) => !request.includes('watch=true')).length;
    expect(listsAfter).toBeGreaterThan(listsBefore);
    expect(new Set(names(source.members())).size).toBe(source.members().length);
    // A routine cut is not an error.
    expect(statuses.filter((status) => status.state === 'error')).toEqual([]);
  });

  it('reports the API server going away and recovers when it is back', async () => {
    const { api, kubeconfig } = await setup();
    await api.control.scale(2);
    const { source } = startSource(sandboxCluster(kubeconfig));
    await source.waitForSync(5000);
    await eventually(() => expect(source.members()).toHaveLength(2));

    await api.stop();
    await eventually(() => {
      const status = source.status();
      expect(status).toMatchObject({ state: 'error', code: 'unreachable' });
      expect(status.state === 'error' && status.reason).toContain('connection refused');
    });
    // The last known members stay while the link is down.
    expect(source.members()).toHaveLength(2);

    await api.start();
    await eventually(() => expect(source.status().state).toBe('ok'));
    await api.control.scale(3);
    await eventually(() => expect(source.members()).toHaveLength(3));
  });

  it('names the missing RBAC rule on 403 and recovers when it is granted', async () => {
    const { api, kubeconfig } = await setup();
    await api.control.scale(1);
    const { source } = startSource(sandboxCluster(kubeconfig));
    await source.waitForSync(5000);

    api.control.setForbidden('endpointslices', true);
    api.control.dropWatches();
    await eventually(() => {
      const status = source.status();
      expect(status).toMatchObject({ state: 'error', code: 'rbac_forbidden' });
      expect(status.state === 'error' && status.reason).toBe(
        'RBAC forbids user "system:serviceaccount:default:beamscope" to list endpointslices (API group "discovery.k8s.io") in namespace "default": grant a Role with get, list and watch on endpointslices in API group "discovery.k8s.io"',
      );
    });
    expect(source.resources().find((resource) => resource.resource === 'pods')?.state).toBe('ok');

    api.control.setForbidden('endpointslices', false);
    await eventually(() => expect(source.status().state).toBe('ok'));
    await api.control.scale(2);
    await eventually(() => expect(source.members()).toHaveLength(2));
  });

  it('fails the initial sync with the RBAC message when pods are forbidden', async () => {
    const { api, kubeconfig } = await setup();
    api.control.setForbidden('pods', true);
    const { source } = startSource(sandboxCluster(kubeconfig));
    await expect(source.waitForSync(5000)).rejects.toThrow(
      'RBAC forbids user "system:serviceaccount:default:beamscope" to list pods (the core API group ("")) in namespace "default"',
    );
  });

  it('reports rejected credentials (401) and recovers', async () => {
    const { api, kubeconfig } = await setup();
    const { source } = startSource(sandboxCluster(kubeconfig));
    await source.waitForSync(5000);

    api.control.setTokenRejected(true);
    api.control.dropWatches();
    await eventually(() => {
      const status = source.status();
      expect(status).toMatchObject({ state: 'error', code: 'unauthorized' });
      expect(status.state === 'error' && status.reason).toContain(
        "the API server rejected beamscope's credentials",
      );
      expect(status.state === 'error' && status.reason).not.toContain(api.token);
    });
    api.control.setTokenRejected(false);
    await eventually(() => expect(source.status().state).toBe('ok'));
  });

  it('emits workload Events as they happen, not the ones already there', async () => {
    const { api, kubeconfig } = await setup();
    await api.control.scale(1);
    const { source, events } = startSource(sandboxCluster(kubeconfig), true);
    await source.waitForSync(5000);
    await eventually(() => expect(source.status().state).toBe('ok'));
    await eventually(() => expect(source.events().length).toBeGreaterThan(0));
    expect(events).toEqual([]);

    await api.control.scale(2);
    await eventually(() => {
      expect(events.map((event) => event.reason)).toContain('ScalingReplicaSet');
    });
    expect(events.every((event) => event.uid && event.lastTimestamp)).toBe(true);
  });

  it('stop() releases every watch', async () => {
    const { kubeconfig, proxy } = await setup({}, true);
    const { source } = startSource(sandboxCluster(kubeconfig), true);
    await source.waitForSync(5000);
    await eventually(() => expect(proxy!.openWatches()).toBe(3));
    await source.stop();
    await eventually(() => expect(proxy!.openWatches()).toBe(0));
  });
});
