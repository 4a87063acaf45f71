import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClusterConfig } from '@/server/config';
import { KubernetesSource } from '@/server/kubernetes';
import { SERVICE_ACCOUNT_DIR } from '@/server/kubernetes/kubeconfig';
import { generateCertificates } from '@/server/sandbox/certs';
import { startEmulatedApi, type EmulatedApi } from '@/server/sandbox/kube-api';

import { eventually, FAST_BACKOFF, scratchDir } from './support';

let api: EmulatedApi;
let scratch: Awaited<ReturnType<typeof scratchDir>>;
const sources: KubernetesSource[] = [];

/** A service account mount under `root`, as the kubelet lays it out. */
async function serviceAccount(root: string, caPem: string, token: string): Promise<void> {
  const dir = join(root, SERVICE_ACCOUNT_DIR);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'token'), token);
  await writeFile(join(dir, 'ca.crt'), caPem);
  await writeFile(join(dir, 'namespace'), 'default');
}

const inCluster: ClusterConfig = {
  id: 'in-cluster',
  displayName: 'In cluster',
  kubernetes: { inCluster: true },
  discovery: { mode: 'endpointSlices', service: 'myapp' },
  nodeNaming: { mode: 'ip', basename: 'myapp', service: 'myapp' },
  distribution: { cookieEnv: 'RELEASE_COOKIE' },
};

beforeAll(async () => {
  api = await startEmulatedApi({ tls: true, readyDelayMs: 50 });
  scratch = await scratchDir();
  await api.control.scale(2);
});

afterAll(async () => {
  await Promise.all(sources.map((source) => source.stop()));
  await api.stop();
  await scratch.remove();
});

function start(prefix: string): KubernetesSource {
  const port = new URL(api.url).port;
  const source = new KubernetesSource(inCluster, {
    // The environment a pod gets, through the seam rather than process.env.
    env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port },
    inClusterPathPrefix: prefix,
    backoff: FAST_BACKOFF,
    watchEvents: false,
  });
  sources.push(source);
  return source.start();
}

describe('in-cluster loading (loadFromCluster with a path prefix)', () => {
  it('lists members over HTTPS with the service account token and CA', async () => {
    const prefix = join(scratch.dir, 'pod-root');
    await serviceAccount(prefix, api.caPem!, api.token);
    const source = start(prefix);
    expect(source.server).toBe(api.url);
    expect(source.namespace).toBe('default');
    await source.waitForSync(5000);
    await eventually(() =>
      expect(
        source
          .members()
          .map((member) => member.beamNode)
          .sort(),
      ).toEqual(
        api.control
          .pods()
          .map((pod) => `myapp@${pod.ip}`)
          .sort(),
      ),
    );
  });

  it('reports a server certificate its CA did not sign', async () => {
    const other = await generateCertificates(join(scratch.dir, 'other-ca'), {
      commonName: 'someone-else',
      ipAddresses: ['127.0.0.1'],
    });
    const prefix = join(scratch.dir, 'wrong-ca-root');
    await serviceAccount(prefix, other.caPem, api.token);
    const source = start(prefix);
    const error = await source.waitForSync(5000).then(
      () => undefined,
      (rejection: unknown) => rejection,
    );
    expect(error).toMatchObject({ surface: 'kubernetes', code: 'tls' });
    expect((error as Error).message).toContain(
      `TLS verification of the API server at ${api.url} failed`,
    );
  });

  it('reports a token the server rejects', async () => {
    const prefix = join(scratch.dir, 'bad-token-root');
    await serviceAccount(prefix, api.caPem!, 'not-a-valid-token');
    const source = start(prefix);
    await expect(source.waitForSync(5000)).rejects.toMatchObject({ code: 'unauthorized' });
  });
});
