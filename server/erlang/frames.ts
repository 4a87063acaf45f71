import 'server-only';

import { decodeTermAt, encodeTerm, type Term } from './codec';
import { Tag, VERSION_MAGIC } from './codec/tags';
import { erlangError } from './errors';

/** The byte that starts every message after the handshake when no atom cache is negotiated. */
export const PASS_THROUGH = 112;

/**
 * Splits a byte stream into length-prefixed frames without quadratic copying: chunks are queued
 * as they arrive and a frame is assembled (one copy) only once all its bytes are there. A frame
 * whose announced length exceeds `maxFrameBytes` fails at once, before its body is buffered, so
 * a peer cannot make us hold more than one frame's worth of memory.
 *
 * The reader hands out one frame per {@link next} call, so the owner can switch header sizes
 * between frames (the handshake uses 2-byte lengths over TCP, the connection 4-byte ones) and
 * take the unread rest with {@link drain}.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  /** Bytes of `chunks[0]` already consumed. */
  private headOffset = 0;
  private buffered = 0;

  constructor(private readonly options: { headerBytes: 2 | 4; maxFrameBytes: number }) {}

  /** Bytes received and not yet handed out. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** True while a frame has started (its header, or part of it, has arrived) but not finished. */
  get partial(): boolean {
    return this.buffered > 0;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    this.buffered += chunk.length;
  }

  /**
   * The next complete frame's body (an empty buffer for a zero-length frame, i.e. a tick), or
   * `undefined` when more bytes are needed. Throws `frame_too_large` for an oversized length.
   */
  next(): Buffer | undefined {
    const { headerBytes, maxFrameBytes } = this.options;
    if (this.buffered < headerBytes) return undefined;
    const header = this.peek(headerBytes);
    const length = headerBytes === 2 ? header.readUInt16BE(0) : header.readUInt32BE(0);
    if (length > maxFrameBytes) {
      throw erlangError(
        'frame_too_large',
        `the peer announced a ${length}-byte frame, over the ${maxFrameBytes}-byte limit`,
      );
    }
    if (this.buffered < headerBytes + length) return undefined;
    this.skip(headerBytes);
    return this.take(length);
  }

  /** Everything buffered and not yet handed out, in order; the reader is empty afterwards. */
  drain(): Buffer[] {
    const rest = this.chunks.map((chunk, index) =>
      index === 0 ? chunk.subarray(this.headOffset) : chunk,
    );
    this.chunks = [];
    this.headOffset = 0;
    this.buffered = 0;
    return rest.filter((chunk) => chunk.length > 0);
  }

  /** The first `count` buffered bytes without consuming them (count ≤ 4 here). */
  private peek(count: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length - this.headOffset >= count) {
      return first.subarray(this.headOffset, this.headOffset + count);
    }
    const out = Buffer.alloc(count);
    let written = 0;
    for (let index = 0; written < count; index += 1) {
      const chunk = this.chunks[index];
      if (!chunk) break;
      const start = index === 0 ? this.headOffset : 0;
      written += chunk.copy(out, written, start, Math.min(chunk.length, start + count - written));
    }
    return out;
  }

  private skip(count: number): void {
    this.take(count);
  }

  /** Removes and returns the first `count` bytes, copying only when they span chunks. */
  private take(count: number): Buffer {
    this.buffered -= count;
    const first = this.chunks[0];
    if (count === 0) return Buffer.alloc(0);
    if (first && first.length - this.headOffset >= count) {
      const out = first.subarray(this.headOffset, this.headOffset + count);
      this.headOffset += count;
      if (this.headOffset === first.length) {
        this.chunks.shift();
        this.headOffset = 0;
      }
      return out;
    }
    const out = Buffer.allocUnsafe(count);
    let written = 0;
    let consumedChunks = 0;
    while (written < count) {
      const chunk = this.chunks[consumedChunks];
      if (!chunk) throw new Error('FrameReader: buffered byte count out of sync');
      const available = chunk.length - this.headOffset;
      const wanted = count - written;
      if (available <= wanted) {
        chunk.copy(out, written, this.headOffset);
        written += available;
        consumedChunks += 1;
        this.headOffset = 0;
      } else {
        chunk.copy(out, written, this.headOffset, this.headOffset + wanted);
        written += wanted;
        this.headOffset += wanted;
      }
    }
    this.chunks.splice(0, consumedChunks);
    return out;
  }
}

/** `body` with its big-endian length in front (2 bytes during the TCP handshake, else 4). */
export function encodeFrame(body: Uint8Array, headerBytes: 2 | 4): Buffer {
  const out = Buffer.allocUnsafe(headerBytes + body.length);
  if (headerBytes === 2) out.writeUInt16BE(body.length, 0);
  else out.writeUInt32BE(body.length, 0);
  out.set(body, headerBytes);
  return out;
}

