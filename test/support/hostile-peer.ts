/**
 * A peer that speaks the accepting side of the distribution handshake correctly (like OTP's
 * `dist_util` on a node being connected to) and then misbehaves, to show that a broken or hostile
 * node can close its own connection and nothing else. Used by the hostile-peer integration test
 * and, over an in-memory stream pair, by the handshake unit tests.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** What the peer does once the handshake is done (or instead of finishing it). */
export type HostileBehaviour =
  /** Frames that are not distribution messages (no 112 byte). */
  | 'garbage'
  /** A frame header announcing 4 GiB. */
  | 'huge-length'
  /** A frame header announcing 1 MiB, then one byte every 50 ms, forever. */
  | 'never-ending-frame'
  /** Nothing at all after the handshake, not even ticks. */
  | 'silent'
  /** Ticks every 100 ms: a well-behaved but useless node. */
  | 'ticking';

/** How the accepting side runs the handshake. */
export interface AcceptOptions {
  /** The name the peer claims in its challenge. */
  name: string;
  cookie: string;
  /** 2 for TCP (default), 4 as `inet_tls_dist` does. */
  headerBytes?: 2 | 4;
  /** The status to answer with (default `ok`); anything but ok / ok_simultaneous / alive ends there. */
  status?: string;
  /** Flags the peer announces (default: what OTP 25 sends). */
  flags?: bigint;
  /** Replace the challenge message with these bytes (malformed-handshake tests). */
  challengeBody?: Buffer;
}

/** Flags an OTP 25 node announces (published, with everything OTP 25 requires). */
export const OTP25_FLAGS = 0x3df7fbdn | (0x7n << 32n);

/** What the accepting side learned, or why it stopped. */
export interface AcceptResult {
  outcome: 'accepted' | 'bad_digest' | 'closed' | 'refused';
  peerName?: string;
  peerFlags?: bigint;
}

function digest(challenge: number, cookie: string): Buffer {
  return createHash('md5')
    .update(Buffer.from(cookie, 'latin1'))
    .update(String(challenge >>> 0), 'latin1')
    .digest();
}

function frame(body: Buffer, headerBytes: 2 | 4): Buffer {
  const header = Buffer.alloc(headerBytes);
  if (headerBytes === 2) header.writeUInt16BE(body.length);
  else header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}

/** Reads one length-prefixed frame at a time from a stream (test-side, simple concatenation). */
function frameReader(stream: Duplex, headerBytes: 2 | 4) {
  let buffered = Buffer.alloc(0);
  const waiters: Array<(frame: Buffer | undefined) => void> = [];
  let ended = false;
  const pump = () => {
    while (waiters.length > 0) {
      if (buffered.length >= headerBytes) {
        const length = headerBytes === 2 ? buffered.readUInt16BE(0) : buffered.readUInt32BE(0);
        if (buffered.length >= headerBytes + length) {
          const body = buffered.subarray(headerBytes, headerBytes + length);
          buffered = buffered.subarray(headerBytes + length);
          waiters.shift()?.(body);
          continue;
        }
      }
      if (ended) waiters.shift()?.(undefined);
      else return;
    }
  };
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    pump();
  };
  const onEnd = () => {
    ended = true;
    pump();
  };
  stream.on('data', onData);
  stream.on('end', onEnd);
  stream.on('close', onEnd);
  stream.on('error', onEnd);
  return {
    next: () =>
      new Promise<Buffer | undefined>((resolve) => {
        waiters.push(resolve);
        pump();
      }),
    detach: () => {
      stream.off('data', onData);
    },
  };
}

/**
 * Runs the accepting side of the version 6 handshake on `stream`: receive 'N', answer the status,
 * send the challenge, check the reply's digest against `cookie` (closing without a word when it
 * is wrong, as OTP does) and acknowledge.
 */
