import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect } from 'vitest';

import type { ClusterConfig } from '@/server/config';
import type { EmulatedApi } from '@/server/sandbox/kube-api';

/** A scratch folder, removed by the returned cleanup. */
export async function scratchDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'beamscope-k8s-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes a kubeconfig for the emulated API, as an operator's file would be. */
export async function writeKubeconfig(
  dir: string,
  api: Pick<EmulatedApi, 'url' | 'caFile' | 'token'>,
  token = api.token,
): Promise<string> {
  const file = join(dir, `kubeconfig-${Math.random().toString(36).slice(2)}`);
  const tls = api.caFile
    ? `certificate-authority: ${api.caFile}`
    : 'insecure-skip-tls-verify: true';
  await writeFile(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '  - name: sandbox',
      '    cluster:',
      `      server: ${api.url}`,
      `      ${tls}`,
      'users:',
      '  - name: beamscope',
      '    user:',
      `      token: ${token}`,
      'contexts:',
      '  - name: sandbox',
      '    context: { cluster: sandbox, user: beamscope }',
      'current-context: sandbox',
      '',
    ].join('\n'),
  );
  return file;
}

/** A cluster config for the emulated `myapp` Service, in the given discovery mode. */
export function sandboxCluster(
  kubeconfig: string,
  overrides: Partial<Pick<ClusterConfig, 'discovery' | 'nodeNaming' | 'namespace'>> = {},
): ClusterConfig {
  return {
    id: 'sandbox',
    displayName: 'Sandbox',
    kubernetes: { kubeconfig },
    discovery: { mode: 'endpointSlices', service: 'myapp', selector: 'app=myapp' },
    nodeNaming: { mode: 'ip', basename: 'myapp', service: 'myapp' },
    distribution: { cookieEnv: 'RELEASE_COOKIE' },
    ...overrides,
  };
}

/** Fast restarts, so recovery tests take a fraction of a second per attempt. */
export const FAST_BACKOFF = { initialMs: 100, maxMs: 400 };

/** Polls `check` until it stops throwing, for at most `timeoutMs`. */
export async function eventually<T>(check: () => T, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Fails the test with `message` unless `condition` holds; for use inside {@link eventually}. */
export function assertThat(condition: boolean, message: string): void {
  expect(condition, message).toBe(true);
}

/** A plain HTTP proxy in front of the emulated API that records what the client asks for. */
export interface RecordingProxy {
  url: string;
  /** Every request path, in order (`GET /api/v1/…?watch=true&…`). */
  requests: string[];
  /** Watch requests whose connection is still open. */
  openWatches(): number;
  close(): Promise<void>;
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const requests: string[] = [];
  let open = 0;
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    requests.push(`${req.method ?? 'GET'} ${decodeURIComponent(path)}`);
    const watching = /[?&]watch=(true|1)/.test(path);
    if (watching) {
      open += 1;
      res.once('close', () => {
        open -= 1;
      });
    }
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        path,
        method: req.method,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        // As the API server does for a watch: headers go out before the first event.
        res.flushHeaders();
        answer.pipe(res);
        // A reset upstream must reach the client as a reset, not a clean end.
        answer.once('error', () => res.destroy());
        answer.once('aborted', () => res.destroy());
      },
    );
    forward.once('error', () => res.destroy());
    res.once('close', () => forward.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    openWatches: () => open,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
