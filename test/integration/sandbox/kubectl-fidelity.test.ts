import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startEmulatedApi, type EmulatedApi } from '@/server/sandbox/kube-api';

import { KUBECTL, kubectl, writeKubeconfig } from './kubectl';

async function waitFor(probe: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// kubectl (client-go) sends a bearer token only over TLS (kubernetes/kubectl#744), so HTTPS here.
describe('the real kubectl against the emulated API', () => {
  let api: EmulatedApi;
  let dir: string;
  let kubeconfig: string;
  let cache: string;
  const children: ChildProcess[] = [];
  const run = (...args: string[]) => kubectl(kubeconfig, cache, args);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamscope-kubectl-'));
    cache = join(dir, 'cache');
    kubeconfig = join(dir, 'kubeconfig');
    api = await startEmulatedApi({ tls: true, readyDelayMs: 50, terminationGraceMs: 300 });
    await writeKubeconfig(kubeconfig, api);
    await api.control.scale(3);
    await waitFor(
      () => api.control.pods().filter((pod) => pod.ready).length === 3,
      'three ready pods',
    );
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await api?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('get endpointslices prints the server-side table', async () => {
    const { stdout } = await run('get', 'endpointslices');
    const [header, row, ...rest] = stdout.trim().split('\n');
    expect(header!.split(/\s+/)).toEqual(['NAME', 'ADDRESSTYPE', 'PORTS', 'ENDPOINTS', 'AGE']);
    expect(rest).toEqual([]);
    expect(row).toMatch(
      /^myapp-\w{5}\s+IPv4\s+9100,4369\s+10\.244\.0\.2,10\.244\.0\.3,10\.244\.0\.4\s+\d+s$/,
    );
  });

  it('get endpointslices -o json gives the full objects', async () => {
    const { stdout } = await run('get', 'endpointslices', '-o', 'json');
    const list = JSON.parse(stdout) as { kind: string; items: Array<Record<string, any>> }; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(list.kind).toBe('List');
    expect(list.items).toHaveLength(1);
    const slice = list.items[0]!;
    expect(slice).toMatchObject({
      kind: 'EndpointSlice',
      apiVersion: 'discovery.k8s.io/v1',
      addressType: 'IPv4',
      metadata: { labels: { 'kubernetes.io/service-name': 'myapp', app: 'myapp' } },
    });
    expect(slice.endpoints).toHaveLength(3);
    expect(slice.endpoints[0]).toMatchObject({
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: expect.stringMatching(/^sandbox-node-[123]$/),
      targetRef: { kind: 'Pod' },
    });
  });

  it('get endpoints prints the addresses and relays the deprecation warning', async () => {
    const { stdout, stderr } = await run('get', 'endpoints');
    expect(stdout.split('\n')[0]!.split(/\s+/)).toEqual(['NAME', 'ENDPOINTS', 'AGE']);
    expect(stdout).toMatch(
      /^myapp\s+10\.244\.0\.2:9100,10\.244\.0\.2:4369,10\.244\.0\.3:9100 \+ 3 more\.\.\.\s+\d+s$/m,
    );
    expect(stderr).toContain(
      'Warning: v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice',
    );
  });

  it('get pods and get pods -o wide print like a real cluster', async () => {
    const narrow = (await run('get', 'pods')).stdout.trim().split('\n');
    expect(narrow[0]!.split(/\s+/)).toEqual(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE']);
    expect(narrow.slice(1)).toHaveLength(3);
    for (const line of narrow.slice(1))
      expect(line).toMatch(/^myapp-\w{10}-\w{5}\s+1\/1\s+Running\s+0\s+\d+s$/);

    const wide = (await run('get', 'pods', '-o', 'wide')).stdout.trim().split('\n');
    expect(wide[0]).toMatch(
      /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$/,
    );
    const ips = wide.slice(1).map((line) => line.split(/\s+/)[5]);
    expect(ips.sort()).toEqual(['10.244.0.2', '10.244.0.3', '10.244.0.4']);
    expect(wide[1]).toMatch(/sandbox-node-\d\s+<none>\s+<none>$/);
  });

  it('relays a 403 as Error from server (Forbidden)', async () => {
    api.control.setForbidden('pods', true);
    try {
      await expect(run('get', 'pods')).rejects.toThrow(
        'Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:default:beamscope" cannot list resource "pods" in API group "" in the namespace "default"',
      );
    } finally {
      api.control.setForbidden('pods', false);
    }
  });

  it('get endpointslices -w prints a new line when a pod changes', async () => {
    const watcher = spawn(KUBECTL, ['--kubeconfig', kubeconfig, 'get', 'endpointslices', '-w'], {
      env: { ...process.env, KUBECACHEDIR: cache },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(watcher);
    let output = '';
    watcher.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitFor(() => output.includes('10.244.0.4'), 'the initial table');
    expect(output.split('\n')[0]!.split(/\s+/)).toEqual([
      'NAME',
      'ADDRESSTYPE',
      'PORTS',
      'ENDPOINTS',
      'AGE',
    ]);

    const pod = await api.control.createPod();
    expect(pod.ip).toBe('10.244.0.5');
    await waitFor(
      () => output.includes('10.244.0.2,10.244.0.3,10.244.0.4 + 1 more...'),
      'a line with the new pod',
    );
    const exited = new Promise((resolve) => watcher.once('exit', resolve));
    watcher.kill('SIGTERM');
    await exited;
    // Headers once: later events' tables came without column definitions.
    expect(output.match(/ADDRESSTYPE/g)).toHaveLength(1);
  });
});
