import 'server-only';

// One sandbox pod's emulator: spawning `erl`, its log file, its exit, and the line protocol of
// erlang/myapp_control.erl (`<id> <command> [argument]` lines on stdin; `@@myapp <id> ok|error
// <text>` replies and one `@@myapp 0 ready <node>` line on stdout). Which pods run, and when, is
// the runtime's business.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';

import { BeamscopeError } from '../../errors';
import type { PodInfo } from '../kube-api';

const REPLY_PATTERN = /^@@myapp (\S+) (ok|error|ready) ?(.*)$/;
const DEFAULT_COMMAND_TIMEOUT_MS = 15_000;
/** `stop` is answered at once; a node that cannot answer is killed after the grace period. */
const STOP_COMMAND_TIMEOUT_MS = 2_000;

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

/** A `Name:   123 kB` figure of a /proc file, in bytes (0 once the process is gone). */
function procKilobytes(path: string, field: string): number {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(path, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

interface PendingReply {
  resolve: (text: string) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** What {@link PodProcess.spawn} starts. */
export interface PodProcessOptions {
  pod: PodInfo;
  node: string;
  /** The `erl` arguments (see erl-args). */
  args: string[];
  /** How `erl` is run, e.g. inside the pod's network namespace; default as is. */
  wrap?: (command: string, args: string[]) => { command: string; args: string[] };
  /** The node's HOME: it reads its cookie from `.erlang.cookie` there. */
  home: string;
  /** Appended to across restarts: one file tells a pod's whole story. */
  logFile: string;
  /**
   * Called once, when the process is gone and its log ended. Every process exits through here:
   * a crash, a stop, a failed spawn.
   */
  onExit: (entry: PodProcess, code: number | null, signal: NodeJS.Signals | null) => void;
}

/** A running (or exited) `erl` for one pod, steered through its stdin. */
export class PodProcess {
  readonly pod: PodInfo;
  readonly node: string;
  /** When `erl` was spawned (ms since the epoch). */
  readonly startedAt: number;
  /** Resolves when the node announces that its distribution is up and the app runs. */
  readonly ready: Promise<void>;
  /** Resolves when the process is gone. */
  readonly exited: Promise<void>;
  private readyTime: number | undefined;
  private gone = false;
  private expected = false;
  private readonly pending = new Map<string, PendingReply>();
  private commandSequence = 0;
  private stopping: Promise<void> | undefined;
  private markReady: () => void = () => {};
  private failStart: (error: Error) => void = () => {};
  private markExited: () => void = () => {};

  /** Opens the pod's log and spawns its emulator. */
  static spawn(options: PodProcessOptions): PodProcess {
    const log = createWriteStream(options.logFile, { flags: 'a' });
    log.on('error', () => undefined); // a full or vanished log folder must not crash the sandbox
    log.write(`--- ${new Date().toISOString()} starting ${options.node}\n`);
    const command = options.wrap?.('erl', options.args) ?? { command: 'erl', args: options.args };
    const child = spawn(command.command, command.args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, HOME: options.home },
    });
    trackEmulator(child);
    return new PodProcess(options, child, log);
  }

  private constructor(
    private readonly options: PodProcessOptions,
    private readonly child: ChildProcess,
    private readonly log: WriteStream,
  ) {
    this.pod = options.pod;
    this.node = options.node;
    this.startedAt = Date.now();
    this.ready = new Promise<void>((resolveReady, rejectReady) => {
      this.markReady = resolveReady;
      this.failStart = rejectReady;
    });
    this.exited = new Promise<void>((done) => {
      this.markExited = done;
    });

    let buffered = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        this.onLine(line);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => log.write(chunk));
    child.stdin!.on('error', () => undefined); // EPIPE once the node is gone; 'close' reports it
    // 'close', not 'exit': the node's last output lines are in by then, so the log can end.
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) =>
      this.onGone(code, signal),
    );
    child.once('error', (error: NodeJS.ErrnoException) => {
      // `erl` missing or not executable: no 'close' follows a failed spawn.
      if (child.pid !== undefined || this.gone) return;
      log.write(`--- cannot run erl: ${error.message}\n`);
      this.onGone(error.code === 'ENOENT' ? 127 : 126, null);
    });
  }

  /** When the node announced it was up (ms since the epoch). */
  get readyAt(): number | undefined {
    return this.readyTime;
  }

  get hasExited(): boolean {
    return this.gone;
  }

  /** Asked for (stop, a failed start) rather than a kill or a crash. */
  get expectedExit(): boolean {
    return this.expected;
  }

  /** The emulator's OS pid (beam.smp: `erl` execs it). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resident and proportional memory of the emulator, in bytes (0 once it is gone). */
  memory(): { rssBytes: number; pssBytes: number } {
    if (this.child.pid === undefined) return { rssBytes: 0, pssBytes: 0 };
    return {
      rssBytes: procKilobytes(`/proc/${this.child.pid}/status`, 'VmRSS'),
      pssBytes: procKilobytes(`/proc/${this.child.pid}/smaps_rollup`, 'Pss'),
    };
  }

  /**
   * Waits for the ready line. Rejects when the node exits first or is not up within `timeoutMs`;
   * the node is then still running, for the caller to {@link PodProcess.discard}.
   */
  async whenUp(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new BeamscopeError(
              'sandbox',
              'pod_start_timeout',
              `${this.node} (pod ${this.pod.name}) was not up within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.ready, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends a node that failed to start; its exit is expected, so nothing restarts it. */
  async discard(): Promise<void> {
    this.expected = true;
    if (!this.gone) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGKILLs the node as a crashing container would: an unexpected exit. */
  kill(): void {
    this.child.kill('SIGKILL');
  }

  /** Stops the node gracefully (`init:stop()`), SIGKILL after `graceMs`; once, however often asked. */
  stop(graceMs: number): Promise<void> {
    this.stopping ??= (async () => {
      this.expected = true;
      if (this.gone) return;
      this.command('stop', '', STOP_COMMAND_TIMEOUT_MS).catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((done) => {
        timer = setTimeout(() => done('late'), graceMs);
      });
      if ((await Promise.race([this.exited.then(() => 'exited' as const), late])) === 'late') {
        this.child.kill('SIGKILL');
        await this.exited;
      }
      clearTimeout(timer);
    })();
    return this.stopping;
  }

  /** Sends one command; resolves to the node's `ok` text, rejects on `error`, exit or timeout. */
  command(command: string, argument = '', timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS): Promise<string> {
    if (this.gone) {
      return Promise.reject(
        new BeamscopeError('sandbox', 'pod_not_running', `${this.node} is not running`),
      );
    }
    // Ids only have to be unique on this node's channel: replies are matched per process.
    this.commandSequence += 1;
    const id = String(this.commandSequence);
    return new Promise<string>((resolveReply, rejectReply) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        rejectReply(
          new BeamscopeError(
            'sandbox',
            'pod_command_timeout',
            `${this.node} did not answer "${command}" within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve: resolveReply, reject: rejectReply, timer });
      this.child.stdin!.write(`${id} ${command}${argument ? ` ${argument}` : ''}\n`);
    });
  }

  /** One stdout line: a reply, the ready line, or the node's own output (kept in the log). */
  private onLine(line: string): void {
    const reply = REPLY_PATTERN.exec(line);
    if (!reply) {
      if (line.length > 0) this.log.write(`${line}\n`);
      return;
    }
    const [, id = '', status, text = ''] = reply;
    if (status === 'ready') {
      this.readyTime = Date.now();
      this.log.write(`--- ${new Date().toISOString()} ${this.node} is up\n`);
      this.markReady();
      return;
    }
    const pending = this.pending.get(id);
    if (!pending) return; // timed out already
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if (status === 'ok') pending.resolve(text);
    else
      pending.reject(
        new BeamscopeError('sandbox', 'pod_command_failed', `${this.node} answered: ${text}`),
      );
  }

  private onGone(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.gone) return;
    this.gone = true;
    liveEmulators.delete(this.child);
    this.log.end(
      `--- ${new Date().toISOString()} ${this.node} exited (code ${code}, signal ${signal})\n`,
    );
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new BeamscopeError('sandbox', 'pod_exited', `${this.node} exited`));
    }
    this.pending.clear();
    // A no-op once the node was up.
    this.failStart(
      new BeamscopeError(
        'sandbox',
        'pod_start_failed',
        `${this.node} (pod ${this.pod.name}) exited with code ${code} before its distribution was up; see ${this.options.logFile}`,
      ),
    );
    this.markExited();
    this.options.onExit(this, code, signal);
  }
}
