import 'server-only';

// A cluster's connection manager on a thread of its own. At 1,000 nodes the sockets, the
// encoding and the probes' replies held the server's one thread in stretches of 100 ms and more
// (issue 16), and a page's change waited behind them: a Kubernetes event read late, an SSE
// message sent late. Here the thread holds the connections and runs the probes; this side keeps
// the manager's interface, so the collector, the lookups and the comparisons call it as before.

import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';

import { backoffDelay } from '@/lib/backoff';
import type { ErlangCode } from '@/lib/codes';

import { BeamscopeError, describeError } from '../../errors';
import { decodeTerm, encodeTerm } from '../../erlang/codec';
import type { Term } from '../../erlang/codec/terms';
import type { RpcOptions } from '../../erlang/connection';
import { BadRpcError, erlangError } from '../../erlang/errors';
import { unseenNodeState, type NodeConnectionState } from '../../erlang/manager';
import { parseNodeName } from '../../erlang/node-name';
import type { NodeProbeReport, ProbeOptions } from '../../erlang/probes/run';
import type { CopyComparison } from '../divergence';
import type { LinkPlan, LinkReading } from '../link-follower';
import { type FromThread, type ThreadError, type ThreadSetup, type ToThread } from './protocol';

/** How long a thread that stopped unasked waits before it starts again, doubling while it fails. */
export const THREAD_RESTART_BACKOFF = { initialMs: 1000, maxMs: 30_000 } as const;

/**
 * How the thread's module is loaded. In Next's server (`NEXT_RUNTIME` set) the thread is a chunk
 * the build bundled. Anywhere else (the tests, the CLI, the benches) it is TypeScript from the
 * sources, loaded as `bin/beamscope.mjs` loads the CLI: tsx, and the condition under which
 * `server-only` is empty.
 */
function threadExecArgv(): string[] | undefined {
  return process.env.NEXT_RUNTIME ? undefined : ['--conditions=react-server', '--import', 'tsx'];
}

interface PendingCall {
  resolve(value: unknown): void;
  reject(error: Error): void;
  encodedReply?: boolean;
}

/**
 * The {@link ConnectionManager}'s interface, its work done on a worker thread: `rpc` sends the
 * arguments encoded and decodes the reply here (or hands it over encoded, as asked); `probe`
 * runs a whole probe there and returns its report. States arrive as the thread's manager emits
 * them and are kept here, so `state()` answers at once.
 */