export async function acceptHandshake(
  stream: Duplex,
  options: AcceptOptions,
): Promise<AcceptResult> {
  const headerBytes = options.headerBytes ?? 2;
  const reader = frameReader(stream, headerBytes);
  try {
    const name = await reader.next();
    if (!name || name[0] !== 0x4e) return { outcome: 'closed' };
    const peerFlags = name.readBigUInt64BE(1);
    const peerName = name.subarray(15, 15 + name.readUInt16BE(13)).toString('utf8');
    const status = options.status ?? 'ok';
    stream.write(frame(Buffer.from(`s${status}`, 'latin1'), headerBytes));
    if (status === 'alive') {
      // Handshake step 3B: the initiator says whether to continue.
      const answer = await reader.next();
      if (answer?.toString('latin1') !== 'strue') {
        stream.end();
        return { outcome: 'refused', peerName, peerFlags };
      }
    } else if (status !== 'ok' && status !== 'ok_simultaneous') {
      stream.end();
      return { outcome: 'refused', peerName, peerFlags };
    }
    const ourChallenge = randomBytes(4).readUInt32BE(0);
    let challenge = options.challengeBody;
    if (!challenge) {
      const nameBytes = Buffer.from(options.name, 'utf8');
      challenge = Buffer.alloc(19 + nameBytes.length);
      challenge[0] = 0x4e;
      challenge.writeBigUInt64BE(options.flags ?? OTP25_FLAGS, 1);
      challenge.writeUInt32BE(ourChallenge, 9);
      challenge.writeUInt32BE(0x1234, 13);
      challenge.writeUInt16BE(nameBytes.length, 17);
      nameBytes.copy(challenge, 19);
    }
    stream.write(frame(challenge, headerBytes));
    const reply = await reader.next();
    if (!reply || reply[0] !== 0x72 || reply.length !== 21) return { outcome: 'closed', peerName };
    if (!reply.subarray(5).equals(digest(ourChallenge, options.cookie))) {
      // OTP closes without a word; end() is a FIN on TCP and an end on an in-memory pair.
      stream.end();
      return { outcome: 'bad_digest', peerName, peerFlags };
    }
    const theirChallenge = reply.readUInt32BE(1);
    stream.write(
      frame(Buffer.concat([Buffer.from('a'), digest(theirChallenge, options.cookie)]), headerBytes),
    );
    return { outcome: 'accepted', peerName, peerFlags };
  } finally {
    reader.detach();
  }
}

/**
 * The challenge an OTP 22 (or older) node sends: `'n' version:16 flags:32 challenge:32 name`, the
 * handshake before OTP 23's `'N'`.
 */
export function otp22Challenge(name: string): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const body = Buffer.alloc(11 + nameBytes.length);
  body[0] = 0x6e;
  body.writeUInt16BE(5, 1);
  body.writeUInt32BE(0x3df7fbd, 3);
  body.writeUInt32BE(0x1234_5678, 7);
  nameBytes.copy(body, 11);
  return body;
}

/** A running hostile peer. */
export interface HostilePeer {
  name: string;
  port: number;
  /** Handshakes that reached the end, per outcome. */
  outcomes: AcceptResult['outcome'][];
  stop(): Promise<void>;
}

/**
 * Starts a TCP server on 127.0.0.1 (ephemeral port) that accepts the handshake for `name` and
 * then does `behaviour`. Every socket and timer is cleaned up by `stop()`.
 */
export async function startHostilePeer(options: {
  name: string;
  cookie: string;
  behaviour: HostileBehaviour;
  /** Answer with these bytes instead of the challenge (e.g. an OTP 22 node's). */
  challengeBody?: Buffer;
}): Promise<HostilePeer> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const outcomes: AcceptResult['outcome'][] = [];
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    void acceptHandshake(socket, {
      name: options.name,
      cookie: options.cookie,
      ...(options.challengeBody ? { challengeBody: options.challengeBody } : {}),
    }).then((result) => {
      outcomes.push(result.outcome);
      if (result.outcome === 'accepted') misbehave(socket, options.behaviour, timers);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('hostile peer: no port');
  return {
    name: options.name,
    port: address.port,
    outcomes,
    stop: async () => {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function misbehave(socket: Socket, behaviour: HostileBehaviour, timers: Set<NodeJS.Timeout>): void {
  const every = (ms: number, action: () => void) => {
    const timer = setInterval(() => {
      if (socket.destroyed) clearInterval(timer);
      else action();
    }, ms);
    timers.add(timer);
  };
  switch (behaviour) {
    case 'garbage':
      socket.write(frame(Buffer.from('this is not a distribution message'), 4));
      break;
    case 'huge-length':
      socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x70, 0x83]));
      break;
    case 'never-ending-frame':
      socket.write(Buffer.from([0x00, 0x10, 0x00, 0x00, 0x70]));
      every(50, () => socket.write(Buffer.from([0x83])));
      break;
    case 'silent':
      break;
    case 'ticking':
      every(100, () => socket.write(Buffer.alloc(4)));
      break;
  }
}
