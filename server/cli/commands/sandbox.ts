import 'server-only';

import { randomBytes } from 'node:crypto';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

import { stringify } from 'yaml';

import { SANDBOX_APP_VERSIONS } from '@/lib/api-sandbox';

import type { AddressMapping } from '../../erlang/address-map';
import { BeamscopeError } from '../../errors';
import { BeamPodRuntime, type BeamPodStats } from '../../sandbox/beam/runtime';
import {
  defaultSandboxDir,
  readSandboxState,
  STATE_FILE,
  type SandboxState,
} from '../../sandbox/control-client';
import { startEmulatedApi, type EmulatedApi } from '../../sandbox/kube-api';
import { NetnsPodNetwork } from '../../sandbox/netns/network';
import { LOOPBACK_NETWORK } from '../../sandbox/pod-network';
import { integerOption, parseCommandArgs } from '../args';
import { UsageError, type Command, type CommandIo } from '../command';
import {
  CONTROL_COMMANDS,
  PER_POD_TIMEOUT_MS,
  READY_TIMEOUT_MS,
  runControl,
  SERVICE,
  sleep,
  TERMINATION_GRACE_MS,
} from './sandbox-control';

const CONTEXT = 'sandbox';
/** The demo app's Horde-layout registry and dynamic supervisor (myapp_tables, myapp_gateway). */
const HORDE_REGISTRY = 'MyApp.DeviceRegistry';
const HORDE_SUPERVISOR = 'MyApp.GatewaySupervisor';
const DEFAULT_DIST_PORT = 9100;

const USAGE = [
  'beamscope sandbox [--pods N] [--devices N] [--dir DIR] [--port PORT] [--dist-port PORT] [--network loopback|netns] [--tls | --http]',
  '       beamscope sandbox (status | scale N | kill POD | oom-kill POD | partition POD,POD/POD,POD | heal | miscookie POD [--restore] | flood POD POD SECONDS | ticktime POD SECONDS | app-version POD VERSION | upgrade VERSION | stop) [--dir DIR]',
  `       VERSION: a release of the demo app, ${SANDBOX_APP_VERSIONS.join(' or ')}; app-version restarts one pod on it (code skew), upgrade rolls every pod out on it one at a time`,
].join('\n');

/** An Erlang-style cookie: uppercase letters, as `erl` generates for ~/.erlang.cookie. */
function randomCookie(): string {
  return [...randomBytes(20)].map((byte) => String.fromCharCode(65 + (byte % 26))).join('');
}

function kubeconfigFor(api: EmulatedApi): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: CONTEXT,
        cluster: {
          server: api.url,
          ...(api.caPem
            ? { 'certificate-authority-data': Buffer.from(api.caPem).toString('base64') }
            : { 'insecure-skip-tls-verify': true }),
        },
      },
    ],
    users: [{ name: CONTEXT, user: { token: api.token } }],
    contexts: [
      { name: CONTEXT, context: { cluster: CONTEXT, user: CONTEXT, namespace: api.namespace } },
    ],
    'current-context': CONTEXT,
    preferences: {},
  });
}

function configFor(
  namespace: string,
  distPort: number,
  addressMap: readonly AddressMapping[],
): string {
  return stringify({
    clusters: [
      {
        id: 'sandbox',
        displayName: 'Sandbox',
        namespace,
        kubernetes: { kubeconfig: './kubeconfig', context: CONTEXT },
        discovery: { mode: 'endpointSlices', service: SERVICE },
        nodeNaming: { mode: 'ip', basename: SERVICE },
        // Pods are named by the IPs the API publishes; in loopback mode their nodes listen on
        // 127.0.x.y and the address map says so (docs/sandbox.md, "Pod addresses").
        distribution: {
          cookieFile: './cookie',
          port: distPort,
          ...(addressMap.length > 0 ? { addressMap: addressMap.map((map) => ({ ...map })) } : {}),
        },
        // What the demo app registers under names only the configuration can give (its syn
        // scope `devices` is found on the nodes by itself): see docs/sandbox.md.
        registries: {
          horde: { registries: [HORDE_REGISTRY], supervisors: [HORDE_SUPERVISOR] },
        },
      },
    ],
    // The demo records, as the deployed image does: its history outlives a restart of the
    // dashboard (and of the sandbox: the folder is left in place when the sandbox stops).
    history: { store: 'sqlite', path: './history' },
  });
}

