import 'server-only';

// The sandbox's BEAM pods as a whole: which pod runs which node, starting and stopping them for
// the emulated API, and the controls across pods (partition, heal, cookies, kill, stopAll). How
// one node runs is pod-process's; its command line is erl-args's.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { BeamscopeError } from '../../errors';
import type { PodInfo, PodRuntime } from '../kube-api';
import type { NetworkFault } from '../kube-api/cluster/sandbox-control';
import { compileDemoApp, DEMO_APP_SOURCE_DIR } from './demo-app';
import {
  BASE_DEMO_APP_VERSION,
  demoAppVersion,
  demoOverlayEbin,
  type DemoAppVersion,
} from './demo-versions';
import { LOOPBACK_NETWORK, podIpFromIndex, type PodNetworkPlan } from '../pod-network';
import { assertPodIp, erlArgs, nodeName } from './erl-args';
import { PodProcess } from './pod-process';
import type {
  BeamPodApi,
  BeamPodExit,
  BeamPodNodeInfo,
  BeamPodRuntimeOptions,
  BeamPodStats,
} from './types';

// The runtime is where its users look for the shapes it takes and reports.
export type * from './types';

function randomCookie(): string {
  return [...randomBytes(20)].map((byte) => String.fromCharCode(65 + (byte % 26))).join('');
}

/**
 * Runs a real BEAM node per sandbox pod: the demo app (`server/sandbox/beam/erlang`) that meshes
 * itself the way libcluster's Kubernetes strategy does and spreads devices over the mesh with a
 * Swarm-compatible registry. Plug it into `startEmulatedApi({ podRuntime })`; the emulator calls
 * `start` when a pod's container starts (resolving = the node's distribution is up, so the pod
 * turns Ready) and `stop` when the pod is deleted.
 *
 * Each node is steered through its stdin (one command a line), never through distribution: the
 * app's cookie-protected distribution is what beamscope observes. Nodes halt when their stdin
 * closes, so none outlives this process.
 *
 * Emits `exit` ({@link BeamPodExit}) for every node that exits.
 */
export class BeamPodRuntime extends EventEmitter implements PodRuntime {
  private api: BeamPodApi | undefined;
  private readonly processes = new Map<string, PodProcess>();
  private readonly cookies = new Map<string, string>();
  /** The demo app release each pod runs, fixed when it first starts (as a pod's image is). */
  private readonly versions = new Map<string, DemoAppVersion>();
  /** The release new pods run: the Deployment's template. */
  private templateVersion: DemoAppVersion = BASE_DEMO_APP_VERSION;
  /** Starts whose node is not spawned yet (compiling, waiting for a previous node on the IP). */
  private readonly starting = new Map<string, Promise<void>>();
  private workDir: Promise<string> | undefined;
  /**
   * Set by stopAll, for good: no node starts after it. The emulator's controllers run until the
   * API stops, after the nodes, so a rollout or a restart would otherwise start pods meanwhile.
   */
  private stopped = false;

  private readonly network: PodNetworkPlan;

  constructor(private readonly options: BeamPodRuntimeOptions) {
    super();
    this.api = options.api;
    this.network = options.network ?? LOOPBACK_NETWORK;
  }

  /** Sets where the nodes find the API (known only once `startEmulatedApi` has returned). */
  attach(api: BeamPodApi): void {
    this.api = api;
  }

  /** The node name a pod runs under. */
  nodeName(pod: Pick<PodInfo, 'ip'>): string {
    return nodeName(this.options, pod.ip);
  }

  /** Names of the pods whose node is running. */
  podNames(): string[] {
    return [...this.processes.keys()];
  }

  /** Starts the pod's node; resolves once its distribution is up and the app runs. */
  start(pod: PodInfo): Promise<void> {
    if (this.stopped) return Promise.reject(runtimeStopped(pod.name));
    const existing = this.processes.get(pod.name);
    if (existing && !existing.hasExited) return existing.ready;
    let starting = this.starting.get(pod.name);
    if (!starting) {
      starting = this.launch(pod).finally(() => this.starting.delete(pod.name));
      this.starting.set(pod.name, starting);
    }
    return starting;
  }

  /** Stops the pod's node gracefully (`init:stop()`), SIGKILL after the grace period. */
  async stop(pod: Pick<PodInfo, 'name'>): Promise<void> {
    const entry = this.processes.get(pod.name);
    this.versions.delete(pod.name);
    if (entry) await this.stopProcess(entry);
  }

