import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClusterConfig } from '@/server/config';
import { BeamscopeError } from '@/server/errors';
import {
  assertVerifiedTls,
  loadKubeConfig,
  SERVICE_ACCOUNT_DIR,
} from '@/server/kubernetes/kubeconfig';

// The Kubernetes API is always verified: every way beamscope builds its client (a kubeconfig, the
// KUBECONFIG list, ~/.kube/config, the in-cluster service account) refuses one that would not be.

let dir: string;

const CA_DATA = Buffer.from('-----BEGIN CERTIFICATE-----\nnot checked here\n').toString('base64');

function kubeconfigText(
  clusters: Array<{ name: string; cluster: string }>,
  current = 'main',
): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    ...clusters.flatMap(({ name, cluster }) => [`  - name: ${name}`, `    cluster: ${cluster}`]),
    'users:',
    '  - name: u',
    '    user: { token: abc }',
    'contexts:',
    ...clusters.map(
      ({ name }) =>
        `  - name: ${name === 'prod' ? 'main' : name}\n    context: { cluster: ${name}, user: u }`,
    ),
    `current-context: ${current}`,
    '',
  ].join('\n');
}

async function kubeconfigFile(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

function cluster(kubernetes?: ClusterConfig['kubernetes']): ClusterConfig {
  return {
    id: 'shop',
    displayName: 'shop',
    ...(kubernetes ? { kubernetes } : {}),
    discovery: { mode: 'endpointSlices', service: 'myapp' },
    nodeNaming: { mode: 'ip', basename: 'myapp' },
    distribution: { cookieEnv: 'X' },
  };
}

function refusal(run: () => unknown): BeamscopeError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(BeamscopeError);
    expect((error as Error).message).not.toContain('\n');
    return error as BeamscopeError;
  }
  throw new Error('expected a refusal');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'beamscope-kubeconfig-tls-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a kubeconfig that would skip TLS verification', () => {
  it('is refused in one line naming the file, the context and the cluster', async () => {
    const file = await kubeconfigFile(
      'skip',
      kubeconfigText([
        {
          name: 'prod',
          cluster: "{ server: 'https://k8s.example:6443', insecure-skip-tls-verify: true }",
        },
      ]),
    );
    const error = refusal(() => loadKubeConfig(cluster({ kubeconfig: file }), { env: {} }));
    expect(error.code).toBe('kubernetes_tls_unverified');
    expect(error.message).toBe(
      `cluster shop: the kubeconfig ${file} (context "main", cluster "prod") sets insecure-skip-tls-verify: true, and beamscope always verifies the Kubernetes API server: remove it and give the cluster's certificate-authority or certificate-authority-data`,
    );
  });

  it('is refused even when it also has a CA (the flag would win in client-node)', async () => {
    const file = await kubeconfigFile(
      'skip-and-ca',
      kubeconfigText([
        {
          name: 'prod',
          cluster: `{ server: 'https://k8s.example:6443', certificate-authority-data: ${CA_DATA}, insecure-skip-tls-verify: true }`,
        },
      ]),
    );
    expect(refusal(() => loadKubeConfig(cluster({ kubeconfig: file }), { env: {} })).code).toBe(
      'kubernetes_tls_unverified',
    );
  });

  it('is refused for the selected context only, naming it', async () => {
    const file = await kubeconfigFile(
      'two',
      kubeconfigText([
        {
          name: 'prod',
          cluster: `{ server: 'https://k8s.example:6443', certificate-authority-data: ${CA_DATA} }`,
        },
        {
          name: 'lab',
          cluster: "{ server: 'https://lab.example:6443', insecure-skip-tls-verify: true }",
        },
      ]),
    );
    expect(loadKubeConfig(cluster({ kubeconfig: file }), { env: {} }).server).toBe(
      'https://k8s.example:6443',
    );
    const error = refusal(() =>
      loadKubeConfig(cluster({ kubeconfig: file, context: 'lab' }), { env: {} }),
    );
    expect(error.message).toContain(`the kubeconfig ${file} (context "lab", cluster "lab")`);
  });

  it('through KUBECONFIG names the file that defines the cluster, not the first one', async () => {
    const first = await kubeconfigFile(
      'first',
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: []',
        'users: [{ name: u, user: { token: abc } }]',
        'contexts: [{ name: main, context: { cluster: far, user: u } }]',
        'current-context: main',
        '',
      ].join('\n'),
    );
    const second = await kubeconfigFile(
      'second',
      [
        'apiVersion: v1',
        'kind: Config',
        "clusters: [{ name: far, cluster: { server: 'https://far.example', insecure-skip-tls-verify: true } }]",
        'users: []',
        'contexts: []',
        '',
      ].join('\n'),
    );
    const error = refusal(() =>
      loadKubeConfig(cluster(), { env: { KUBECONFIG: [first, second].join(delimiter) } }),
    );
    expect(error.message).toContain(`the kubeconfig ${second} (context "main", cluster "far")`);
  });

  it('from ~/.kube/config is refused too', async () => {
    const home = join(dir, 'home');
    await mkdir(join(home, '.kube'), { recursive: true });
    await writeFile(
      join(home, '.kube', 'config'),
      kubeconfigText([
        {
          name: 'prod',
          cluster: "{ server: 'https://k8s.example', insecure-skip-tls-verify: true }",
        },
      ]),
    );
    const error = refusal(() => loadKubeConfig(cluster(), { env: { HOME: home } }));
    expect(error.message).toContain(`the kubeconfig ${join(home, '.kube', 'config')}`);
  });

  it('plain http to another machine is refused; to loopback (kubectl proxy, the sandbox) it is not', async () => {
    const far = await kubeconfigFile(
      'http-far',
      kubeconfigText([
        {
          name: 'prod',
          cluster: "{ server: 'http://10.0.0.1:8080', insecure-skip-tls-verify: true }",
        },
      ]),
    );
    const error = refusal(() => loadKubeConfig(cluster({ kubeconfig: far }), { env: {} }));
    expect(error.code).toBe('kubernetes_tls_unverified');
    expect(error.message).toContain('plain http at http://10.0.0.1:8080');
    expect(error.message).toContain('certificate-authority-data');
    for (const host of ['127.0.0.1:8001', 'localhost:8001', '[::1]:8001', '127.0.0.2:9']) {
      const near = await kubeconfigFile(
        `http-near-${host.replace(/\W/g, '')}`,
        kubeconfigText([
          { name: 'prod', cluster: `{ server: 'http://${host}', insecure-skip-tls-verify: true }` },
        ]),
      );
      expect(loadKubeConfig(cluster({ kubeconfig: near }), { env: {} }).server).toBe(
        `http://${host}`,
      );
    }
  });

  it('a verified https cluster loads, whatever else the environment holds', async () => {
    const file = await kubeconfigFile(
      'ok',
      kubeconfigText([
        {
          name: 'prod',
          cluster: `{ server: 'https://k8s.example:6443', certificate-authority-data: ${CA_DATA} }`,
        },
      ]),
    );
    const loaded = loadKubeConfig(cluster({ kubeconfig: file }), { env: {} });
    expect(loaded.kubeConfig.getCurrentCluster()).toMatchObject({
      skipTLSVerify: false,
      caData: CA_DATA,
    });
  });

  it('NODE_TLS_REJECT_UNAUTHORIZED=0 is refused (it would turn verification off underneath)', async () => {
    const file = await kubeconfigFile(
      'ok-env',
      kubeconfigText([
        {
          name: 'prod',
          cluster: `{ server: 'https://k8s.example:6443', certificate-authority-data: ${CA_DATA} }`,
        },
      ]),
    );
    const error = refusal(() =>
      loadKubeConfig(cluster({ kubeconfig: file }), {
        env: { NODE_TLS_REJECT_UNAUTHORIZED: '0' },
      }),
    );
    expect(error.code).toBe('kubernetes_tls_unverified');
    expect(error.message).toContain('NODE_TLS_REJECT_UNAUTHORIZED=0');
  });
});

