import 'server-only';

import { randomBytes } from 'node:crypto';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

import { stringify } from 'yaml';

import type { AddressMapping } from '../../erlang/address-map';
import { BeamscopeError } from '../../errors';
import { BeamPodRuntime, type BeamPodStats } from '../../sandbox/beam/runtime';
import {
  defaultSandboxDir,
  processAlive,
  readSandboxState,
  SandboxControlClient,
  STATE_FILE,
  type SandboxState,
} from '../../sandbox/control-client';
import { startEmulatedApi, type EmulatedApi, type PodStatusReport } from '../../sandbox/kube-api';
import { NetnsPodNetwork } from '../../sandbox/netns/network';
import { LOOPBACK_NETWORK } from '../../sandbox/pod-network';
import { integerOption, parseCommandArgs } from '../args';
import { UsageError, type Command, type CommandIo } from '../command';

const SERVICE = 'myapp';
const CONTEXT = 'sandbox';
/** The demo app's Horde-layout registry and dynamic supervisor (myapp_tables, myapp_gateway). */
const HORDE_REGISTRY = 'MyApp.DeviceRegistry';
const HORDE_SUPERVISOR = 'MyApp.GatewaySupervisor';
const DEFAULT_DIST_PORT = 9100;
/** 20 pods take 14–22 s on a 2-core machine; allow for a loaded one. */
const READY_TIMEOUT_MS = 60_000;
const PER_POD_TIMEOUT_MS = 3_000;
/** The pods' terminationGracePeriodSeconds: a stopping node gets this long before SIGKILL. */
const TERMINATION_GRACE_MS = 10_000;

const USAGE = [
  'beamscope sandbox [--pods N] [--devices N] [--dir DIR] [--port PORT] [--dist-port PORT] [--network loopback|netns] [--tls | --http]',
  '       beamscope sandbox (status | scale N | kill POD | oom-kill POD | partition POD,POD/POD,POD | heal | miscookie POD [--restore] | flood POD POD SECONDS | ticktime POD SECONDS | stop) [--dir DIR]',
].join('\n');

const CONTROL_COMMANDS = [
  'status',
  'scale',
  'kill',
  'oom-kill',
  'partition',
  'heal',
  'miscookie',
  'flood',
  'ticktime',
  'stop',
];

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

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

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
      `beamscope sandbox: Kubernetes API at ${api.url}, service ${SERVICE} with ${pods} BEAM pods (${nodes.join(', ')}) on distribution port ${distPort}, ${devices} devices; up in ${(startMs / 1000).toFixed(1)} s, nodes ${megabytes(stats.rssBytes)} resident (${megabytes(stats.pssBytes)} proportional); control: beamscope sandbox --dir ${dir} (scale N | kill POD | oom-kill POD | partition … | heal | miscookie POD | stop); stop with Ctrl-C\n`,
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

/** `A,B/C,D` → [['A','B'],['C','D']]. */
function parseSides(text: string | undefined): string[][] {
  const sides = (text ?? '').split('/').map((side) =>
    side
      .split(',')
      .map((member) => member.trim())
      .filter(Boolean),
  );
  if (sides.length < 2 || sides.some((side) => side.length === 0)) {
    throw new UsageError(
      `partition takes two or more sides of pod names or IPs, like POD,POD/POD (got '${text ?? ''}')`,
    );
  }
  return sides;
}

function describePod(pod: { name: string; ip: string }): string {
  return `${pod.name} (${pod.ip})`;
}

/** Polls the sandbox until `replicas` pods are Ready and none is terminating. */
async function waitForScale(client: SandboxControlClient, replicas: number): Promise<number> {
  const deadline = Date.now() + Math.max(READY_TIMEOUT_MS, replicas * PER_POD_TIMEOUT_MS);
  for (;;) {
    const { pods } = await client.call<{ pods: PodStatusReport[] }>('GET', '/status');
    const ready = pods.filter((pod) => pod.ready && !pod.terminating).length;
    if (ready === replicas && pods.every((pod) => !pod.terminating)) return ready;
    if (Date.now() > deadline) {
      throw new BeamscopeError(
        'sandbox',
        'pods_not_ready',
        `scaled to ${replicas}, but only ${ready} pods were ready after ${Math.round(READY_TIMEOUT_MS / 1000)} s`,
      );
    }
    await sleep(250);
  }
}