  /** The demo app release the pod runs (or will run when it starts). */
  appVersion(podName: string): DemoAppVersion {
    return this.versions.get(podName) ?? this.templateVersion;
  }

  /**
   * Restarts the pod's node with another release of the demo app (see demo-versions): the code
   * skew of a deploy that reached one pod. Its restarts keep that release.
   */
  async setAppVersion(podName: string, version: string): Promise<void> {
    const release = demoAppVersion(version);
    const entry = this.entry(podName);
    this.versions.set(podName, release);
    await this.stopProcess(entry);
    await this.start(entry.pod);
  }

  /** The release pods created from now on run (a rollout then replaces the others). */
  setTemplateVersion(version: string): void {
    this.templateVersion = demoAppVersion(version);
  }

  /** SIGKILLs the pod's node, as a crashing container; `onExit` reports it. */
  kill(podName: string): void {
    this.entry(podName).kill();
  }

  /**
   * Splits the mesh: each side's nodes refuse every other side's (disconnect now, never connect,
   * drop their connections). Sides list pod names or pod IPs; pods in no side are left alone.
   */
  async partition(sides: string[][]): Promise<void> {
    const resolved = sides.map((side) => side.map((member) => this.resolvePod(member)));
    await Promise.all(
      resolved.flatMap((side, index) => {
        const others = resolved
          .filter((_, other) => other !== index)
          .flat()
          .map((entry) => entry.node);
        return side.map((entry) => entry.command('partition', others.join(',')));
      }),
    );
  }

  /**
   * Has `fromPod`'s node flood the link to `toPod`'s with 1 MB messages for `seconds` (the demo
   * app's myapp_flood; `seconds` 0 stops a flood under way). Pods by name or IP.
   */
  async flood(fromPod: string, toPod: string, seconds: number): Promise<void> {
    const from = this.resolvePod(fromPod);
    if (seconds <= 0) {
      await from.command('flood', 'stop');
      return;
    }
    const to = this.resolvePod(toPod);
    await from.command('flood', `${to.node} ${Math.round(seconds)}`);
  }

  /** Gives the pod's node another `net_ticktime` (a 5 s transition), the others keeping theirs. */
  async setTicktime(podName: string, seconds: number): Promise<void> {
    await this.resolvePod(podName).command('ticktime', String(Math.round(seconds)));
  }

  /** Ends every partition: the nodes mesh again at their next poll. */
  async heal(): Promise<void> {
    await this.network.heal?.();
    await Promise.all(this.running().map((entry) => entry.command('heal')));
  }

  /** A fault made by the kernel's network (netns mode only; the loopback mode has none). */
  async networkFault(fault: NetworkFault): Promise<void> {
    if (!this.network.fault) {
      throw new BeamscopeError(
        'sandbox',
        'not_supported',
        'network faults need the netns mode (beamscope sandbox --network netns, as root)',
      );
    }
    await this.network.fault(fault);
  }

  /**
   * Restarts the pod's node with this cookie (the cluster's cookie puts it back). With a wrong
   * one the node runs but never joins: every handshake fails on the cookie.
   */
  async setCookie(podName: string, cookie: string): Promise<void> {
    const entry = this.entry(podName);
    if (cookie === this.options.cookie) this.cookies.delete(podName);
    else this.cookies.set(podName, cookie);
    await this.stopProcess(entry);
    await this.start(entry.pod);
  }

  /**
   * Restarts the pod's node with a random wrong cookie: the classic "it never joins". `restore`:
   * with the cluster's cookie again.
   */
  miscookie(podName: string, restore = false): Promise<void> {
    return this.setCookie(podName, restore ? this.options.cookie : randomCookie());
  }

  /**
   * Fails with one line naming the port when the distribution port is taken where the first pod
   * listens (epmdless mode): in loopback mode the port is machine-wide for 127.0.x.y, so a second
   * sandbox (or anything else on it) would make every node fail to start.
   */
  async checkDistributionPort(podIp = podIpFromIndex(0)): Promise<void> {
    if (this.options.distribution === 'epmd' || !this.network.sharesPorts) return;
    const ip = this.network.listenAddress(podIp);
    const port = this.options.distPort ?? 9100;
    await new Promise<void>((resolveCheck, rejectCheck) => {
      const probe = createServer();
      probe.once('error', (error: NodeJS.ErrnoException) =>
        rejectCheck(
          new BeamscopeError(
            'sandbox',
            'dist_port_in_use',
            error.code === 'EADDRINUSE'
              ? `the distribution port ${port} on ${ip} is already in use (another sandbox?): stop it or choose another port (--dist-port)`
              : `cannot use the distribution port ${port} on ${ip}: ${error.code ?? error.message}`,
            { cause: error, exitCode: 3 },
          ),
        ),
      );
      probe.listen(port, ip, () => probe.close(() => resolveCheck()));
    });
  }

