import { afterEach, describe, expect, it } from 'vitest';

import type { KubernetesSourceStatus } from '@/lib/members';
import { KubernetesSource } from '@/server/kubernetes';
import { startEmulatedApi, type EmulatedApi } from '@/server/sandbox/kube-api';

import {
  eventually,
  FAST_BACKOFF,
  sandboxCluster,
  scratchDir,
  startRecordingProxy,
  writeKubeconfig,
  type RecordingProxy,
} from './support';

// Access that changes under a running source, as a real API server shows it: a Role that allows
// list but not watch, a watch's 403 that client-node reads without its body, a Role revoked
// while a watch is open (the server does not re-check an open watch), several rules missing.

const USER = 'system:serviceaccount:default:beamscope';
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An emulated API behind a recording proxy (which counts open watches) and a kubeconfig. */
async function setup(): Promise<{ api: EmulatedApi; kubeconfig: string; proxy: RecordingProxy }> {
  const api = await startEmulatedApi({ readyDelayMs: 100, terminationGraceMs: 300 });
  cleanups.push(() => api.stop());
  const proxy = await startRecordingProxy(api.url);
  cleanups.push(() => proxy.close());
  const scratch = await scratchDir();
  cleanups.push(scratch.remove);
  return { api, proxy, kubeconfig: await writeKubeconfig(scratch.dir, { ...api, url: proxy.url }) };
}

function startSource(kubeconfig: string) {
  const source = new KubernetesSource(sandboxCluster(kubeconfig), {
    backoff: FAST_BACKOFF,
    watchEvents: false,
  });
  const statuses: KubernetesSourceStatus[] = [];
  source.on('status', (status) => statuses.push(status));
  cleanups.push(() => source.stop());
  source.start();
  return { source, statuses };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('KubernetesSource when access changes', () => {
  it('holds the error while the watch is forbidden but the list allowed, and names the user', async () => {
    const { api, kubeconfig } = await setup();
    await api.control.scale(2);
    api.control.setForbidden('pods', true, ['watch']);
    const { source, statuses } = startSource(kubeconfig);
    await eventually(() => expect(source.status().state).toBe('error'), 10_000);
    // Retries re-list (allowed) and re-watch (refused) several times meanwhile.
    await sleep(3000);
    expect(statuses.filter((status) => status.state === 'ok')).toEqual([]);
    const errors = statuses.filter((status) => status.state === 'error');
    expect(errors).toHaveLength(1);
    const status = source.status();
    expect(status.state === 'error' && status.reason).toBe(
      `RBAC forbids user "${USER}" to watch pods (the core API group ("")) in namespace "default": grant a Role with get, list and watch on pods in the core API group (""); pods are listed on each retry but not followed, so they may be stale`,
    );
    // The listed members are there, marked as possibly stale by the error.
    expect(source.members()).toHaveLength(2);

    api.control.setForbidden('pods', false);
    await eventually(() => expect(source.status().state).toBe('ok'), 10_000);
    await api.control.scale(3);
    await eventually(() => expect(source.members()).toHaveLength(3));
  });

  it('shows a Role revoked while its watches are open within 5 s, and recovers', async () => {
    const { api, kubeconfig, proxy } = await setup();
    await api.control.scale(1);
    const { source } = startSource(kubeconfig);
    await source.waitForSync(5000);
    await eventually(() => expect(source.status().state).toBe('ok'));
    // Both watches (EndpointSlices, Pods) are open: the server authorized them as they started.
    await eventually(() => expect(proxy.openWatches()).toBe(2));

    // No watch is cut: the open ones stream on, as on a real API server.
    const revokedAt = Date.now();
    api.control.setForbidden('endpointslices', true);
    await eventually(() => {
      const status = source.status();
      expect(status).toMatchObject({ state: 'error', code: 'rbac_forbidden' });
      expect(status.state === 'error' && status.reason).toContain(
        `RBAC forbids user "${USER}" to list endpointslices (API group "discovery.k8s.io")`,
      );
    }, 5000);
    console.log(`revoked Role shown after ${Date.now() - revokedAt} ms`);

    api.control.setForbidden('endpointslices', false);
    await eventually(() => expect(source.status().state).toBe('ok'), 10_000);
  });

  it('names every missing rule, sorted, however the lists come back', async () => {
    const { api, kubeconfig } = await setup();
    api.control.setForbidden('pods', true);
    api.control.setForbidden('endpointslices', true);
    const messages = new Set<string>();
    for (let run = 0; run < 3; run += 1) {
      const { source } = startSource(kubeconfig);
      const error = await source.waitForSync(5000).then(
        () => null,
        (caught: Error) => caught,
      );
      messages.add(error?.message ?? 'synced');
      await source.stop();
    }
    expect([...messages]).toEqual([
      `RBAC forbids user "${USER}" to list endpointslices (API group "discovery.k8s.io") in namespace "default": grant a Role with get, list and watch on endpointslices in API group "discovery.k8s.io"; RBAC forbids user "${USER}" to list pods (the core API group ("")) in namespace "default": grant a Role with get, list and watch on pods in the core API group ("")`,
    ]);
  });
});
