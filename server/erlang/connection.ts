import 'server-only';

/**
 * One established connection to a node: framing, ticks, the RPC calls in flight and their
 * replies, and going down cleanly. `connectNode` (`connect.ts`) opens it.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';

import { describeError, type BeamscopeError } from '../errors';
import { decodeTerm, formatTerm } from './codec';
import { Atom, Pid, Tuple, atom, tuple, type Term } from './codec/terms';
import { BadRpcError, erlangError, isErlangError } from './errors';
import {
  encodeDistMessage,
  FrameReader,
  parseDistControl,
  parseDistPayload,
  isBadRpcReply,
  rexReplyBytes,
  TICK_FRAME,
} from './frames';

/** Options of {@link NodeConnection.rpc}. */
export interface RpcOptions {
  /** Default 10000. The call is abandoned (its late reply dropped) when this passes. */
  timeoutMs?: number;
  /**
   * Resolve with the reply as `term_to_binary` would give it (a binary, 131 first) instead of
   * the decoded term, for a caller whose decoder fits the reply better than the general one
   * (`codec/lists.ts`: 5,000 module names or md5s). A `badrpc` still rejects.
   */
  encodedReply?: boolean;
}

/** What the handshake established, as the connection needs it. */
export interface SessionInfo {
  node: string;
  localName: string;
  localCreation: number;
  peerFlags: bigint;
  peerCreation: number;
}

const DEFAULT_TICK_INTERVAL_MS = 15_000;
const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
const DEFAULT_RPC_TIMEOUT_MS = 10_000;
/** A peer silent for this many tick intervals is gone (OTP: net_ticktime = 4 tick intervals). */
const SILENT_TICKS = 4;
/** Long `badrpc` reasons (a stack trace with arguments) are cut in the error message. */
const MAX_REASON_CHARS = 600;

/** Control message opcodes (Distribution Protocol, "Protocol between connected nodes"). */
const Op = {
  LINK: 1,
  SEND: 2,
  EXIT: 3,
  UNLINK: 4,
  REG_SEND: 6,
  SEND_TT: 12,
  MONITOR_P: 19,
  MONITOR_P_EXIT: 21,
  SEND_SENDER: 22,
  SEND_SENDER_TT: 23,
  UNLINK_ID: 35,
  UNLINK_ID_ACK: 36,
} as const;

/** Pid numbers stay within the classic 15 bits (and serials within 13) that every OTP accepts. */
const MAX_PID_NUMBER = 0x7fff;
const MAX_PID_SERIAL = 0x1fff;

interface PendingCall {
  /** The reply is wanted undecoded (see {@link RpcOptions.encodedReply}). */
  encoded: boolean;
  resolve(term: Term): void;
  reject(error: BeamscopeError): void;
  timer: NodeJS.Timeout;
}

/**
 * An established distribution connection to one node, as a hidden node with no processes: it
 * ticks, answers what the peer may send a pid that does not exist (links, monitors), and runs
 * RPCs through the peer's `rex` server. Emits `'down'` (a {@link BeamscopeError}) once, when the
 * connection ends for any reason, after every pending call has been rejected with `node_down`.
 */
export class NodeConnection extends EventEmitter<{ down: [reason: BeamscopeError<'erlang'>] }> {
  readonly node: string;
  readonly peerFlags: bigint;
  readonly peerCreation: number;
  private readonly localNode: Atom;
  private readonly localCreation: number;
  private readonly reader: FrameReader;
  private readonly pending = new Map<string, PendingCall>();
  private readonly tickTimer: NodeJS.Timeout;
  private readonly tickIntervalMs: number;
  private readonly maxUnsentBytes: number;
  private nextPidNumber = 1;
  private nextPidSerial = 0;
  private sentSinceTick = false;
  private corked = false;
  private silentIntervals = 0;
  private downReason: BeamscopeError<'erlang'> | undefined;

  /**
   * Takes over a stream on which the handshake has completed (see {@link connectNode}).
   * `leftover` holds bytes the peer sent right after its acknowledgement.
   */
  constructor(
    private readonly stream: Duplex,
    session: SessionInfo,
    options: { tickIntervalMs?: number; maxFrameBytes?: number } = {},
    leftover: Buffer[] = [],
  ) {
    super();
    this.node = session.node;
    this.peerFlags = session.peerFlags;
    this.peerCreation = session.peerCreation;
    this.localNode = atom(session.localName);
    this.localCreation = session.localCreation;
    this.tickIntervalMs = options.tickIntervalMs ?? DEFAULT_TICK_INTERVAL_MS;
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxUnsentBytes = maxFrameBytes;
    this.reader = new FrameReader({ headerBytes: 4, maxFrameBytes });

    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('close', this.onEnd);
    stream.on('error', this.onError);
    this.tickTimer = setInterval(this.onTickInterval, this.tickIntervalMs);
    this.tickTimer.unref();
    for (const chunk of leftover) this.onData(chunk);
    stream.resume();
  }