  /** Evaluates an Erlang expression on the pod's node; resolves to its `~p` text on one line. */
  eval(podName: string, expression: string, options: { timeoutMs?: number } = {}): Promise<string> {
    return this.entry(podName).command(
      'eval',
      expression.replace(/[\r\n]+/g, ' '),
      options.timeoutMs,
    );
  }

  /** What the pod's node reports about its mesh and registry. */
  async info(podName: string): Promise<BeamPodNodeInfo> {
    const info = JSON.parse(await this.entry(podName).command('info')) as BeamPodNodeInfo;
    return { ...info, appVersion: this.appVersion(podName) };
  }

  /**
   * Stops every node (graceful, then SIGKILL) and removes the runtime's private files; no node
   * starts afterwards. A start under way either has spawned its node (it is among those stopped)
   * or gives up at its next step: both are waited for, so nothing is left behind.
   */
  async stopAll(): Promise<void> {
    this.stopped = true;
    await Promise.all([
      ...[...this.processes.values()].map((entry) => this.stopProcess(entry)),
      ...[...this.starting.values()].map((start) => start.catch(() => undefined)),
    ]);
    const workDir = this.workDir;
    this.workDir = undefined;
    if (workDir) await rm(await workDir, { recursive: true, force: true }).catch(() => undefined);
  }

  /** Running nodes, how long they took to come up, and their resident memory. */
  stats(): BeamPodStats {
    const running = this.running();
    const byPod: Record<string, number> = {};
    let first = Infinity;
    let last = 0;
    let rssBytes = 0;
    let pssBytes = 0;
    for (const entry of running) {
      if (entry.readyAt !== undefined) {
        byPod[entry.pod.name] = entry.readyAt - entry.startedAt;
        first = Math.min(first, entry.startedAt);
        last = Math.max(last, entry.readyAt);
      }
      const memory = entry.memory();
      rssBytes += memory.rssBytes;
      pssBytes += memory.pssBytes;
    }
    return {
      pods: running.length,
      startMs: { byPod, total: last > 0 ? last - first : 0 },
      rssBytes,
      pssBytes,
    };
  }

  /** OS pids of the running emulators (beam.smp: `erl` execs it). */
  pids(): number[] {
    return this.running().flatMap((entry) => (entry.pid ? [entry.pid] : []));
  }

  /** Starts one pod's node, step by step; on any failure no node of this start is left. */
  private async launch(pod: PodInfo): Promise<void> {
    const api = this.attachedApi();
    // Before any side effect: a pod that cannot run must not stop another or leave a cookie.
    assertPodIp(pod.ip);
    await this.releaseIp(pod);
    const ebin = await compileDemoApp(
      this.options.sourceDir ?? DEMO_APP_SOURCE_DIR,
      resolve(this.options.cacheDir ?? join('.beamscope', 'cache')),
    );
    const cacheDir = resolve(this.options.cacheDir ?? join('.beamscope', 'cache'));
    const version = this.appVersion(pod.name);
    this.versions.set(pod.name, version);
    const overlayEbin = await demoOverlayEbin(version, cacheDir, this.options.sourceDir);
    if (this.stopped) throw runtimeStopped(pod.name);
    const workDir = await this.ensureWorkDir(api);
    const home = join(workDir, pod.name);
    const cookieFile = await this.writeCookie(home, pod.name);
    const logDir = await this.ensureLogDir();
    await this.network.addPod?.(pod.ip);
    // Nothing is awaited from here to the node's registration, so stopAll sees every node spawned.
    if (this.stopped) throw runtimeStopped(pod.name);
    const network = this.network;
    const entry = PodProcess.spawn({
      pod,
      node: this.nodeName(pod),
      args: erlArgs({
        options: this.options,
        ip: pod.ip,
        listenIp: this.network.listenAddress(pod.ip),
        addressMap: this.network.addressMap,
        ebin,
        overlayEbin,
        tokenFile: join(workDir, 'token'),
        api,
      }),
      ...(network.wrap
        ? { wrap: (command: string, args: string[]) => network.wrap!(pod.ip, command, args) }
        : {}),
      home,
      logFile: join(logDir, `${pod.name}.log`),
      onExit: this.processExited,
    });
    this.processes.set(pod.name, entry);
    await this.whenUp(entry, cookieFile);
  }