export class ThreadedConnectionManager extends EventEmitter<{
  state: [node: string, state: NodeConnectionState];
}> {
  readonly localName: string;
  private worker: Worker;
  private readonly pending = new Map<number, PendingCall>();
  /** The thread's messages not yet taken in (see `receive`). */
  private readonly inbox: FromThread[] = [];
  private readonly states = new Map<string, NodeConnectionState>();
  private tracked = new Set<string>();
  private nextId = 1;
  private closing: Promise<void> | null = null;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Restarts since the thread last answered; the last failure told in the log. */
  private restarts = 0;
  private toldFailure: string | null = null;

  constructor(
    private readonly setup: ThreadSetup,
    /** Who the log lines name: the cluster's id. */
    private readonly clusterId: string,
  ) {
    super();
    parseNodeName(setup.localName);
    this.localName = setup.localName;
    this.worker = this.startThread();
  }

  state(node: string): NodeConnectionState {
    return this.states.get(node) ?? unseenNodeState(node);
  }

  track(nodes: string[]): void {
    if (this.closing) return;
    for (const node of nodes) parseNodeName(node);
    const wanted = new Set(nodes);
    // The thread's manager forgets the nodes it tracked and tracks no more; a node it only
    // called (a lookup's, say) it keeps, connected, as this side keeps its state.
    for (const node of this.tracked) if (!wanted.has(node)) this.states.delete(node);
    this.tracked = wanted;
    this.post({ type: 'track', nodes: [...wanted] });
    // As the manager does in its own `track`: a node new to it is connecting from now on. One
    // it already holds (connected by a call before it was tracked) stays as it is, there and here.
    for (const node of wanted) {
      if (!this.states.has(node)) this.setState(node, { status: 'connecting', since: Date.now() });
    }
  }

  drop(node: string, reason: BeamscopeError): void {
    this.post({ type: 'drop', node, code: reason.code as ErlangCode, message: reason.message });
  }

  rpc(node: string, module: string, fn: string, args: Term[], options?: RpcOptions) {
    return this.call<Term>(
      {
        type: 'rpc',
        id: 0,
        node,
        module,
        fn,
        args: encodeTerm(args),
        ...(options?.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      },
      { encodedReply: options?.encodedReply === true },
    );
  }

  /**
   * One probe of `node` run on the thread (see `runProbes`), its links read as `links` plans and
   * followed there (see `LinkFollower`).
   */
  async probe(
    node: string,
    options: ProbeOptions,
    links: LinkPlan,
  ): Promise<{ report: NodeProbeReport; links: LinkReading }> {
    const { now: _now, chooseQueues: _choose, links: _links, ...rest } = options;
    return this.call({ type: 'probe', id: 0, node, options: rest, links }, {});
  }

  /** Compares the copies of `registry` on `nodes` on the thread (see `compareCopies`). */
  compare(
    registry: string,
    nodes: readonly string[],
    options: { timeoutMs: number },
  ): Promise<CopyComparison | null> {
    return this.call(
      { type: 'compare', id: 0, registry, nodes: [...nodes], timeoutMs: options.timeoutMs },
      {},
    );
  }

  /** Closes every connection and stops the thread. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      clearTimeout(this.restartTimer);
      const worker = this.worker;
      const done = () => {
        clearTimeout(timer);
        void worker.terminate().then(() => resolve());
      };
      // A thread that does not answer within a second is stopped all the same.
      const timer = setTimeout(done, 1000);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      worker.on('message', (message: FromThread) => {
        if (message.type === 'closed') done();
      });
      worker.postMessage({ type: 'close' } satisfies ToThread);
    }).then(() => this.failPending(erlangError('node_down', 'the connection manager is closed')));
    return this.closing;
  }

  private startThread(): Worker {
    const worker = new Worker(new URL('./thread.ts', import.meta.url), {
      workerData: this.setup,
      ...(threadExecArgv() ? { execArgv: threadExecArgv() } : {}),
      name: `beamscope distribution (${this.clusterId})`,
    });
    // The connections live on the thread; they do not keep the process up by themselves.
    worker.unref();
    worker.on('message', (message: FromThread) => this.receive(message));
    let failure: string | null = null;
    worker.on('error', (error) => {
      failure = describeError(error);
    });
    worker.on('exit', (code) => this.onExit(worker, failure ?? `exit code ${code}`));
    return worker;
  }

  /**
   * The thread stopped unasked: every call fails, every node is down with the reason, and it
   * starts again after a backoff. The log says so once per new reason, not at every restart.
   */
  private onExit(worker: Worker, failure: string): void {
    if (this.closing || worker !== this.worker) return;
    const reason = erlangError('node_down', `the distribution thread stopped: ${failure}`);
    if (this.toldFailure !== failure) {
      this.toldFailure = failure;
      console.error(`beamscope: cluster ${this.clusterId}: ${reason.message}; starting it again`);
    }
    this.failPending(reason);
    for (const node of this.tracked) {
      this.setState(node, {
        status: 'unreachable',
        since: Date.now(),
        reason: reason.message,
        code: 'node_down',
      });
    }
    const delay = backoffDelay(
      this.restarts,
      { ...THREAD_RESTART_BACKOFF, jitter: 'equal' },
      Math.random(),
    );
    this.restarts += 1;
    this.restartTimer = setTimeout(() => {
      if (this.closing) return;
      this.worker = this.startThread();
      this.post({ type: 'track', nodes: [...this.tracked] });
    }, delay);
    this.restartTimer.unref();
  }

  private call<T>(
    message: Extract<ToThread, { id: number }>,
    extra: Pick<PendingCall, 'encodedReply'>,
  ): Promise<T> {
    if (this.closing) {
      return Promise.reject(erlangError('node_down', 'the connection manager is closed'));
    }
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, ...extra });
      this.post({ ...message, id });
    });
  }

  private post(message: ToThread): void {
    this.worker.postMessage(message);
  }

  /**
   * Takes in the thread's messages one per turn of the event loop. The thread answers many
   * probes at once, and every message waiting is delivered in one turn: the work they start here
   * (a link reading is milliseconds of it), all run in that turn's microtasks, would then hold
   * the loop as long as the probes on this thread did, a watch event or a page's request waiting
   * behind it. An immediate runs its microtasks before the next, and the next turn's: I/O first.
   */
  private receive(message: FromThread): void {
    this.inbox.push(message);
    if (this.inbox.length === 1) setImmediate(this.takeOne);
  }

  private readonly takeOne = (): void => {
    const message = this.inbox.shift();
    if (message) this.onMessage(message);
    if (this.inbox.length > 0) setImmediate(this.takeOne);
  };

  private onMessage(message: FromThread): void {
    if (this.restarts > 0) {
      // It answers: a later failure is news again, and restarts start from the shortest wait.
      this.restarts = 0;
      this.toldFailure = null;
    }
    switch (message.type) {
      case 'state':
        // Every node the thread's manager holds, tracked or only called, as `state()` there
        // would tell it. (One told just before the thread forgot it is told again, as
        // connecting, should it be tracked again; the collector ignores nodes it does not hold.)
        this.setState(message.node, message.state);
        return;
      case 'closed':
        return;
    }
    const call = this.pending.get(message.id);
    if (!call) return;
    this.pending.delete(message.id);
    if (message.type === 'failed') call.reject(errorFromThread(message.error));
    else if (message.type === 'compared') call.resolve(message.result);
    else if (message.type === 'report')
      call.resolve({ report: message.report, links: message.links });
    else {
      const bytes = Buffer.from(
        message.bytes.buffer,
        message.bytes.byteOffset,
        message.bytes.byteLength,
      );
      call.resolve(call.encodedReply ? bytes : decodeTerm(bytes));
    }
  }

  private setState(node: string, state: NodeConnectionState): void {
    this.states.set(node, state);
    this.emit('state', node, state);
  }

  private failPending(error: Error): void {
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const call of calls) call.reject(error);
  }
}

/** The error a call failed with on the thread, as the caller would have had it there. */
function errorFromThread(error: ThreadError): Error {
  if (error.surface !== 'erlang') return new Error(error.message);
  const code = error.code as ErlangCode;
  if (code === 'badrpc' && error.reason) {
    return new BadRpcError(error.message, decodeTerm(error.reason));
  }
  return erlangError(code, error.message);
}