  /** True until the connection went down (or was closed). */
  get connected(): boolean {
    return this.downReason === undefined;
  }

  /** Why the connection went down; `undefined` while it is up. */
  get closeReason(): BeamscopeError<'erlang'> | undefined {
    return this.downReason;
  }

  /** Calls `module:fn(args...)` on the node through `rex` (what `rpc:call/4` does). */
  rpc(module: string, fn: string, args: Term[], options: RpcOptions = {}): Promise<Term> {
    if (this.downReason) return Promise.reject(this.downReason);
    const timeoutMs = options.timeoutMs ?? DEFAULT_RPC_TIMEOUT_MS;
    const self = this.newPid();
    const key = pidKey(self);
    const what = `${module}:${fn}/${args.length}`;
    return new Promise<Term>((resolve, reject) => {
      const timer = setTimeout(() => {
        // A late reply finds no entry and is dropped.
        this.pending.delete(key);
        reject(
          erlangError(
            'timeout',
            `rpc ${what} on node ${this.node} timed out after ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.pending.set(key, {
        encoded: options.encodedReply === true,
        timer,
        reject,
        resolve: (reply) => {
          if (reply instanceof Tuple && reply.arity === 2 && reply.at(0) === atom('badrpc')) {
            reject(badRpcError(this.node, what, reply.at(1) ?? atom('undefined')));
          } else resolve(reply);
        },
      });
      this.send(
        tuple(Op.REG_SEND, self, atom(''), atom('rex')),
        tuple(self, tuple(atom('call'), atom(module), atom(fn), args, atom('user'))),
      );
    });
  }

  /** Closes the connection; pending calls reject with `node_down`. */
  close(reason?: BeamscopeError<'erlang'>): void {
    this.goDown(
      reason ?? erlangError('node_down', `connection to node ${this.node} closed by beamscope`),
    );
  }

  private newPid(): Pid {
    const pid = new Pid(this.localNode, this.nextPidNumber, this.nextPidSerial, this.localCreation);
    this.nextPidNumber += 1;
    if (this.nextPidNumber > MAX_PID_NUMBER) {
      this.nextPidNumber = 1;
      this.nextPidSerial = (this.nextPidSerial + 1) & MAX_PID_SERIAL;
    }
    return pid;
  }

  private send(control: Term, payload?: Term): void {
    if (this.downReason) return;
    this.sentSinceTick = true;
    // The calls of one probe are issued together: they leave in one write (one syscall), not
    // one each, which was a fifth of the collector's CPU at 1,000 nodes.
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(this.uncork);
    }
    this.stream.write(encodeDistMessage(control, payload));
    // A peer that stops reading would make us buffer every request we send it.
    if (this.stream.writableLength > this.maxUnsentBytes) {
      this.goDown(
        erlangError(
          'node_down',
          `node ${this.node} stopped reading (${this.stream.writableLength} bytes unsent)`,
        ),
      );
    }
  }

  private readonly uncork = (): void => {
    this.corked = false;
    this.stream.uncork();
  };

  private readonly onData = (chunk: Buffer): void => {
    if (this.downReason) return;
    this.reader.push(chunk);
    try {
      for (let frame = this.reader.next(); frame !== undefined; frame = this.reader.next()) {
        this.silentIntervals = 0;
        if (frame.length > 0) this.dispatch(frame);
        if (this.downReason) return;
      }
    } catch (error) {
      this.goDown(
        isErlangError(error, 'frame_too_large')
          ? erlangError('frame_too_large', `node ${this.node}: ${error.message}`, { cause: error })
          : erlangError(
              'protocol',
              `node ${this.node} sent a malformed message: ${describeError(error)}`,
              {
                cause: error,
              },
            ),
      );
    }
  };

  private readonly onEnd = (): void => {
    this.goDown(erlangError('node_down', `connection to node ${this.node} closed`));
  };

  private readonly onError = (error: Error): void => {
    this.goDown(
      erlangError('node_down', `connection to node ${this.node} failed: ${error.message}`, {
        cause: error,
      }),
    );
  };

  private readonly onTickInterval = (): void => {
    // Only whole frames count as signs of life, so a peer trickling an endless frame is silent.
    this.silentIntervals += 1;
    if (this.silentIntervals >= SILENT_TICKS) {
      this.goDown(
        erlangError(
          'node_down',
          `node ${this.node} sent nothing for ${(SILENT_TICKS * this.tickIntervalMs) / 1000} s`,
        ),
      );
      return;
    }
    if (!this.sentSinceTick) this.stream.write(TICK_FRAME);
    this.sentSinceTick = false;
  };

  /** Handles one message; anything unexpected is dropped, never thrown. */
  private dispatch(frame: Buffer): void {
    const { control, payloadAt } = parseDistControl(frame);
    const op = control instanceof Tuple ? control.at(0) : undefined;
    const isSend =
      op === Op.SEND || op === Op.SEND_TT || op === Op.SEND_SENDER || op === Op.SEND_SENDER_TT;
    // A reply to a call that wants it undecoded is copied out as bytes, not decoded here.
    if (isSend && this.deliverEncoded((control as Tuple).at(2), frame, payloadAt)) return;
    const payload = parseDistPayload(frame, payloadAt);
    if (!(control instanceof Tuple)) return;
    switch (op) {
      case Op.SEND:
      case Op.SEND_TT:
      case Op.SEND_SENDER:
      case Op.SEND_SENDER_TT:
        this.deliver(control.at(2), payload);
        return;
      case Op.LINK: {
        // The process does not exist: answer like a node whose process died, with exit noproc.
        const [from, to] = [control.at(1), control.at(2)];
        if (from instanceof Pid && to instanceof Pid)
          this.send(tuple(Op.EXIT, to, from, atom('noproc')));
        return;
      }
      case Op.UNLINK_ID: {
        const [id, from, to] = [control.at(1), control.at(2), control.at(3)];
        if (id !== undefined && from instanceof Pid && to instanceof Pid) {
          this.send(tuple(Op.UNLINK_ID_ACK, id, to, from));
        }
        return;
      }
      case Op.MONITOR_P: {
        const [from, target, ref] = [control.at(1), control.at(2), control.at(3)];
        if (from instanceof Pid && target !== undefined && ref !== undefined) {
          this.send(tuple(Op.MONITOR_P_EXIT, target, from, ref, atom('noproc')));
        }
        return;
      }
      default:
        // EXIT/EXIT2 to a pid of ours (nothing to kill), UNLINK, UNLINK_ID_ACK, DEMONITOR_P,
        // REG_SEND to a name we do not have, GROUP_LEADER, ALIAS_SEND...: nothing to do.
        return;
    }
  }

  /**
   * Hands a call that asked for `encodedReply` its `{rex, Reply}` as bytes; false (nothing done)
   * when the message is for no such call or is not a rex reply, so it takes the general path.
   */
  private deliverEncoded(to: Term | undefined, frame: Buffer, payloadAt: number): boolean {
    if (!(to instanceof Pid) || to.node !== this.localNode) return false;
    const key = pidKey(to);
    const call = this.pending.get(key);
    if (!call?.encoded) return false;
    const reply = rexReplyBytes(frame, payloadAt);
    if (!reply) return false;
    this.pending.delete(key);
    clearTimeout(call.timer);
    // `{badrpc, Reason}` alone is decoded, so that the call rejects as usual.
    call.resolve(isBadRpcReply(reply) ? decodeTerm(reply) : reply);
    return true;
  }

  private deliver(to: Term | undefined, payload: Term | undefined): void {
    if (!(to instanceof Pid) || to.node !== this.localNode) return;
    const key = pidKey(to);
    const call = this.pending.get(key);
    if (!call) return; // a late reply, or a message to a pid we never used
    if (!(payload instanceof Tuple && payload.arity === 2 && payload.at(0) === atom('rex'))) return;
    this.pending.delete(key);
    clearTimeout(call.timer);
    call.resolve(payload.at(1) ?? atom('undefined'));
  }

  private goDown(reason: BeamscopeError<'erlang'>): void {
    if (this.downReason) return;
    this.downReason = reason;
    clearInterval(this.tickTimer);
    this.stream.off('data', this.onData);
    // Discard whatever else arrives; end() lets the peer see a clean close (a FIN), and the
    // timer frees the socket even if the peer never finishes its side.
    this.stream.resume();
    this.stream.end();
    const destroyTimer = setTimeout(() => this.stream.destroy(), 1000);
    destroyTimer.unref();
    this.stream.once('close', () => clearTimeout(destroyTimer));
    const calls = [...this.pending.values()];
    this.pending.clear();
    const callError =
      reason.code === 'node_down'
        ? reason
        : erlangError('node_down', `connection to node ${this.node} lost: ${reason.message}`, {
            cause: reason,
          });
    for (const call of calls) {
      clearTimeout(call.timer);
      call.reject(callError);
    }
    this.emit('down', reason);
  }
}

function pidKey(pid: Pid): string {
  return `${pid.id}.${pid.serial}.${pid.creation}`;
}

function badRpcError(node: string, what: string, reason: Term): BeamscopeError {
  let text = formatTerm(reason);
  if (text.length > MAX_REASON_CHARS) text = `${text.slice(0, MAX_REASON_CHARS)}…`;
  return new BadRpcError(`rpc ${what} on node ${node} failed: ${text}`, reason);
}
