import 'server-only';

import { createHash, randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';

import { erlangError } from './errors';
import { encodeFrame, FrameReader } from './frames';

/** Distribution capability flags (OTP `dist.h`), 64 bits since the OTP 23 handshake. */
export const DistFlag = {
  PUBLISHED: 0x1n,
  ATOM_CACHE: 0x2n,
  EXTENDED_REFERENCES: 0x4n,
  DIST_MONITOR: 0x8n,
  FUN_TAGS: 0x10n,
  DIST_MONITOR_NAME: 0x20n,
  NEW_FUN_TAGS: 0x80n,
  EXTENDED_PIDS_PORTS: 0x100n,
  EXPORT_PTR_TAG: 0x200n,
  BIT_BINARIES: 0x400n,
  NEW_FLOATS: 0x800n,
  DIST_HDR_ATOM_CACHE: 0x2000n,
  UTF8_ATOMS: 0x10000n,
  MAP_TAG: 0x20000n,
  BIG_CREATION: 0x40000n,
  SEND_SENDER: 0x80000n,
  FRAGMENTS: 0x800000n,
  HANDSHAKE_23: 0x1000000n,
  UNLINK_ID: 0x2000000n,
  V4_NC: 1n << 34n,
} as const;

/** What OTP 25 refuses to talk without (its DFLAG_MANDATORY_25 set, spelled out bit by bit). */
export const MANDATORY_FLAGS: bigint =
  DistFlag.EXTENDED_REFERENCES |
  DistFlag.FUN_TAGS |
  DistFlag.NEW_FUN_TAGS |
  DistFlag.EXTENDED_PIDS_PORTS |
  DistFlag.EXPORT_PTR_TAG |
  DistFlag.BIT_BINARIES |
  DistFlag.NEW_FLOATS |
  DistFlag.UTF8_ATOMS |
  DistFlag.MAP_TAG |
  DistFlag.BIG_CREATION |
  DistFlag.HANDSHAKE_23;

/**
 * The flags we offer. No PUBLISHED: that is what makes us a hidden node (we never appear in
 * `nodes()`, and the cluster never connects onwards to us). No ATOM_CACHE / DIST_HDR_ATOM_CACHE /
 * FRAGMENTS: every message then is a plain `112 + control + payload` frame. UNLINK_ID and V4_NC
 * are mandatory from OTP 26; DIST_MONITOR(_NAME) and SEND_SENDER are messages we handle.
 */
export const LOCAL_FLAGS: bigint =
  MANDATORY_FLAGS |
  DistFlag.DIST_MONITOR |
  DistFlag.DIST_MONITOR_NAME |
  DistFlag.SEND_SENDER |
  DistFlag.UNLINK_ID |
  DistFlag.V4_NC;

/** The `'s'` statuses a peer may answer our name with. */
export type HandshakeStatus = 'ok' | 'ok_simultaneous' | 'nok' | 'not_allowed' | 'alive';

/** The peer's `'N'` challenge message. */
export interface PeerChallenge {
  flags: bigint;
  challenge: number;
  creation: number;
  name: string;
}

/** `'N' flags:64 creation:32 nlen:16 name` (the frame body, without its length). */
export function encodeSendName(flags: bigint, creation: number, name: string): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const out = Buffer.alloc(15 + nameBytes.length);
  out[0] = 0x4e; // 'N'
  out.writeBigUInt64BE(flags, 1);
  out.writeUInt32BE(creation >>> 0, 9);
  out.writeUInt16BE(nameBytes.length, 13);
  nameBytes.copy(out, 15);
  return out;
}

/** Parses `'s' status`. Throws `protocol` for anything that is not a known status. */
export function parseStatus(body: Buffer): HandshakeStatus {
  if (body[0] !== 0x73) {
    throw erlangError('protocol', `expected a handshake status ('s'), got ${describeTag(body)}`);
  }
  const status = body.subarray(1).toString('latin1');
  switch (status) {
    case 'ok':
    case 'ok_simultaneous':
    case 'nok':
    case 'not_allowed':
    case 'alive':
      return status;
    default:
      throw erlangError('protocol', `unknown handshake status "${printable(status)}"`);
  }
}

/** Parses `'N' flags:64 challenge:32 creation:32 nlen:16 name`. Throws `protocol` if malformed. */
export function parseChallenge(body: Buffer): PeerChallenge {
  if (body[0] === 0x6e) {
    throw erlangError(
      'otp_too_old',
      'the node answered with the handshake of OTP 22 or older; beamscope needs OTP 23 or newer',
    );
  }
  if (body[0] !== 0x4e || body.length < 19) {
    throw erlangError('protocol', `expected a handshake challenge ('N'), got ${describeTag(body)}`);
  }
  const nameLength = body.readUInt16BE(17);
  if (body.length !== 19 + nameLength) {
    throw erlangError(
      'protocol',
      `malformed handshake challenge: name length ${nameLength} in a ${body.length}-byte message`,
    );
  }
  return {
    flags: body.readBigUInt64BE(1),
    challenge: body.readUInt32BE(9),
    creation: body.readUInt32BE(13),
    name: body.subarray(19).toString('utf8'),
  };
}

