import 'server-only';

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer } from 'node:net';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { BeamscopeError } from '../../errors';
import type { PodInfo, PodRuntime } from '../kube-api';
import { compileDemoApp, DEMO_APP_SOURCE_DIR } from './demo-app';
import { assertLoopbackIp, erlArgs, nodeName } from './erl-args';
import type {
  BeamPodApi,
  BeamPodExit,
  BeamPodNodeInfo,
  BeamPodRuntimeOptions,
  BeamPodStats,
} from './types';

// The runtime is where its users look for the shapes it takes and reports.
export type * from './types';

const REPLY_PATTERN = /^@@myapp (\S+) (ok|error|ready) ?(.*)$/;
const DEFAULT_COMMAND_TIMEOUT_MS = 15_000;

interface PendingReply {
  resolve: (text: string) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

interface PodProcess {
  pod: PodInfo;
  node: string;
  child: ChildProcess;
  startedAt: number;
  readyAt?: number;
  ready: Promise<void>;
  exited: Promise<void>;
  hasExited: boolean;
  expectedExit: boolean;
  pending: Map<string, PendingReply>;
  log: WriteStream;
  stopping?: Promise<void>;
}

/** Every emulator any runtime started and has not seen exit; killed if this process exits. */
const liveEmulators = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackEmulator(child: ChildProcess): void {
  liveEmulators.add(child);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Belt and braces: a node also halts when its stdin closes, which happens when we die.
  process.once('exit', () => {
    for (const emulator of liveEmulators) emulator.kill('SIGKILL');
  });
}

function randomCookie(): string {
  return [...randomBytes(20)].map((byte) => String.fromCharCode(65 + (byte % 26))).join('');
}

/** A `Name:   123 kB` figure of a /proc file, in bytes (0 once the process is gone). */
function procKilobytes(path: string, field: string): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(path, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
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
  /** Starts whose node is not spawned yet (compiling, waiting for a previous node on the IP). */
  private readonly starting = new Map<string, Promise<void>>();
  private workDir: Promise<string> | undefined;
  private commandSequence = 0;

  constructor(private readonly options: BeamPodRuntimeOptions) {
    super();
    this.api = options.api;
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
    const existing = this.processes.get(pod.name);
    if (existing && !existing.hasExited) return existing.ready;
    let starting = this.starting.get(pod.name);
    if (!starting) {
      starting = this.launch(pod).finally(() => this.starting.delete(pod.name));
      this.starting.set(pod.name, starting);
    }
    return starting;
  }

  private async launch(pod: PodInfo): Promise<void> {
    const api = this.api;
    if (!api) {
      throw new BeamscopeError(
        'sandbox',
        'runtime_not_attached',
        'the BEAM pod runtime does not know the API yet: call attach() after startEmulatedApi',
      );
    }
    // Before any side effect: a pod that cannot run must not stop another or leave a cookie.
    assertLoopbackIp(pod.ip);
    // The emulator hands a deleted pod's IP to the next pod once the grace period is over, which
    // may be before the old node has exited and freed IP:port: wait for (or make) it to go.
    await Promise.all(
      [...this.processes.values()]
        .filter((other) => other.pod.ip === pod.ip && other.pod.name !== pod.name)
        .map((other) => this.stopProcess(other)),
    );
    const ebin = await compileDemoApp(
      this.options.sourceDir ?? DEMO_APP_SOURCE_DIR,
      resolve(this.options.cacheDir ?? join('.beamscope', 'cache')),
    );
    const workDir = await this.ensureWorkDir(api);
    const home = join(workDir, pod.name);
    await mkdir(home, { recursive: true, mode: 0o700 });
    const cookieFile = join(home, '.erlang.cookie');
    await rm(cookieFile, { force: true });
    await writeFile(cookieFile, this.cookies.get(pod.name) ?? this.options.cookie, {
      mode: 0o400,
    });
    const logDir = resolve(this.options.logDir ?? join('.beamscope', 'sandbox-logs'));
    await mkdir(logDir, { recursive: true });

    const node = this.nodeName(pod);
    const args = erlArgs({
      options: this.options,
      ip: pod.ip,
      ebin,
      tokenFile: join(workDir, 'token'),
      api,
    });

    const log = createWriteStream(join(logDir, `${pod.name}.log`), { flags: 'a' });
    log.on('error', () => undefined); // a full or vanished log folder must not crash the sandbox
    log.write(`--- ${new Date().toISOString()} starting ${node}\n`);
    const child = spawn('erl', args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, HOME: home },
    });
    trackEmulator(child);

