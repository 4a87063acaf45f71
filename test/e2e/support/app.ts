import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:https';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { parse } from 'yaml';

import type { PodInfo } from '@/server/sandbox/kube-api/cluster/sandbox-control';

export type { PodInfo };

const root = join(import.meta.dirname, '..', '..', '..');

/** What `beamscope sandbox` prints once it is ready. */
export interface SandboxReady {
  ready: true;
  kubeconfig: string;
  config: string;
  api: string;
}

/** A running sandbox (the emulated Kubernetes API, as `npm run demo` starts it) and its control API. */
export interface RunningSandbox extends SandboxReady {
  token: string;
  /** Calls the sandbox's control surface, e.g. `control('POST', '/scale', { replicas: 4 })`. */
  control(method: string, path: string, body?: unknown): Promise<unknown>;
  /**
   * The sandbox's pods in the order of their IPs (numerically: 10.244.0.9 before 10.244.0.10),
   * which is the order the sandbox hands the addresses out, so `[0]` is the oldest address.
   */
  pods(): Promise<PodInfo[]>;
  stop(): Promise<void>;
}

/** A production server of the dashboard. */
export interface RunningDashboard {
  url: string;
  /** Everything the server wrote to stdout and stderr so far. */
  output(): string;
  stop(): Promise<void>;
  /** Sends `signal` to the server (SIGKILL: a crash) and resolves once it has exited. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

function stopChild(child: ChildProcess, timeoutMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** How {@link startSandbox} runs the sandbox beyond its pod count. */
export interface SandboxOptions {
  /** `netns` (root): each pod in its own network namespace (`--network netns`). */
  network?: 'loopback' | 'netns';
  /** More environment for the sandbox and its pods' `erl` (e.g. `ERL_AFLAGS`). */
  env?: Record<string, string>;
}

/**
 * Starts `beamscope sandbox` in a temporary folder, exactly as the demo does, on a free
 * distribution port (other sandboxes on this machine may hold the default one).
 */
export async function startSandbox(
  pods = 3,
  options: SandboxOptions = {},
): Promise<RunningSandbox> {
  const dir = await mkdtemp(join(tmpdir(), 'beamscope-e2e-'));
  const distPort = await freePort();
  const child = spawn(
    process.execPath,
    [
      join(root, 'bin/beamscope.mjs'),
      'sandbox',
      '--pods',
      String(pods),
      '--dir',
      join(dir, 'sandbox'),
      '--dist-port',
      String(distPort),
      '--devices',
      '1000',
      ...(options.network ? ['--network', options.network] : []),
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ready = await new Promise<SandboxReady>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`sandbox not ready in 60 s: ${stderr}`)),
      60_000,
    );
    child.once('exit', (code) => reject(new Error(`sandbox exited (${code}): ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const message = JSON.parse(line) as SandboxReady;
        if (message.ready) {
          clearTimeout(timer);
          resolve(message);
        }
      } catch {
        // not the ready line
      }
    });
  });
  const kubeconfig = parse(await readFile(ready.kubeconfig, 'utf8')) as {
    clusters: Array<{ cluster: { 'certificate-authority-data'?: string } }>;
    users: Array<{ user: { token: string } }>;
  };
  const token = kubeconfig.users[0]!.user.token;
  const caData = kubeconfig.clusters[0]!.cluster['certificate-authority-data'];
  const ca = caData ? Buffer.from(caData, 'base64') : undefined;
  const sandbox: RunningSandbox = {
    ...ready,
    token,
    control(method, path, body) {
      // The sandbox serves HTTPS with its own CA (kubectl sends tokens over TLS only): trust it.
      return new Promise((resolve, reject) => {
        const url = new URL(`${ready.api}/_sandbox${path}`);
        const outgoing = request(
          url,
          {
            method,
            ca,
            // A connection of its own: a kept-alive one the server closes as it is reused (its
            // keep-alive timeout racing a slow test on a loaded machine) resets the request.
            agent: false,
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          },
          (response) => {
            let text = '';
            response.on('data', (chunk: Buffer) => (text += chunk.toString()));
            response.on('end', () => {
              const status = response.statusCode ?? 0;
              if (status >= 400) reject(new Error(`${method} ${path}: ${status} ${text}`));
              else resolve(text ? (JSON.parse(text) as unknown) : null);
            });
          },
        );
        outgoing.on('error', reject);
        outgoing.end(body === undefined ? undefined : JSON.stringify(body));
      });
    },
    async pods() {
      const pods = (await sandbox.control('GET', '/pods')) as PodInfo[];
      return pods.sort((a, b) => a.ip.localeCompare(b.ip, 'en', { numeric: true }));
    },
    async stop() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return sandbox;
}

/**
 * Spawns the standalone production server — the one the container image runs — with the given
 * configuration. `next build` and `scripts/standalone.mjs` must have run (`npm test` does both).
 */
export function spawnDashboard(
  configPath: string,
  port: number,
  env: Record<string, string> = {},
): ChildProcess {
  // BEAMSCOPE_SERVER_JS points at a copy of the standalone server, so work on one build can be
  // tested while another is being made in the checkout (see scripts/build-copy.sh).
  const serverJs = process.env.BEAMSCOPE_SERVER_JS ?? join(root, '.next/standalone/server.js');
  return spawn(process.execPath, [serverJs], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      BEAMSCOPE_CONFIG: configPath,
      PORT: String(port),
      HOSTNAME: '127.0.0.1',
      ...env,
    },
  });
}

/**
 * Serves the production build with the given configuration, once it answers its health check;
 * on `port` when given (a restart on the same address), else on a free one.
 */
export async function startDashboard(
  configPath: string,
  port?: number,
  env: Record<string, string> = {},
): Promise<RunningDashboard> {
  if (port !== undefined) return startDashboardOn(configPath, port, env);
  // A free port is free only when it was asked for: another listener started since (an
  // inspector on port 0, another test's server) can take it first. Then another one is tried.
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startDashboardOn(configPath, await freePort(), env);
    } catch (error) {
      if (attempt >= 3 || !(error instanceof Error) || !error.message.includes('EADDRINUSE'))
        throw error;
    }
  }
}

async function startDashboardOn(
  configPath: string,
  port: number,
  env: Record<string, string>,
): Promise<RunningDashboard> {
  const url = `http://127.0.0.1:${port}`;
  const child = spawnDashboard(configPath, port, env);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`the dashboard server exited (${child.exitCode}):\n${output}`);
    try {
      if ((await fetch(`${url}/api/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`the dashboard server did not become healthy:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    url,
    output: () => output,
    stop: () => stopChild(child),
    kill: (signal) =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}