/** `'r' challenge:32 digest:16`: our answer to theirs, and our challenge to them. */
export function encodeChallengeReply(ourChallenge: number, digest: Buffer): Buffer {
  const out = Buffer.alloc(21);
  out[0] = 0x72; // 'r'
  out.writeUInt32BE(ourChallenge >>> 0, 1);
  digest.copy(out, 5);
  return out;
}

/** Parses `'a' digest:16`. Throws `protocol` if malformed. */
export function parseChallengeAck(body: Buffer): Buffer {
  if (body[0] !== 0x61 || body.length !== 17) {
    throw erlangError(
      'protocol',
      `expected a challenge acknowledgement ('a'), got ${describeTag(body)}`,
    );
  }
  return body.subarray(1);
}

/** OTP's `gen_digest`: md5(cookie ++ integer_to_list(challenge)), the challenge unsigned. */
export function challengeDigest(challenge: number, cookie: string): Buffer {
  return createHash('md5')
    .update(Buffer.from(cookie, 'latin1'))
    .update(String(challenge >>> 0), 'latin1')
    .digest();
}

/** A random non-zero 32-bit number (challenges and creations). */
export function randomUint32(): number {
  return randomBytes(4).readUInt32BE(0) || 1;
}

/** What the handshake established. */
export interface HandshakeResult {
  peerName: string;
  peerFlags: bigint;
  peerCreation: number;
  localCreation: number;
  /** Bytes the peer sent after its acknowledgement (the first distribution frames), in order. */
  leftover: Buffer[];
}

/** Options of {@link performHandshake}. The cookie is only ever hashed. */
export interface HandshakeOptions {
  /** The node we expect to answer (`alive@host`). */
  target: string;
  localName: string;
  cookie: string;
  /** 2 over plain TCP; 4 over TLS distribution (`inet_tls_dist` uses `{packet, 4}`). */
  headerBytes: 2 | 4;
  localCreation?: number;
  /**
   * What to answer when the peer says it still holds a connection from our name (status `alive`):
   * take it over only when that connection was this process's own, which it no longer uses. Under
   * a stable name it may instead be another beamscope's on this host, whose connection must not
   * be broken. Default false.
   */
  takeOverEarlierConnection?: boolean;
  /** Seam for tests; default random. */
  ourChallenge?: number;
}

type Stage = 'status' | 'challenge' | 'ack';

/**
 * Runs the initiating side of the version 6 handshake on a connected stream (OTP's
 * `dist_util`): name → status → challenge → reply → acknowledgement. On success the stream is
 * left paused with its unread bytes in `leftover`. Errors: `auth_failed` (the peer closed after
 * our challenge reply, or its digest is wrong), `protocol`. The caller owns the timeout and
 * destroys the stream on failure.
 */
export async function performHandshake(
  stream: Duplex,
  options: HandshakeOptions,
): Promise<HandshakeResult> {
  const { target, localName, cookie, headerBytes } = options;
  const localCreation = options.localCreation ?? randomUint32();
  const ourChallenge = options.ourChallenge ?? randomUint32();
  const channel = new HandshakeChannel(stream, headerBytes, target);
  try {
    stream.write(encodeFrame(encodeSendName(LOCAL_FLAGS, localCreation, localName), headerBytes));

    const status = parseStatus(await channel.next('status'));
    if (status === 'alive') {
      // The peer still holds an older connection from our name (handshake step 3B): 'true' makes
      // it drop that one and continue, 'false' ends this attempt and leaves that one alone.
      if (options.takeOverEarlierConnection) {
        stream.write(encodeFrame(Buffer.from('strue', 'latin1'), headerBytes));
      } else {
        stream.write(encodeFrame(Buffer.from('sfalse', 'latin1'), headerBytes));
        throw erlangError(
          'name_in_use',
          `node ${target} already has a connection from ${localName}, which is not this ` +
            "process's: another beamscope on this host uses the name. Left it alone; give this " +
            'one its own name (node.name, or --name), keeping _maint_ in it',
        );
      }
    } else if (status === 'nok') {
      throw erlangError(
        'protocol',
        `node ${target} refused the connection: it is already connecting to ${localName}`,
      );
    } else if (status === 'not_allowed') {
      throw erlangError(
        'protocol',
        `node ${target} does not allow connections from ${localName} (net_kernel allow list?)`,
      );
    }

    const peer = parseChallenge(await channel.next('challenge'));
    if (peer.name !== target) {
      throw erlangError(
        'node_name_mismatch',
        `expected node ${target} but ${printable(peer.name)} answered`,
      );
    }
    const missing = MANDATORY_FLAGS & ~peer.flags;
    if (missing !== 0n) {
      throw erlangError(
        'protocol',
        `node ${target} lacks required distribution capabilities (flags 0x${missing.toString(16)})`,
      );
    }

    stream.write(
      encodeFrame(
        encodeChallengeReply(ourChallenge, challengeDigest(peer.challenge, cookie)),
        headerBytes,
      ),
    );
    const theirDigest = parseChallengeAck(await channel.next('ack'));
    if (!theirDigest.equals(challengeDigest(ourChallenge, cookie))) {
      throw erlangError(
        'auth_failed',
        `node ${target} answered our challenge with a different cookie (check the cluster's cookie)`,
      );
    }
    return {
      peerName: peer.name,
      peerFlags: peer.flags,
      peerCreation: peer.creation,
      localCreation,
      leftover: channel.finish(),
    };
  } finally {
    channel.detach();
  }
}

