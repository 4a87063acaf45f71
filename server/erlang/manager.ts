import 'server-only';

import { EventEmitter } from 'node:events';

import PQueue from 'p-queue';

import { backoffDelay } from '@/lib/backoff';
import type { BeamConnectionCode } from '@/lib/codes';

import { BeamscopeError } from '../errors';
import type { Term } from './codec/terms';
import { connectNode, type DistributionTls } from './connect';
import type { NodeConnection, RpcOptions } from './connection';
import { erlangError, isErlangError } from './errors';
import { defaultLocalNodeName, parseNodeName } from './node-name';

/** Where the manager stands with one node. */
export type NodeConnectionState =
  | { status: 'connecting' | 'connected'; since: number }
  | {
      status: 'unreachable' | 'auth_failed' | 'timeout';
      since: number;
      /** The operator-facing message of the last failure (never contains the cookie). */
      reason: string;
      /** The error code, e.g. `epmd_unreachable`, `node_down`, `auth_failed`. */
      code: BeamConnectionCode;
    };

/** Options of {@link ConnectionManager}. */
export interface ConnectionManagerOptions {
  /** Our node name; default `beamscope_maint_server@<address>` (see {@link defaultLocalNodeName}). */
  localName?: string;
  cookie: string;
  /** Fixed distribution port (epmd-less clusters). */
  port?: number;
  epmdPort?: number;
  tls?: DistributionTls;
  /** Where to dial a node's host (see ConnectOptions.dialHost); default the host itself. */
  dialHost?: (host: string) => string;
  /**
   * Connection attempts in flight at once (a cluster of 1,000 pods must not open 1,000 at once).
   * Default {@link connectConcurrency} of the tracked nodes: with 8, a 1,000-node cluster took
   * minutes to connect on a busy machine.
   */
  maxConcurrentConnects?: number;
  /** Reconnect delays of tracked nodes: doubling from `initialMs` up to `maxMs`, with jitter. */
  backoff?: { initialMs: number; maxMs: number };
  connectTimeoutMs?: number;
  tickIntervalMs?: number;
  maxFrameBytes?: number;
  /** Seam for tests: how to open one connection. */
  connect?: typeof connectNode;
  /** Seam for tests: uniform random in [0, 1) for the jitter. */
  random?: () => number;
}

interface NodeEntry {
  node: string;
  state: NodeConnectionState;
  tracked: boolean;
  connection?: NodeConnection;
  connecting?: Promise<NodeConnection>;
  /** Failed attempts since the last success; drives the backoff. */
  failures: number;
  retryTimer?: NodeJS.Timeout;
  lastError?: BeamscopeError<'erlang'>;
}

const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000 };

/**
 * How many connection attempts run at once for `tracked` nodes: one per 16 nodes, from 32 to
 * 128. An attempt mostly waits (a handshake is four round trips, 50–100 ms at 1,000 nodes on a
 * busy machine against well under a millisecond of CPU), so a fixed 32 set a floor of two to
 * three seconds on connecting 1,000 nodes and twice that at 2,000. Each attempt goes to another
 * node: what a node bears is one handshake whatever the bound; the bound keeps the start from
 * opening every socket at once.
 */
export function connectConcurrency(tracked: number): number {
  return Math.min(128, Math.max(32, Math.ceil(tracked / 16)));
}

/**
 * One distribution connection per target node, shared by every caller: concurrent `rpc` calls
 * use the same connection and concurrent connects to one node coalesce into one attempt.
 * `track()` keeps a set of nodes connected, reconnecting with exponential backoff and jitter.
 * Emits `'state'` (node, state) on every change of a node's state.
 */