/** `beamscope sandbox scale|kill|oom-kill|partition|heal|miscookie|status|stop`, through the control API. */
async function runControl(
  subcommand: string,
  args: string[],
  values: { dir?: string; restore?: boolean },
  io: CommandIo,
): Promise<number> {
  const arity: Record<string, number> = {
    scale: 1,
    kill: 1,
    'oom-kill': 1,
    partition: 1,
    miscookie: 1,
    flood: 3,
    ticktime: 2,
  };
  if (args.length !== (arity[subcommand] ?? 0)) {
    throw new UsageError(
      `sandbox ${subcommand} takes ${arity[subcommand] ?? 'no'} argument${arity[subcommand] === 1 ? '' : 's'}`,
    );
  }
  if (values.restore && subcommand !== 'miscookie') {
    throw new UsageError('--restore goes with miscookie only');
  }
  const [argument] = args;
  const replicas = subcommand === 'scale' ? integerOption('replicas', argument, 0) : 0;
  const sides = subcommand === 'partition' ? parseSides(argument) : [];
  const dir = resolve(values.dir ?? defaultSandboxDir());
  const client = await SandboxControlClient.open(dir);
  const pod = encodeURIComponent(argument ?? '');
  switch (subcommand) {
    case 'status': {
      io.stdout(JSON.stringify(await client.call('GET', '/status')) + '\n');
      return 0;
    }
    case 'scale': {
      await client.call('POST', '/scale', { replicas });
      const ready = await waitForScale(client, replicas);
      io.stdout(`scaled ${SERVICE} to ${replicas} pods, ${ready} ready\n`);
      return 0;
    }
    case 'kill': {
      const reply = await client.call<{ pod: { name: string; ip: string } }>(
        'POST',
        `/pods/${pod}/kill`,
      );
      io.stdout(`killed the node of pod ${describePod(reply.pod)}; it restarts after a back-off\n`);
      return 0;
    }
    case 'oom-kill': {
      const reply = await client.call<{ pod: { name: string; ip: string } }>(
        'POST',
        `/pods/${pod}/oom-kill`,
      );
      io.stdout(
        `OOM-killed the node of pod ${describePod(reply.pod)} (OOMKilled, exit code 137); it restarts after a back-off\n`,
      );
      return 0;
    }
    case 'partition': {
      const reply = await client.call<{ sides: string[][] }>('POST', '/partition', { sides });
      io.stdout(`partitioned: ${reply.sides.map((side) => side.join(',')).join(' / ')}\n`);
      return 0;
    }
    case 'heal': {
      await client.call('POST', '/heal');
      io.stdout('healed: every partition is gone, the nodes mesh again\n');
      return 0;
    }
    case 'miscookie': {
      const reply = await client.call<{ pod: { name: string; ip: string } }>(
        'POST',
        `/pods/${pod}/miscookie`,
        { restore: values.restore === true },
      );
      io.stdout(
        values.restore
          ? `pod ${describePod(reply.pod)} restarted with the cluster's cookie\n`
          : `pod ${describePod(reply.pod)} restarted with a wrong cookie: it will not join\n`,
      );
      return 0;
    }
    case 'flood': {
      const seconds = integerOption('seconds', args[2], 0, 0);
      const reply = await client.call<{ from: string; to: string }>('POST', `/pods/${pod}/flood`, {
        to: args[1],
        seconds,
      });
      io.stdout(
        seconds === 0
          ? `pod ${reply.from} stopped flooding\n`
          : `pod ${reply.from} floods its link to ${reply.to} for ${seconds} s\n`,
      );
      return 0;
    }
    case 'ticktime': {
      const seconds = integerOption('seconds', args[1], 60, 5);
      const reply = await client.call<{ pod: { name: string; ip: string } }>(
        'POST',
        `/pods/${pod}/ticktime`,
        { seconds },
      );
      io.stdout(`pod ${describePod(reply.pod)} now runs with net_ticktime ${seconds} s\n`);
      return 0;
    }
    case 'stop': {
      await client.call('POST', '/stop');
      const deadline = Date.now() + TERMINATION_GRACE_MS + 30_000;
      while (processAlive(client.state.pid)) {
        if (Date.now() > deadline) {
          throw new BeamscopeError(
            'sandbox',
            'stop_timeout',
            `the sandbox in ${dir} (pid ${client.state.pid}) is still running`,
          );
        }
        await sleep(100);
      }
      io.stdout(`stopped the sandbox in ${dir}\n`);
      return 0;
    }
  }
  throw new UsageError(`unknown sandbox subcommand '${subcommand}'`);
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
