import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { startEmulatedApi, type EmulatedApi } from '@/server/sandbox/kube-api';

import { freePort, spawnDashboard, startDashboard } from './support/app';

describe('the production server with a bad configuration file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamscope-badconfig-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses to start, with one line naming the file, the field and what was expected', async () => {
    const file = join(dir, 'beamscope.yaml');
    await writeFile(
      file,
      [
        'clusters:',
        '  - id: shop',
        '    discovery: { mode: dns, service: shop }',
        '    nodeNaming: { basename: shop }',
        '    distribution: { cookieEnv: SHOP_COOKIE }',
        '',
      ].join('\n'),
    );
    const port = await freePort();
    const child = spawnDashboard(file, port);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 30_000);
      child.on('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    expect(code).toBe(78);
    const lines = stderr.split('\n').filter((line) => line.startsWith('beamscope:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(file);
    expect(lines[0]).toContain('clusters[0].discovery.mode');
    expect(lines[0]).toMatch(/endpointSlices/);
    expect(stderr).not.toMatch(/^\s+at /m);
  });
});

describe('the production server whose sources fail', () => {
  let dir: string;
  let api: EmulatedApi;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamscope-logs-'));
    api = await startEmulatedApi({ readyDelayMs: 100, terminationGraceMs: 300, tls: true });
  });
  afterAll(async () => {
    await api?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('logs one JSON line per change of each source, never per retry, and no token', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{ name: c, cluster: { server: ${api.url}, certificate-authority-data: ${Buffer.from(api.caPem!).toString('base64')} } }]`,
        `users: [{ name: u, user: { token: ${api.token} } }]`,
        'contexts: [{ name: c, context: { cluster: c, user: u, namespace: default } }]',
        'current-context: c',
        '',
      ].join('\n'),
    );
    const config = join(dir, 'beamscope.yaml');
    await writeFile(
      config,
      [
        'access: { mode: none }',
        'clusters:',
        '  - id: shop',
        `    kubernetes: { kubeconfig: ${kubeconfig} }`,
        '    discovery: { mode: endpointSlices, service: myapp }',
        '    nodeNaming: { basename: myapp }',
        `    distribution: { cookieFile: ${join(dir, 'no-such-cookie')} }`,
        '',
      ].join('\n'),
    );
    const dashboard = await startDashboard(config, undefined, { BEAMSCOPE_LOG_FORMAT: 'json' });
    try {
      const entries = () =>
        dashboard
          .output()
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as Record<string, unknown>);
      const kubernetes = () => entries().filter((entry) => entry.source === 'kubernetes');
      await vi.waitFor(() => expect(kubernetes().at(-1)?.state).toBe('ok'), { timeout: 20_000 });

      // The API goes away; the source retries several times (backoff ≤ 5 s) while it stays away.
      await api.stop();
      await vi.waitFor(() => expect(kubernetes().at(-1)?.code).toBe('unreachable'), {
        timeout: 20_000,
      });
      await new Promise((resolve) => setTimeout(resolve, 8000));
      await api.start();
      await vi.waitFor(() => expect(kubernetes().at(-1)?.state).toBe('ok'), { timeout: 20_000 });

      expect(kubernetes().map((entry) => `${String(entry.state)} ${String(entry.code)}`)).toEqual([
        'ok undefined',
        'error unreachable',
        'ok undefined',
      ]);
      expect(kubernetes()[1]).toMatchObject({
        level: 'error',
        cluster: 'shop',
        message: expect.stringContaining(`cannot reach the Kubernetes API server at ${api.url}`),
      });
      const distribution = entries().filter((entry) => entry.source === 'distribution');
      expect(distribution).toHaveLength(1);
      expect(distribution[0]).toMatchObject({ level: 'error', cluster: 'shop', state: 'error' });
      expect(String(distribution[0]!.message)).toContain(join(dir, 'no-such-cookie'));
      for (const entry of entries()) expect(Date.parse(String(entry.time))).not.toBeNaN();
      expect(dashboard.output()).not.toContain(api.token);
    } finally {
      await dashboard.stop();
    }
  });
});