export class ConnectionManager extends EventEmitter<{
  state: [node: string, state: NodeConnectionState];
}> {
  /** Our node name, the same for every connection this manager opens. */
  readonly localName: string;
  private readonly entries = new Map<string, NodeEntry>();
  private readonly connect: typeof connectNode;
  private readonly backoff: { initialMs: number; maxMs: number };
  /**
   * Connection attempts wait their turn here: a cluster of 2,000 pods listed at once opens its
   * connections `maxConcurrentConnects` at a time, not all together.
   */
  private readonly connectSlots: PQueue;
  private readonly random: () => number;
  private closed = false;

  constructor(private readonly options: ConnectionManagerOptions) {
    super();
    this.localName = options.localName ?? defaultLocalNodeName('server');
    parseNodeName(this.localName);
    this.connect = options.connect ?? connectNode;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.connectSlots = new PQueue({
      concurrency: Math.max(1, options.maxConcurrentConnects ?? connectConcurrency(0)),
    });
    this.random = options.random ?? Math.random;
  }

  /**
   * Runs an RPC on `node`, connecting first if needed. A tracked node that is waiting to
   * reconnect fails at once with its last error rather than opening another connection.
   */
  async rpc(
    node: string,
    module: string,
    fn: string,
    args: Term[],
    options?: RpcOptions,
  ): Promise<Term> {
    const connection = await this.connection(node);
    return connection.rpc(module, fn, args, options);
  }

  /** The node's current state; a node the manager has never seen is reported unreachable. */
  state(node: string): NodeConnectionState {
    return this.entries.get(node)?.state ?? unseenNodeState(node);
  }

  /**
   * Keeps exactly `nodes` connected: connects to new ones, reconnects lost ones with backoff and
   * closes the connections of nodes that were tracked before and are not in the list any more.
   */
  track(nodes: string[]): void {
    if (this.closed) return;
    const wanted = new Set(nodes);
    for (const entry of [...this.entries.values()]) {
      if (entry.tracked && !wanted.has(entry.node)) this.forget(entry);
    }
    if (this.options.maxConcurrentConnects === undefined)
      this.connectSlots.concurrency = connectConcurrency(wanted.size);
    for (const node of wanted) {
      const entry = this.entry(node);
      entry.tracked = true;
      if (!entry.connection && !entry.connecting && !entry.retryTimer) this.startConnect(entry);
    }
  }

  /**
   * Takes down the node's connection with `reason` as its state. For a node whose socket stays
   * open while the node answers nothing (SIGSTOPped, swapped out, wedged): only whole ticks
   * would notice, after four tick intervals (a minute), and meanwhile it would show as
   * connected. A tracked node then reconnects with backoff, as after any other loss.
   */
  drop(node: string, reason: BeamscopeError<'erlang'>): void {
    this.entries.get(node)?.connection?.close(reason);
  }

  /** Closes every connection and stops reconnecting; the manager cannot be used afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    const attempts: Array<Promise<unknown>> = [];
    for (const entry of this.entries.values()) {
      clearTimeout(entry.retryTimer);
      entry.retryTimer = undefined;
      if (entry.connecting) attempts.push(entry.connecting.catch(() => undefined));
      entry.connection?.close();
    }
    // Attempts still waiting for a slot start, find the manager closed and fail at once.
    await Promise.all(attempts);
    this.entries.clear();
  }

  private entry(node: string): NodeEntry {
    let entry = this.entries.get(node);
    if (!entry) {
      parseNodeName(node);
      entry = {
        node,
        tracked: false,
        failures: 0,
        state: { status: 'connecting', since: Date.now() },
      };
      this.entries.set(node, entry);
    }
    return entry;
  }

  private async connection(node: string): Promise<NodeConnection> {
    if (this.closed) throw erlangError('node_down', 'the connection manager is closed');
    const entry = this.entry(node);
    if (entry.connection?.connected) return entry.connection;
    if (entry.connecting) return entry.connecting;
    if (entry.retryTimer && entry.lastError) throw entry.lastError;
    return this.startConnect(entry);
  }

  private startConnect(entry: NodeEntry): Promise<NodeConnection> {
    this.setState(entry, { status: 'connecting', since: Date.now() });
    const attempt = this.withConnectSlot(() =>
      this.connect(entry.node, {
        localName: this.localName,
        cookie: this.options.cookie,
        port: this.options.port,
        epmdPort: this.options.epmdPort,
        tls: this.options.tls,
        connectTimeoutMs: this.options.connectTimeoutMs,
        tickIntervalMs: this.options.tickIntervalMs,
        maxFrameBytes: this.options.maxFrameBytes,
        dialHost: this.options.dialHost,
      }),
    ).then(
      (connection) => {
        entry.connecting = undefined;
        if (this.closed || this.entries.get(entry.node) !== entry) {
          connection.close();
          throw erlangError('node_down', `connection to node ${entry.node} no longer wanted`);
        }
        entry.connection = connection;
        entry.failures = 0;
        entry.lastError = undefined;
        connection.once('down', (reason) => this.onDown(entry, connection, reason));
        this.setState(entry, { status: 'connected', since: Date.now() });
        return connection;
      },
      (error: unknown) => {
        entry.connecting = undefined;
        const failure = isErlangError(error)
          ? error
          : erlangError(
              'dist_unreachable',
              `cannot connect to node ${entry.node}: ${String(error)}`,
              {
                cause: error,
              },
            );
        if (!this.closed && this.entries.get(entry.node) === entry) {
          entry.failures += 1;
          entry.lastError = failure;
          this.setState(entry, failureState(failure));
          if (entry.tracked) this.scheduleReconnect(entry);
        }
        throw failure;
      },
    );
    entry.connecting = attempt;
    // Tracked connects run without a caller; their failure is recorded in the state.
    attempt.catch(() => undefined);
    return attempt;
  }

  private onDown(
    entry: NodeEntry,
    connection: NodeConnection,
    reason: BeamscopeError<'erlang'>,
  ): void {
    if (entry.connection !== connection) return;
    entry.connection = undefined;
    if (this.closed || this.entries.get(entry.node) !== entry) return;
    entry.lastError = reason;
    this.setState(entry, failureState(reason));
    if (entry.tracked) this.scheduleReconnect(entry);
  }

  private scheduleReconnect(entry: NodeEntry): void {
    clearTimeout(entry.retryTimer);
    // "Equal jitter": at least half the delay, so retries of many nodes spread out but never bunch at 0.
    const delay = backoffDelay(
      entry.failures - 1,
      { ...this.backoff, jitter: 'equal' },
      this.random(),
    );
    entry.retryTimer = setTimeout(() => {
      entry.retryTimer = undefined;
      if (!this.closed && entry.tracked && !entry.connection && !entry.connecting) {
        this.startConnect(entry);
      }
    }, delay);
    entry.retryTimer.unref();
  }

  private forget(entry: NodeEntry): void {
    clearTimeout(entry.retryTimer);
    entry.retryTimer = undefined;
    entry.tracked = false;
    this.entries.delete(entry.node);
    entry.connection?.close();
  }

  private async withConnectSlot<T>(task: () => Promise<T>): Promise<T> {
    return this.connectSlots.add(() => {
      if (this.closed) throw erlangError('node_down', 'the connection manager is closed');
      return task();
    });
  }

  private setState(entry: NodeEntry, state: NodeConnectionState): void {
    entry.state = state;
    this.emit('state', entry.node, state);
  }
}

/** The state of a node a manager has never seen (nor tracks): unreachable, not connected. */
export function unseenNodeState(node: string): NodeConnectionState {
  return {
    status: 'unreachable',
    since: Date.now(),
    reason: `not connected to node ${node}`,
    code: 'not_connected',
  };
}

function failureState(error: BeamscopeError<'erlang'>): NodeConnectionState {
  const status =
    error.code === 'auth_failed'
      ? 'auth_failed'
      : error.code === 'timeout'
        ? 'timeout'
        : 'unreachable';
  return { status, since: Date.now(), reason: error.message, code: error.code };
}
