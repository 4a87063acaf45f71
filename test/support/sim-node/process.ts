/**
 * Simulated nodes in a child process, so a benchmark of beamscope does not count their cost as
 * beamscope's: the same {@link startSimulatedCluster}, driven over an IPC channel. Optionally the
 * child also runs the emulated Kubernetes API (server/sandbox/kube-api) with one Ready pod per
 * node address, so beamscope discovers the nodes exactly as in a cluster.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';

import type { SimulatedClusterOptions } from './cluster';

/** What the child may be asked to start (no model functions: they cannot cross the channel). */
export type ChildClusterOptions = Omit<SimulatedClusterOptions, 'model'> & {
  /** Also run the emulated Kubernetes API (HTTPS by default) with a pod per address. */
  kubeApi?: { tls?: boolean };
  /**
   * Run the emulated API alone, with a pod per address and no simulated node: a bench runs the
   * nodes in a process of their own, as a real kube-apiserver is not in the nodes' process.
   */
  apiOnly?: boolean;
};

export type ChildRequest =
  | { type: 'start'; options: ChildClusterOptions }
  | { type: 'partitions'; id: number; groups: string[][] }
  | { type: 'stopNode'; id: number; address: string }
  | { type: 'podReady'; id: number; ip: string; ready: boolean }
  | { type: 'stats'; id: number }
  | { type: 'stop' };

export interface ChildStats {
  accepted: number;
  refused: number;
  calls: number;
  connected: number;
  /** The child's CPU time so far (user + system), µs. */
  cpuMicros: number;
  rssBytes: number;
  /** The child's event-loop delay since the last `stats` (p99 and max, ms). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

/** When the emulator wrote a readiness change, and when its watches were sent the slice's. */
export interface PodReadyTiming {
  writtenAt: number;
  watchSentAt: number;
}

export type ChildReply =
  | {
      type: 'ready';
      nodes: string[];
      api?: { url: string; token: string; namespace: string; caPem?: string };
    }
  | { type: 'done'; id: number; timing?: PodReadyTiming }
  | { type: 'stats'; id: number; stats: ChildStats }
  | { type: 'error'; message: string }
  | { type: 'stopped' };

/** A simulated cluster running in a child process. */
export interface SimulatedClusterProcess {
  nodes: string[];
  /** The emulated API, when `kubeApi` was asked for: its URL, beamscope's token, its CA. */
  api?: { url: string; token: string; namespace: string; caPem?: string };
  /** The child's pid (to profile or watch it). */
  pid: number;
  setPartitions(groups: string[][]): Promise<void>;
  stopNode(address: string): Promise<void>;
  /**
   * Marks the pod of this IP Ready or not in the emulated API (with `kubeApi` only); resolves
   * with when the emulator wrote it and sent its watches the EndpointSlice change (null: no pod).
   */
  setPodReady(ip: string, ready: boolean): Promise<PodReadyTiming | null>;
  stats(): Promise<ChildStats>;
  stop(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
const START_TIMEOUT_MS = 120_000;

/**
 * Starts {@link startSimulatedCluster} in a child Node.js process (TypeScript through tsx, with
 * the `react-server` condition that beamscope's server modules need) and resolves once every
 * node listens (and, with `kubeApi`, every pod is Ready).
 */
export async function startSimulatedClusterProcess(
  options: ChildClusterOptions,
  /**
   * The child's niceness (0–19): a bench runs the nodes niced so that, on a machine whose cores
   * they share, the process under measurement gets the CPU it asks for first.
   */
  niceness = 0,
): Promise<SimulatedClusterProcess> {
  const child: ChildProcess = fork(CHILD, [], {
    execArgv: ['--import', 'tsx', '--conditions=react-server'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  if (niceness > 0 && child.pid !== undefined) setPriority(child.pid, niceness);
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let nextId = 1;
  const waiting = new Map<number, (reply: ChildReply) => void>();
  let failure: ((error: Error) => void) | undefined;
  child.on('message', (reply: ChildReply) => {
    if ((reply.type === 'done' || reply.type === 'stats') && waiting.has(reply.id)) {
      const resolve = waiting.get(reply.id)!;
      waiting.delete(reply.id);
      resolve(reply);
    } else if (reply.type === 'error') failure?.(new Error(`simulated nodes: ${reply.message}`));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const ready = await new Promise<Extract<ChildReply, { type: 'ready' }>>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`the simulated nodes did not start within ${START_TIMEOUT_MS} ms`));
    }, START_TIMEOUT_MS);
    failure = (error) => {
      clearTimeout(timer);
      reject(error);
    };
    child.once('exit', (code) => failure?.(new Error(`the simulated nodes exited (${code})`)));
    child.on('message', (reply: ChildReply) => {
      if (reply.type === 'ready') {
        clearTimeout(timer);
        resolve(reply);
      }
    });
    child.send({ type: 'start', options } satisfies ChildRequest);
  }).catch(async (error: unknown) => {
    child.kill('SIGKILL');
    await exited;
    process.off('exit', killOnExit);
    throw error;
  });
  failure = undefined;

  const request = <T extends ChildReply>(message: ChildRequest & { id: number }) =>
    new Promise<T>((resolve) => {
      waiting.set(message.id, resolve as (reply: ChildReply) => void);
      child.send(message);
    });

  let stopping: Promise<void> | undefined;
  return {
    nodes: ready.nodes,
    ...(ready.api ? { api: ready.api } : {}),
    pid: child.pid!,
    async setPartitions(groups) {
      await request({ type: 'partitions', id: nextId++, groups });
    },
    async stopNode(address) {
      await request({ type: 'stopNode', id: nextId++, address });
    },
    async setPodReady(ip, ready) {
      const reply = await request<Extract<ChildReply, { type: 'done' }>>({
        type: 'podReady',
        id: nextId++,
        ip,
        ready,
      });
      return reply.timing ?? null;
    },
    async stats() {
      const reply = await request<Extract<ChildReply, { type: 'stats' }>>({
        type: 'stats',
        id: nextId++,
      });
      return reply.stats;
    },
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.send({ type: 'stop' } satisfies ChildRequest);
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timer);
        }
        process.off('exit', killOnExit);
      })();
      return stopping;
    },
  };
}

/**
 * The mapping that names nodes listening on `127.<second>.x.y` (simulatedAddresses) with pod IPs
 * `10.244.x.y`, as an emulated API that lists them as pods needs (it refuses loopback endpoint
 * addresses, as a real one does); beamscope dials them through the same mapping (its config's
 * `distribution.addressMap`).
 */
export function simulatedAddressMap(second = 10): Array<{ from: string; to: string }> {
  return [{ from: '10.244.0.0/16', to: `127.${second}.0.0/16` }];
}

/**
 * `count` loopback addresses `127.<second>.x.y` (y from 1 to 250): room for thousands of nodes
 * away from the sandbox's pods (listening on 127.0.0.2 upwards).
 */
export function simulatedAddresses(count: number, second = 10): string[] {
  return Array.from(
    { length: count },
    (_, index) => `127.${second}.${Math.floor(index / 250)}.${(index % 250) + 1}`,
  );
}