/** The folders `mkdir -p dir` created, deepest first, so they can be removed in that order. */
function createdFolders(dir: string, firstCreated: string | undefined): string[] {
  if (firstCreated === undefined) return [];
  const folders: string[] = [];
  for (let current = dir; ; current = dirname(current)) {
    folders.push(current);
    if (current === firstCreated || dirname(current) === current) break;
  }
  return folders;
}

/** Where the compiled demo app is cached between runs (a cache: kept, and safe to delete). */
function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'beamscope');
}

function megabytes(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MB`;
}

/** Starts the sandbox and runs it until a signal or `beamscope sandbox stop`. */
async function runSandbox(
  values: {
    pods?: string;
    devices?: string;
    dir?: string;
    port?: string;
    'dist-port'?: string;
    network?: string;
    tls?: boolean;
    http?: boolean;
  },
  io: CommandIo,
): Promise<number> {
  const startedAt = Date.now();
  const pods = integerOption('pods', values.pods, 3);
  const devices = integerOption('devices', values.devices, 10_000);
  const port = integerOption('port', values.port, 0);
  const distPort = integerOption('dist-port', values['dist-port'], DEFAULT_DIST_PORT, 1);
  if (values.tls && values.http) throw new UsageError('--tls and --http exclude each other');
  const networkMode = values.network ?? 'loopback';
  if (networkMode !== 'loopback' && networkMode !== 'netns') {
    throw new UsageError(`--network takes loopback or netns (got '${networkMode}')`);
  }
  // HTTPS unless asked otherwise: kubectl (client-go) never sends a bearer token over plain
  // http, so an http sandbox answers kubectl with 401 (kubernetes/kubectl#744).
  const tls = !values.http;
  const dir = resolve(values.dir ?? defaultSandboxDir());
  const kubeconfigFile = join(dir, 'kubeconfig');
  const configFile = join(dir, 'beamscope.yaml');
  const cookieFile = join(dir, 'cookie');
  const stateFile = join(dir, STATE_FILE);
  const logDir = join(dir, 'logs');

  const running = await readSandboxState(dir);
  if (running) {
    throw new BeamscopeError(
      'sandbox',
      'sandbox_running',
      `a sandbox is already running in ${dir} (pid ${running.pid}); stop it with: beamscope sandbox stop --dir ${dir}`,
      { exitCode: 3 },
    );
  }

  let stopRequested: () => void = () => {};
  const stopCall = new Promise<'stop'>((done) => (stopRequested = () => done('stop')));
  let stopping = false;
  const stopped = Promise.race([io.stopped, stopCall]).then((reason) => {
    stopping = true;
    return reason;
  });

  const folders = createdFolders(dir, await mkdir(dir, { recursive: true, mode: 0o700 }));
  const cookie = randomCookie();
  let api: EmulatedApi | undefined;
  let keepLogs = false;
  // netns (root): each pod in its own network namespace, owning its pod IP; see docs/sandbox.md.
  const netns = networkMode === 'netns' ? new NetnsPodNetwork() : undefined;
  const network = netns ?? LOOPBACK_NETWORK;
  const runtime = new BeamPodRuntime({
    network,
    cookie,
    devices,
    distPort,
    logDir,
    runDir: join(dir, 'run'),
    cacheDir: cacheDir(),
    // A node that exits unasked is a crashed container: the emulated kubelet restarts it.
    onExit: (pod, code, signal) => api?.control.containerExited(pod.name, { code, signal }),
  });
  try {
    await netns?.start();
    await runtime.checkDistributionPort();
    // Written before the pods start: everything that observes them reads it from here.
    await writeFile(cookieFile, cookie, { mode: 0o600 });
    api = await startEmulatedApi({
      port,
      // In netns mode the pods reach the API at the bridge's address, as beamscope does.
      ...(netns ? { host: netns.gateway } : {}),
      tls,
      terminationGraceMs: TERMINATION_GRACE_MS,
      podRuntime: runtime,
      onStopRequested: stopRequested,
    });
    runtime.attach({
      url: api.url,
      token: api.podToken,
      namespace: api.namespace,
      caFile: api.caFile,
    });
    await writeFile(kubeconfigFile, kubeconfigFor(api), { mode: 0o600 });
    await writeFile(configFile, configFor(api.namespace, distPort, network.addressMap), {
      mode: 0o644,
    });
    await api.control.scale(pods);

    // Ready = every pod's node has its distribution up (the runtime's start resolved).
    const deadline = Date.now() + Math.max(READY_TIMEOUT_MS, pods * PER_POD_TIMEOUT_MS);
    for (;;) {
      const ready = api.control.pods().filter((pod) => pod.ready && !pod.terminating).length;
      if (ready >= pods) break;
      if (stopping) return 0;
      if (Date.now() > deadline) {
        keepLogs = true;
        throw new BeamscopeError(
          'sandbox',
          'pods_not_ready',
          `only ${ready} of the sandbox's ${pods} pods had their BEAM node up within ${Math.round((deadline - startedAt) / 1000)} s; the nodes' logs are in ${logDir}`,
        );
      }
      await sleep(50);
    }

    const state: SandboxState = {
      pid: process.pid,
      api: api.url,
      ...(api.caFile ? { caFile: api.caFile } : {}),
      token: api.token,
      namespace: api.namespace,
      distPort,
      kubeconfig: kubeconfigFile,
      config: configFile,
      cookieFile,
    };
    await writeFile(stateFile, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });

    const stats: BeamPodStats = runtime.stats();
    const startMs = Date.now() - startedAt;
    const nodes = api.control
      .pods()
      .map((pod) => runtime.nodeName(pod))
      .sort();
    io.stderr(
      `beamscope sandbox: Kubernetes API at ${api.url}, service ${SERVICE} with ${pods} BEAM pods (${nodes.join(', ')}) on distribution port ${distPort}, ${devices} devices; up in ${(startMs / 1000).toFixed(1)} s, nodes ${megabytes(stats.rssBytes)} resident (${megabytes(stats.pssBytes)} proportional); control: beamscope sandbox --dir ${dir} (scale N | kill POD | oom-kill POD | partition … | heal | miscookie POD | app-version POD VERSION | upgrade VERSION | stop); stop with Ctrl-C\n`,
    );
    io.stdout(
      JSON.stringify({
        ready: true,
        kubeconfig: kubeconfigFile,
        config: configFile,
        api: api.url,
        cookie: cookieFile,
        state: stateFile,
        distPort,
        network: networkMode,
        pods,
        nodes,
        devices,
        startMs,
        nodesStartMs: stats.startMs.total,
        rssBytes: stats.rssBytes,
        pssBytes: stats.pssBytes,
      }) + '\n',
    );
    await stopped;
    return 0;
  } finally {
    await runtime.stopAll();
    await api?.stop();
    await netns?.stop();
    for (const file of [stateFile, kubeconfigFile, configFile, cookieFile]) {
      await rm(file, { force: true });
    }
    if (!keepLogs) {
      await rm(logDir, { recursive: true, force: true });
      for (const folder of folders) await rmdir(folder).catch(() => undefined); // only if empty
    }
  }
}

/**
 * `beamscope sandbox`: an emulated Kubernetes API with a Service `myapp` whose N pods each run a
 * real BEAM node (`myapp@127.0.0.x`, epmd-less on one port) that clusters through that API, plus
 * the kubeconfig, beamscope config and cookie to point beamscope (or kubectl) at it. Runs until
 * SIGINT/SIGTERM or `beamscope sandbox stop`, then stops every node and removes what it wrote.
 * With a subcommand it drives the sandbox running in `--dir` through its control API.
 */
export const sandboxCommand: Command = {
  name: 'sandbox',
  summary:
    'run an emulated Kubernetes cluster of real BEAM pods (or drive it: scale, kill, partition, …)',
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(
      argv,
      {
        pods: { type: 'string' },
        devices: { type: 'string' },
        dir: { type: 'string' },
        port: { type: 'string' },
        'dist-port': { type: 'string' },
        network: { type: 'string' },
        tls: { type: 'boolean' },
        http: { type: 'boolean' },
        restore: { type: 'boolean' },
      },
      true,
    );
    const [subcommand, ...args] = positionals;
    if (subcommand === undefined) {
      if (values.restore) throw new UsageError('--restore goes with miscookie only');
      return runSandbox(values, io);
    }
    if (!CONTROL_COMMANDS.includes(subcommand)) {
      throw new UsageError(`unknown sandbox subcommand '${subcommand}'`);
    }
    const startOnly = (
      ['pods', 'devices', 'port', 'dist-port', 'network', 'tls', 'http'] as const
    ).find((option) => values[option] !== undefined);
    if (startOnly)
      throw new UsageError(`--${startOnly} is for starting a sandbox, not '${subcommand}'`);
    return runControl(subcommand, args, values, io);
  },
};