  private attachedApi(): BeamPodApi {
    if (this.api) return this.api;
    throw new BeamscopeError(
      'sandbox',
      'runtime_not_attached',
      'the BEAM pod runtime does not know the API yet: call attach() after startEmulatedApi',
    );
  }

  /**
   * The emulator hands a deleted pod's IP to the next pod once the grace period is over, which
   * may be before the old node has exited and freed IP:port: wait for (or make) it to go.
   */
  private async releaseIp(pod: PodInfo): Promise<void> {
    await Promise.all(
      [...this.processes.values()]
        .filter((other) => other.pod.ip === pod.ip && other.pod.name !== pod.name)
        .map((other) => this.stopProcess(other)),
    );
  }

  /** The node's cookie, in its private HOME rather than on its command line; fresh each start. */
  private async writeCookie(home: string, podName: string): Promise<string> {
    await mkdir(home, { recursive: true, mode: 0o700 });
    const cookieFile = join(home, '.erlang.cookie');
    // Removed first: a 0400 file left by an earlier start cannot be written over.
    await rm(cookieFile, { force: true });
    await writeFile(cookieFile, this.cookies.get(podName) ?? this.options.cookie, {
      mode: 0o400,
    });
    return cookieFile;
  }

  private async ensureLogDir(): Promise<string> {
    const logDir = resolve(this.options.logDir ?? join('.beamscope', 'sandbox-logs'));
    await mkdir(logDir, { recursive: true });
    return logDir;
  }

  /** Waits for the node; if it does not come up, it goes (and is not restarted as a crash). */
  private async whenUp(entry: PodProcess, cookieFile: string): Promise<void> {
    try {
      await entry.whenUp(this.options.startTimeoutMs ?? 30_000);
      // The node read its cookie when distribution started: no need to leave it on disk.
      await rm(cookieFile, { force: true });
    } catch (error) {
      await entry.discard();
      throw error;
    }
  }

  private readonly processExited = (
    entry: PodProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void => {
    // A newer node of the same pod may already be registered (a restart after a stop).
    if (this.processes.get(entry.pod.name) === entry) this.processes.delete(entry.pod.name);
    const exit: BeamPodExit = {
      pod: entry.pod,
      node: entry.node,
      code,
      signal,
      expected: entry.expectedExit,
    };
    this.emit('exit', exit);
    if (!entry.expectedExit) this.options.onExit?.(entry.pod, code, signal);
  };

  private running(): PodProcess[] {
    return [...this.processes.values()].filter((entry) => !entry.hasExited);
  }

  private entry(podName: string): PodProcess {
    const entry = this.processes.get(podName);
    if (!entry || entry.hasExited) throw notRunning(podName);
    return entry;
  }

  /** A running pod's process, by pod name or pod IP. */
  private resolvePod(member: string): PodProcess {
    const entry =
      this.processes.get(member) ?? this.running().find((candidate) => candidate.pod.ip === member);
    if (!entry || entry.hasExited) throw notRunning(member);
    return entry;
  }

  private async ensureWorkDir(api: BeamPodApi): Promise<string> {
    this.workDir ??= (async () => {
      if (this.options.runDir === undefined) return mkdtemp(join(tmpdir(), 'beamscope-pods-'));
      await mkdir(this.options.runDir, { recursive: true, mode: 0o700 });
      return this.options.runDir;
    })();
    const dir = await this.workDir;
    // Rewritten on each start: attach() may have handed a new API (and token) meanwhile.
    await writeFile(join(dir, 'token'), api.token, { mode: 0o600 });
    return dir;
  }

  private stopProcess(entry: PodProcess): Promise<void> {
    return entry.stop(this.options.stopGraceMs ?? 5_000);
  }
}

function runtimeStopped(pod: string): BeamscopeError {
  return new BeamscopeError(
    'sandbox',
    'runtime_stopped',
    `pod "${pod}" was not started: the sandbox's nodes are stopping`,
  );
}

function notRunning(pod: string): BeamscopeError {
  return new BeamscopeError('sandbox', 'pod_not_running', `no running node for pod "${pod}"`);
}