/** Turns stream events into "next handshake frame" promises, with errors that say which stage. */
class HandshakeChannel {
  private readonly reader: FrameReader;
  private waiter:
    { stage: Stage; resolve: (frame: Buffer) => void; reject: (error: Error) => void } | undefined;
  private failure: Error | undefined;
  private stage: Stage = 'status';

  constructor(
    private readonly stream: Duplex,
    headerBytes: 2 | 4,
    private readonly target: string,
  ) {
    // Handshake messages are tiny; a bigger length means we are not talking to a BEAM node.
    this.reader = new FrameReader({ headerBytes, maxFrameBytes: 4096 });
    stream.on('data', this.onData);
    stream.on('end', this.onClose);
    stream.on('close', this.onClose);
    stream.on('error', this.onError);
  }

  next(stage: Stage): Promise<Buffer> {
    this.stage = stage;
    return new Promise((resolve, reject) => {
      this.waiter = { stage, resolve, reject };
      // Frames that arrived before the peer closed are still answers; read them first.
      this.pump();
      if (this.waiter && this.failure) {
        this.waiter = undefined;
        reject(this.failure);
      }
    });
  }

  /** Pauses the stream and hands back what is buffered beyond the handshake. */
  finish(): Buffer[] {
    this.stream.pause();
    return this.reader.drain();
  }

  detach(): void {
    this.stream.off('data', this.onData);
    this.stream.off('end', this.onClose);
    this.stream.off('close', this.onClose);
    this.stream.off('error', this.onError);
    // Keep a listener so a late socket error after a failed handshake never goes unhandled.
    this.stream.on('error', () => {});
  }

  private readonly onData = (chunk: Buffer): void => {
    this.reader.push(chunk);
    this.pump();
  };

  private readonly onClose = (): void => {
    this.fail(this.closedError());
  };

  private readonly onError = (error: Error): void => {
    // A reset right after our challenge reply is how some peers reject a cookie, too.
    const closed = this.closedError();
    this.fail(
      closed.code === 'auth_failed'
        ? closed
        : erlangError('protocol', `${closed.message}: ${error.message}`, { cause: error }),
    );
  };

  private pump(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    let frame: Buffer | undefined;
    try {
      frame = this.reader.next();
    } catch (error) {
      this.fail(
        erlangError('protocol', `node ${this.target} sent an oversized handshake message`, {
          cause: error,
        }),
      );
      return;
    }
    if (frame === undefined) return;
    this.waiter = undefined;
    waiter.resolve(frame);
  }

  private fail(error: ReturnType<typeof erlangError>): void {
    if (this.failure) return;
    this.failure = error;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
  }

  private closedError(): ReturnType<typeof erlangError> {
    switch (this.stage) {
      case 'ack':
        // OTP answers a wrong digest by closing the connection without a word.
        return erlangError(
          'auth_failed',
          `node ${this.target} rejected the cookie (it closed the connection after our challenge reply)`,
        );
      case 'status':
        return erlangError(
          'protocol',
          `node ${this.target} closed the connection before answering our name ` +
            '(a long/short name mismatch, or a peer that is not an Erlang node?)',
        );
      default:
        return erlangError(
          'protocol',
          `node ${this.target} closed the connection during the handshake`,
        );
    }
  }
}

function describeTag(body: Buffer): string {
  if (body.length === 0) return 'an empty message';
  const tag = body[0] ?? 0;
  const printableTag = tag >= 0x20 && tag < 0x7f ? `'${String.fromCharCode(tag)}'` : `byte ${tag}`;
  return `${printableTag} (${body.length} bytes)`;
}

/** Peer-controlled text, made safe to put in a log line. */
function printable(text: string): string {
  const safe = text.replace(/[^\x20-\x7e]/g, '?');
  return safe.length > 100 ? `${safe.slice(0, 100)}…` : safe;
}
