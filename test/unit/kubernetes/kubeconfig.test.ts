import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClusterConfig } from '@/server/config';
import { BeamscopeError } from '@/server/errors';
import { loadKubeConfig, SERVICE_ACCOUNT_DIR } from '@/server/kubernetes/kubeconfig';

let dir: string;
let kubeconfig: string;
let prefix: string;

const KUBECONFIG_TEXT = `apiVersion: v1
kind: Config
clusters:
  - name: one
    cluster: { server: 'https://one.example:6443' }
  - name: two
    cluster: { server: 'https://two.example:6443' }
users:
  - name: u
    user: { token: abc }
contexts:
  - name: first
    context: { cluster: one, user: u, namespace: ctx-ns }
  - name: second
    context: { cluster: two, user: u }
current-context: first
`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'beamscope-kubeconfig-'));
  kubeconfig = join(dir, 'config');
  await writeFile(kubeconfig, KUBECONFIG_TEXT);
  prefix = join(dir, 'root');
  await mkdir(join(prefix, SERVICE_ACCOUNT_DIR), { recursive: true });
  await writeFile(join(prefix, SERVICE_ACCOUNT_DIR, 'token'), 'service-account-token');
  await writeFile(join(prefix, SERVICE_ACCOUNT_DIR, 'ca.crt'), 'not a real CA');
  await writeFile(join(prefix, SERVICE_ACCOUNT_DIR, 'namespace'), 'from-service-account\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function cluster(kubernetes?: ClusterConfig['kubernetes'], namespace?: string): ClusterConfig {
  return {
    id: 'c',
    displayName: 'c',
    ...(namespace ? { namespace } : {}),
    ...(kubernetes ? { kubernetes } : {}),
    discovery: { mode: 'endpointSlices', service: 'myapp' },
    nodeNaming: { mode: 'ip', basename: 'myapp' },
    distribution: { cookieEnv: 'X' },
  };
}

function thrown(run: () => unknown): BeamscopeError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(BeamscopeError);
    expect((error as Error).message).not.toContain('\n');
    return error as BeamscopeError;
  }
  throw new Error('expected an error');
}

describe('loadKubeConfig', () => {
  it('uses the kubeconfig current context, namespace default', () => {
    const loaded = loadKubeConfig(cluster({ kubeconfig }), { env: {} });
    expect(loaded).toMatchObject({
      server: 'https://one.example:6443',
      namespace: 'default',
      origin: 'kubeconfig',
    });
  });

  it('switches to the configured context and honours the configured namespace', () => {
    const loaded = loadKubeConfig(cluster({ kubeconfig, context: 'second' }, 'shop'), { env: {} });
    expect(loaded.server).toBe('https://two.example:6443');
    expect(loaded.namespace).toBe('shop');
  });

  it('names an unknown context and the ones there are', () => {
    const error = thrown(() =>
      loadKubeConfig(cluster({ kubeconfig, context: 'third' }), { env: {} }),
    );
    expect(error.message).toBe(
      `cluster c: the kubeconfig ${kubeconfig} has no context "third" (it has: first, second)`,
    );
  });

  it('names a missing kubeconfig file', () => {
    const error = thrown(() =>
      loadKubeConfig(cluster({ kubeconfig: join(dir, 'nope') }), { env: {} }),
    );
    expect(error.code).toBe('kubeconfig_unreadable');
  });

  it('in-cluster: token, CA and namespace from the prefixed service account, server from env', () => {
    const loaded = loadKubeConfig(cluster({ inCluster: true }), {
      env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
      inClusterPathPrefix: prefix,
    });
    expect(loaded.origin).toBe('in-cluster');
    expect(loaded.server).toBe('https://10.96.0.1:443');
    expect(loaded.namespace).toBe('from-service-account');
    const current = loaded.kubeConfig.getCurrentCluster();
    expect(current?.server).toBe('https://10.96.0.1:443');
    expect(current?.caFile).toBe(join(prefix, SERVICE_ACCOUNT_DIR, 'ca.crt'));
  });

  it('in-cluster: brackets an IPv6 service host; a configured namespace wins', () => {
    const loaded = loadKubeConfig(cluster({ inCluster: true }, 'mine'), {
      env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' },
      inClusterPathPrefix: prefix,
    });
    expect(loaded.server).toBe('https://[fd00::1]:443');
    expect(loaded.namespace).toBe('mine');
  });

  it('in-cluster outside a pod says so', () => {
    const error = thrown(() =>
      loadKubeConfig(cluster({ inCluster: true }), { env: {}, inClusterPathPrefix: prefix }),
    );
    expect(error.code).toBe('in_cluster_unavailable');
    expect(error.message).toContain('KUBERNETES_SERVICE_HOST');
  });

  it('default chain: KUBECONFIG, then ~/.kube/config, then the service account', async () => {
    expect(loadKubeConfig(cluster(), { env: { KUBECONFIG: kubeconfig } }).server).toBe(
      'https://one.example:6443',
    );
    const home = join(dir, 'home');
    await mkdir(join(home, '.kube'), { recursive: true });
    await writeFile(
      join(home, '.kube', 'config'),
      KUBECONFIG_TEXT.replace('current-context: first', 'current-context: second'),
    );
    expect(loadKubeConfig(cluster(), { env: { HOME: home } }).server).toBe(
      'https://two.example:6443',
    );
    const inCluster = loadKubeConfig(cluster(), {
      env: {
        HOME: join(dir, 'empty-home'),
        KUBERNETES_SERVICE_HOST: '10.0.0.1',
        KUBERNETES_SERVICE_PORT: '6443',
      },
      inClusterPathPrefix: prefix,
    });
    expect(inCluster).toMatchObject({ origin: 'in-cluster', namespace: 'from-service-account' });
  });

  it('with nothing to go on, says what to configure', () => {
    const error = thrown(() =>
      loadKubeConfig(cluster(), {
        env: { HOME: join(dir, 'empty-home') },
        inClusterPathPrefix: join(dir, 'no-root'),
      }),
    );
    expect(error.code).toBe('kubernetes_unconfigured');
  });
});