/** A zero-length frame: keeps the peer's tick timer from declaring us gone. */
export const TICK_FRAME: Buffer = Buffer.alloc(4);

/** A decoded distribution message: the control tuple and, for sends and exits, the payload. */
export interface DistMessage {
  control: Term;
  payload?: Term;
}

/** The frame for a distribution message: `112`, the control term, then the optional payload. */
export function encodeDistMessage(control: Term, payload?: Term): Buffer {
  const parts = [Buffer.from([PASS_THROUGH]), encodeTerm(control)];
  if (payload !== undefined) parts.push(encodeTerm(payload));
  const body = Buffer.concat(parts);
  return encodeFrame(body, 4);
}

/**
 * Parses a non-empty frame body. Throws `protocol` when the frame does not start with 112 or has
 * bytes after the payload; term decoding errors (`term_decode`) pass through.
 */
export function parseDistMessage(
  body: Uint8Array,
  options: { maxDepth?: number } = {},
): DistMessage {
  const { control, payloadAt } = parseDistControl(body, options);
  const payload = parseDistPayload(body, payloadAt, options);
  return payload === undefined ? { control } : { control, payload };
}

/**
 * The control term of a frame body and where its payload starts (`body.length` when it has
 * none), so the payload can be decoded — or not — once the control says who it is for.
 */
export function parseDistControl(
  body: Uint8Array,
  options: { maxDepth?: number } = {},
): { control: Term; payloadAt: number } {
  if (body[0] !== PASS_THROUGH) {
    throw erlangError(
      'protocol',
      `unexpected distribution message type ${body[0] ?? 'none'} (expected ${PASS_THROUGH})`,
    );
  }
  const control = decodeTermAt(body, 1, options);
  return { control: control.term, payloadAt: control.next };
}

/** The payload that starts at `at` (see {@link parseDistControl}), undefined when none. */
export function parseDistPayload(
  body: Uint8Array,
  at: number,
  options: { maxDepth?: number } = {},
): Term | undefined {
  if (at === body.length) return undefined;
  const payload = decodeTermAt(body, at, options);
  if (payload.next !== body.length) {
    throw erlangError(
      'protocol',
      `${body.length - payload.next} unexpected bytes after a distribution message`,
    );
  }
  return payload.term;
}

/**
 * When the payload at `at` is `{rex, Reply}` (an rpc's answer), `Reply` as `term_to_binary`
 * would give it — a copy, with its 131 version byte — left undecoded for a caller with a
 * decoder of its own; undefined for any other payload. Only the `{rex, _}` frame is checked
 * here: the caller's decoder checks `Reply`.
 */
export function rexReplyBytes(body: Uint8Array, at: number): Buffer | undefined {
  const replyAt = pairTaggedAt(body, at, REX);
  if (replyAt === undefined || replyAt >= body.length) return undefined;
  const reply = Buffer.allocUnsafe(1 + body.length - replyAt);
  reply[0] = VERSION_MAGIC;
  reply.set(body.subarray(replyAt), 1);
  return reply;
}

const REX = Buffer.from('rex', 'latin1');
const BADRPC = Buffer.from('badrpc', 'latin1');

/**
 * Whether an encoded reply (131 first) is `{badrpc, Reason}`, read from its first bytes: a call
 * whose reply stays undecoded decodes only those, not every 2-tuple (`net_kernel:nodes_info()`
 * answers `{ok, [...]}`, a thousand entries at 1,000 nodes).
 */
export function isBadRpcReply(reply: Uint8Array): boolean {
  return pairTaggedAt(reply, 0, BADRPC) !== undefined;
}

/**
 * Where the second element starts when the term at `at` (131 first) is a 2-tuple whose first
 * element is the atom `name` (in any of the four atom encodings); undefined otherwise.
 */
function pairTaggedAt(body: Uint8Array, at: number, name: Uint8Array): number | undefined {
  if (body[at] !== VERSION_MAGIC || body[at + 1] !== Tag.SMALL_TUPLE || body[at + 2] !== 2) {
    return undefined;
  }
  const tag = body[at + 3];
  const small = tag === Tag.SMALL_ATOM_UTF8 || tag === Tag.SMALL_ATOM;
  const wide = tag === Tag.ATOM_UTF8 || tag === Tag.ATOM;
  if (!small && !wide) return undefined;
  const nameAt = at + (small ? 5 : 6);
  const length = small ? body[at + 4] : ((body[at + 4] ?? 0) << 8) | (body[at + 5] ?? 0);
  if (length !== name.length) return undefined;
  for (let index = 0; index < name.length; index += 1)
    if (body[nameAt + index] !== name[index]) return undefined;
  return nameAt + name.length;
}