describe('assertVerifiedTls on a KubeConfig built or changed in code', () => {
  it('catches skipTLSVerify set after loading', () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'c1', server: 'https://k8s.example', skipTLSVerify: false }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'ctx', cluster: 'c1', user: 'u' }],
      currentContext: 'ctx',
    });
    const where = { clusterId: 'shop', source: 'a test KubeConfig' };
    expect(() => assertVerifiedTls(kubeConfig, where, {})).not.toThrow();
    kubeConfig.loadFromOptions({
      clusters: kubeConfig.clusters.map((entry) => ({ ...entry, skipTLSVerify: true })),
      users: kubeConfig.users,
      contexts: kubeConfig.contexts,
      currentContext: 'ctx',
    });
    const error = refusal(() => assertVerifiedTls(kubeConfig, where, {}));
    expect(error.message).toBe(
      `cluster shop: a test KubeConfig (context "ctx", cluster "c1") sets insecure-skip-tls-verify: true, and beamscope always verifies the Kubernetes API server: remove it and give the cluster's certificate-authority or certificate-authority-data`,
    );
  });
});

describe('in-cluster', () => {
  const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };

  async function serviceAccount(name: string, withCa: boolean): Promise<string> {
    const prefix = join(dir, name);
    await mkdir(join(prefix, SERVICE_ACCOUNT_DIR), { recursive: true });
    await writeFile(join(prefix, SERVICE_ACCOUNT_DIR, 'token'), 'service-account-token');
    await writeFile(join(prefix, SERVICE_ACCOUNT_DIR, 'namespace'), 'shop');
    if (withCa) await writeFile(join(prefix, SERVICE_ACCOUNT_DIR, 'ca.crt'), 'a CA');
    return prefix;
  }

  it("verifies the API server with the service account's CA", async () => {
    const prefix = await serviceAccount('sa', true);
    const loaded = loadKubeConfig(cluster({ inCluster: true }), {
      env,
      inClusterPathPrefix: prefix,
    });
    expect(loaded.kubeConfig.getCurrentCluster()).toMatchObject({
      server: 'https://10.96.0.1:443',
      caFile: join(prefix, SERVICE_ACCOUNT_DIR, 'ca.crt'),
      skipTLSVerify: false,
    });
  });

  it('without the CA file, refuses and names it', async () => {
    const prefix = await serviceAccount('sa-no-ca', false);
    const error = refusal(() =>
      loadKubeConfig(cluster({ inCluster: true }), { env, inClusterPathPrefix: prefix }),
    );
    expect(error.code).toBe('in_cluster_unavailable');
    expect(error.message).toContain(join(prefix, SERVICE_ACCOUNT_DIR, 'ca.crt'));
  });

  it('plain http to a non-loopback service host is refused', async () => {
    const prefix = await serviceAccount('sa-http', true);
    const error = refusal(() =>
      loadKubeConfig(cluster({ inCluster: true }), {
        env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '8080' },
        inClusterPathPrefix: prefix,
      }),
    );
    expect(error.message).toContain(
      'the in-cluster service account (context "inClusterContext", cluster "inCluster")',
    );
    expect(error.message).toContain('plain http');
  });

  it('the default chain falls to the service account and verifies it too', async () => {
    const prefix = await serviceAccount('sa-default', true);
    const loaded = loadKubeConfig(cluster(), {
      env: { ...env, HOME: join(dir, 'nohome') },
      inClusterPathPrefix: prefix,
    });
    expect(loaded.origin).toBe('in-cluster');
    expect(loaded.kubeConfig.getCurrentCluster()?.skipTLSVerify).toBe(false);
  });
});