    let markReady: () => void = () => {};
    let failStart: (error: Error) => void = () => {};
    const ready = new Promise<void>((resolveReady, rejectReady) => {
      markReady = resolveReady;
      failStart = rejectReady;
    });
    let markExited: () => void = () => {};
    const entry: PodProcess = {
      pod,
      node,
      child,
      startedAt: Date.now(),
      ready,
      exited: new Promise<void>((done) => {
        markExited = done;
      }),
      hasExited: false,
      expectedExit: false,
      pending: new Map(),
      log,
    };
    this.processes.set(pod.name, entry);

    let buffered = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        const reply = REPLY_PATTERN.exec(line);
        if (!reply) {
          if (line.length > 0) log.write(`${line}\n`);
          continue;
        }
        const [, id = '', status, text = ''] = reply;
        if (status === 'ready') {
          entry.readyAt = Date.now();
          log.write(`--- ${new Date().toISOString()} ${node} is up\n`);
          markReady();
          continue;
        }
        const pending = entry.pending.get(id);
        if (!pending) continue;
        entry.pending.delete(id);
        clearTimeout(pending.timer);
        if (status === 'ok') pending.resolve(text);
        else
          pending.reject(
            new BeamscopeError('sandbox', 'pod_command_failed', `${node} answered: ${text}`),
          );
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => log.write(chunk));
    child.stdin!.on('error', () => undefined); // EPIPE once the node is gone; 'exit' reports it

    const gone = (code: number | null, signal: NodeJS.Signals | null) => {
      if (entry.hasExited) return;
      entry.hasExited = true;
      liveEmulators.delete(child);
      log.end(`--- ${new Date().toISOString()} ${node} exited (code ${code}, signal ${signal})\n`);
      for (const pending of entry.pending.values()) {
        clearTimeout(pending.timer);
        pending.reject(new BeamscopeError('sandbox', 'pod_exited', `${node} exited`));
      }
      entry.pending.clear();
      failStart(
        new BeamscopeError(
          'sandbox',
          'pod_start_failed',
          `${node} (pod ${pod.name}) exited with code ${code} before its distribution was up; see ${logDir}/${pod.name}.log`,
        ),
      );
      if (this.processes.get(pod.name) === entry) this.processes.delete(pod.name);
      markExited();
      const exit: BeamPodExit = { pod, node, code, signal, expected: entry.expectedExit };
      this.emit('exit', exit);
      if (!entry.expectedExit) this.options.onExit?.(pod, code, signal);
    };
    // 'close', not 'exit': the node's last output lines are in by then, so the log can end.
    child.once('close', gone);
    child.once('error', (error: NodeJS.ErrnoException) => {
      // `erl` missing or not executable: no 'close' follows a failed spawn.
      if (child.pid !== undefined || entry.hasExited) return;
      log.write(`--- cannot run erl: ${error.message}\n`);
      gone(error.code === 'ENOENT' ? 127 : 126, null);
    });

    const timeoutMs = this.options.startTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new BeamscopeError(
              'sandbox',
              'pod_start_timeout',
              `${node} (pod ${pod.name}) was not up within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      await Promise.race([ready, late]);
      // The node read its cookie when distribution started: no need to leave it on disk.
      await rm(cookieFile, { force: true });
    } catch (error) {
      entry.expectedExit = true;
      if (!entry.hasExited) child.kill('SIGKILL');
      await entry.exited;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops the pod's node gracefully (`init:stop()`), SIGKILL after the grace period. */
  async stop(pod: Pick<PodInfo, 'name'>): Promise<void> {
    const entry = this.processes.get(pod.name);
    if (entry) await this.stopProcess(entry);
  }

  /** SIGKILLs the pod's node, as a crashing container; `onExit` reports it. */
  kill(podName: string): void {
    const entry = this.processes.get(podName);
    if (!entry || entry.hasExited) {
      throw new BeamscopeError(
        'sandbox',
        'pod_not_running',
        `no running node for pod "${podName}"`,
      );
    }
    entry.child.kill('SIGKILL');
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
        return side.map((entry) => this.command(entry, 'partition', others.join(',')));
      }),
    );
  }

  /** Ends every partition: the nodes mesh again at their next poll. */
  async heal(): Promise<void> {
    await Promise.all(this.running().map((entry) => this.command(entry, 'heal')));
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
   * Fails with one line naming the port when the distribution port is taken on the first pod
   * address (epmdless mode): the port is machine-wide for 127.0.0.x, so a second sandbox (or
   * anything else on it) would make every node fail to start.
   */
  async checkDistributionPort(ip = '127.0.0.2'): Promise<void> {
    if (this.options.distribution === 'epmd') return;
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
    return this.command(
      this.entry(podName),
      'eval',
      expression.replace(/[\r\n]+/g, ' '),
      options.timeoutMs,
    );
  }

  /** What the pod's node reports about its mesh and registry. */
  async info(podName: string): Promise<BeamPodNodeInfo> {
    return JSON.parse(await this.command(this.entry(podName), 'info')) as BeamPodNodeInfo;
  }

  /** Stops every node (graceful, then SIGKILL) and removes the runtime's private files. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.processes.values()].map((entry) => this.stopProcess(entry)));
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
      if (entry.child.pid !== undefined) {
        rssBytes += procKilobytes(`/proc/${entry.child.pid}/status`, 'VmRSS');
        pssBytes += procKilobytes(`/proc/${entry.child.pid}/smaps_rollup`, 'Pss');
      }
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
    return this.running().flatMap((entry) => (entry.child.pid ? [entry.child.pid] : []));
  }

  private running(): PodProcess[] {
    return [...this.processes.values()].filter((entry) => !entry.hasExited);
  }

  private entry(podName: string): PodProcess {
    const entry = this.processes.get(podName);
    if (!entry || entry.hasExited) {
      throw new BeamscopeError(
        'sandbox',
        'pod_not_running',
        `no running node for pod "${podName}"`,
      );
    }
    return entry;
  }

  private resolvePod(member: string): PodProcess {
    const entry =
      this.processes.get(member) ?? this.running().find((candidate) => candidate.pod.ip === member);
    if (!entry || entry.hasExited) {
      throw new BeamscopeError('sandbox', 'pod_not_running', `no running node for pod "${member}"`);
    }
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

  private command(
    entry: PodProcess,
    command: string,
    argument = '',
    timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS,
  ): Promise<string> {
    if (entry.hasExited) {
      return Promise.reject(
        new BeamscopeError('sandbox', 'pod_not_running', `${entry.node} is not running`),
      );
    }
    this.commandSequence += 1;
    const id = String(this.commandSequence);
    return new Promise<string>((resolveReply, rejectReply) => {
      const timer = setTimeout(() => {
        entry.pending.delete(id);
        rejectReply(
          new BeamscopeError(
            'sandbox',
            'pod_command_timeout',
            `${entry.node} did not answer "${command}" within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      entry.pending.set(id, { resolve: resolveReply, reject: rejectReply, timer });
      entry.child.stdin!.write(`${id} ${command}${argument ? ` ${argument}` : ''}\n`);
    });
  }

  private stopProcess(entry: PodProcess): Promise<void> {
    entry.stopping ??= (async () => {
      entry.expectedExit = true;
      if (entry.hasExited) return;
      this.command(entry, 'stop', '', 2_000).catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((done) => {
        timer = setTimeout(() => done('late'), this.options.stopGraceMs ?? 5_000);
      });
      if ((await Promise.race([entry.exited.then(() => 'exited' as const), late])) === 'late') {
        entry.child.kill('SIGKILL');
        await entry.exited;
      }
      clearTimeout(timer);
    })();
    return entry.stopping;
  }
}
