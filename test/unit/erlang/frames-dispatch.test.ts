/**
 * NodeConnection over an in-memory stream pair: what it sends, and how it answers everything a
 * peer may send a hidden node. The peer side here is a few lines of test code speaking frames.
 */
import { duplexPair, type Duplex } from 'node:stream';

import { afterEach, describe, expect, it } from 'vitest';

import {
  atom,
  decodeTerm,
  encodeTerm,
  Pid,
  Reference,
  Tuple,
  tuple,
  type Term,
} from '@/server/erlang/codec';
import { NodeConnection } from '@/server/erlang/connection';
import { BadRpcError } from '@/server/erlang/errors';
import {
  encodeDistMessage,
  encodeFrame,
  FrameReader,
  isBadRpcReply,
  parseDistMessage,
  rexReplyBytes,
  type DistMessage,
} from '@/server/erlang/frames';
import { BeamscopeError } from '@/server/errors';

const LOCAL = 'beamscope_abc123@127.0.0.1';
const PEER = 'app@127.0.0.1';
const remotePid = new Pid(atom(PEER), 80, 0, 5);

interface FakePeer {
  connection: NodeConnection;
  side: Duplex;
  received: DistMessage[];
  ticks: number;
  /** Resolves with the next message the connection sends. */
  nextMessage(): Promise<DistMessage>;
  send(control: Term, payload?: Term): void;
}

const open: NodeConnection[] = [];

function fakePeer(options: { tickIntervalMs?: number; maxFrameBytes?: number } = {}): FakePeer {
  const [ours, side] = duplexPair();
  const connection = new NodeConnection(
    ours,
    { node: PEER, localName: LOCAL, localCreation: 7, peerFlags: 0n, peerCreation: 5 },
    options,
  );
  open.push(connection);
  const reader = new FrameReader({ headerBytes: 4, maxFrameBytes: 1 << 20 });
  const received: DistMessage[] = [];
  const waiters: Array<(message: DistMessage) => void> = [];
  const peer: FakePeer = {
    connection,
    side,
    received,
    ticks: 0,
    nextMessage: () =>
      new Promise((resolve) => {
        const queued = received.shift();
        if (queued) resolve(queued);
        else waiters.push(resolve);
      }),
    send: (control, payload) => side.write(encodeDistMessage(control, payload)),
  };
  side.on('data', (chunk: Buffer) => {
    reader.push(chunk);
    for (let frame = reader.next(); frame !== undefined; frame = reader.next()) {
      if (frame.length === 0) {
        peer.ticks += 1;
        continue;
      }
      const message = parseDistMessage(frame);
      const waiter = waiters.shift();
      if (waiter) waiter(message);
      else received.push(message);
    }
  });
  side.on('error', () => undefined);
  return peer;
}

/** Answers one rex call like rpc.erl does: `From ! {rex, Reply}` as SEND_SENDER. */
async function answerRpc(peer: FakePeer, reply: (call: Tuple) => Term): Promise<Pid> {
  const { control, payload } = await peer.nextMessage();
  expect(control).toBeInstanceOf(Tuple);
  expect((control as Tuple).at(0)).toBe(6);
  expect((control as Tuple).at(3)).toBe(atom('rex'));
  const [from, call] = (payload as Tuple).elements as [Pid, Tuple];
  peer.send(tuple(22, remotePid, from), tuple(atom('rex'), reply(call)));
  return from;
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached within 2 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

afterEach(() => {
  for (const connection of open.splice(0)) connection.close();
});

describe('NodeConnection rpc', () => {
  it('sends REG_SEND to rex with {From, {call, M, F, A, user}} and resolves with the reply', async () => {
    const peer = fakePeer();
    const result = peer.connection.rpc('erlang', 'node', []);
    const { control, payload } = await peer.nextMessage();
    const [op, from, unused, name] = (control as Tuple).elements;
    expect(op).toBe(6);
    expect(from).toBeInstanceOf(Pid);
    expect((from as Pid).node).toBe(atom(LOCAL));
    expect((from as Pid).creation).toBe(7);
    expect(unused).toBe(atom(''));
    expect(name).toBe(atom('rex'));
    expect(payload).toEqual(
      tuple(from!, tuple(atom('call'), atom('erlang'), atom('node'), [], atom('user'))),
    );
    peer.send(tuple(2, atom(''), from!), tuple(atom('rex'), atom(PEER)));
    expect(await result).toBe(atom(PEER));
  });

  it('matches replies that arrive out of order to their calls (one pid per call)', async () => {
    const peer = fakePeer();
    const first = peer.connection.rpc('m', 'f', [1]);
    const second = peer.connection.rpc('m', 'f', [2]);
    const a = await peer.nextMessage();
    const b = await peer.nextMessage();
    const fromA = (a.payload as Tuple).at(0) as Pid;
    const fromB = (b.payload as Tuple).at(0) as Pid;
    expect(fromA.id).not.toBe(fromB.id);
    peer.send(tuple(22, remotePid, fromB), tuple(atom('rex'), 'second'.length));
    peer.send(tuple(22, remotePid, fromA), tuple(atom('rex'), 'first'.length));
    expect(await first).toBe(5);
    expect(await second).toBe(6);
  });

  it('turns {badrpc, Reason} into a typed badrpc error with the reason formatted', async () => {
    const peer = fakePeer();
    const result = peer.connection.rpc('nope', 'missing', []);
    void answerRpc(peer, () =>
      tuple(atom('badrpc'), tuple(atom('EXIT'), tuple(atom('undef'), []))),
    );
    const error = await result.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BadRpcError);
    expect((error as BadRpcError).code).toBe('badrpc');
    expect((error as BadRpcError).message).toContain("{'EXIT',{undef,[]}}");
    expect((error as BadRpcError).message).toContain('nope:missing/0');
  });

  it('hands a call that asks for encodedReply its reply as term_to_binary bytes', async () => {
    const peer = fakePeer();
    const reply: Term = [atom('lists'), atom('maps'), Buffer.alloc(16, 3)];
    const result = peer.connection.rpc('erlang', 'loaded', [], { encodedReply: true });
    void answerRpc(peer, () => reply);
    const bytes = await result;
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(bytes as Uint8Array)).toEqual(encodeTerm(reply));
    // Another call on the same connection still gets its reply decoded.
    const plain = peer.connection.rpc('erlang', 'node', []);
    void answerRpc(peer, () => atom(PEER));
    expect(await plain).toBe(atom(PEER));
  });

  it('still rejects {badrpc, Reason} for a call that asked for encodedReply', async () => {
    const peer = fakePeer();
    const result = peer.connection.rpc('lists', 'zipwith', [], { encodedReply: true });
    void answerRpc(peer, () => tuple(atom('badrpc'), tuple(atom('EXIT'), atom('badarg'))));
    const error = await result.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BadRpcError);
    expect((error as BadRpcError).message).toContain("{'EXIT',badarg}");
    // A 2-tuple that is not badrpc comes back encoded like any other reply.
    const pair = peer.connection.rpc('m', 'f', [], { encodedReply: true });
    void answerRpc(peer, () => tuple(atom('ok'), 1));
    expect(decodeTerm((await pair) as Uint8Array)).toEqual(tuple(atom('ok'), 1));
  });

  it('finds the rex reply in any atom encoding, and nothing in other payloads', () => {
    const reply = encodeTerm([atom('a')]).subarray(1);
    const frame = (head: number[]) =>
      Buffer.concat([Buffer.from([9, 9, 131, 104, 2, ...head, 0x72, 0x65, 0x78]), reply]);
    for (const head of [
      [119, 3],
      [115, 3],
      [118, 0, 3],
      [100, 0, 3],
    ]) {
      expect(rexReplyBytes(frame(head), 2)).toEqual(encodeTerm([atom('a')]));
    }
    expect(rexReplyBytes(frame([119, 4]), 2)).toBeUndefined();
    const other = Buffer.concat([Buffer.from([9, 9]), encodeTerm(tuple(atom('rey'), 1))]);
    expect(rexReplyBytes(other, 2)).toBeUndefined();
    const triple = Buffer.concat([Buffer.from([9, 9]), encodeTerm(tuple(atom('rex'), 1, 2))]);
    expect(rexReplyBytes(triple, 2)).toBeUndefined();
    // `{rex}` with nothing after the atom: no reply to hand out.
    expect(rexReplyBytes(Buffer.from([131, 104, 2, 119, 3, 0x72, 0x65, 0x78]), 0)).toBeUndefined();
  });

  it('tells {badrpc, Reason} from its first bytes in any atom encoding, and nothing else', () => {
    const reason = encodeTerm(tuple(atom('EXIT'), atom('badarg'))).subarray(1);
    const reply = (head: number[]) =>
      Buffer.concat([Buffer.from([131, 104, 2, ...head, ...Buffer.from('badrpc')]), reason]);
    for (const head of [
      [119, 6],
      [115, 6],
      [118, 0, 6],
      [100, 0, 6],
    ]) {
      expect(isBadRpcReply(reply(head))).toBe(true);
    }
    expect(isBadRpcReply(encodeTerm(tuple(atom('badrpc'), atom('nodedown'))))).toBe(true);
    expect(isBadRpcReply(encodeTerm(tuple(atom('ok'), [atom('a')])))).toBe(false);
    expect(isBadRpcReply(encodeTerm(tuple(atom('badrpcs'), 1)))).toBe(false);
    expect(isBadRpcReply(encodeTerm(tuple(atom('badrpc'), 1, 2)))).toBe(false);
    expect(isBadRpcReply(encodeTerm([atom('badrpc'), 1]))).toBe(false);
    expect(isBadRpcReply(Buffer.from([131, 104, 2, 119, 6, 0x62]))).toBe(false);
  });

  it('times out a call and drops its late reply', async () => {
    const peer = fakePeer();
    const result = peer.connection.rpc('timer', 'sleep', [1000], { timeoutMs: 50 });
    const { payload } = await peer.nextMessage();
    const error = await result.catch((caught: unknown) => caught);
    expect((error as BeamscopeError).code).toBe('timeout');
    // The late reply must not disturb the next call.
    peer.send(tuple(22, remotePid, (payload as Tuple).at(0)!), tuple(atom('rex'), atom('ok')));
    const next = peer.connection.rpc('erlang', 'node', []);
    await answerRpc(peer, () => atom('fresh'));
    expect(await next).toBe(atom('fresh'));
    expect(peer.connection.connected).toBe(true);
  });

  it('rejects every pending call with node_down at once when the connection ends', async () => {
    const peer = fakePeer();
    const calls = [1, 2, 3].map((n) =>
      peer.connection.rpc('timer', 'sleep', [n], { timeoutMs: 10_000 }),
    );
    let down: BeamscopeError | undefined;
    peer.connection.once('down', (reason) => (down = reason));
    await until(() => peer.received.length === 3);
    peer.side.end();
    const errors = await Promise.all(calls.map((call) => call.catch((caught: unknown) => caught)));
    for (const error of errors) expect((error as BeamscopeError).code).toBe('node_down');
    expect(down?.code).toBe('node_down');
    expect(peer.connection.connected).toBe(false);
    await expect(peer.connection.rpc('erlang', 'node', [])).rejects.toMatchObject({
      code: 'node_down',
    });
  });
});

describe('NodeConnection back-pressure', () => {
  it('closes a connection whose peer stops reading once too much is unsent', async () => {
    const [ours, side] = duplexPair();
    const connection = new NodeConnection(
      ours,
      { node: PEER, localName: LOCAL, localCreation: 7, peerFlags: 0n, peerCreation: 5 },
      { maxFrameBytes: 4096 },
    );
    open.push(connection);
    side.on('error', () => undefined); // the far side never reads
    const calls = Array.from({ length: 400 }, () =>
      connection
        .rpc('m', 'f', [Buffer.alloc(200)], { timeoutMs: 5000 })
        .catch((error: unknown) => error),
    );
    const errors = await Promise.all(calls);
    expect(connection.connected).toBe(false);
    expect(errors.every((error) => (error as BeamscopeError).code === 'node_down')).toBe(true);
    expect((errors.at(-1) as BeamscopeError).message).toContain('stopped reading');
  });
});

describe('NodeConnection, what a hidden node is sent', () => {
  it('answers LINK with EXIT noproc', async () => {
    const peer = fakePeer();
    const ours = new Pid(atom(LOCAL), 999, 0, 7);
    peer.send(tuple(1, remotePid, ours));
    expect((await peer.nextMessage()).control).toEqual(tuple(3, ours, remotePid, atom('noproc')));
  });

  it('acknowledges UNLINK_ID', async () => {
    const peer = fakePeer();
    const ours = new Pid(atom(LOCAL), 999, 0, 7);
    peer.send(tuple(35, 2n ** 40n, remotePid, ours));
    expect((await peer.nextMessage()).control).toEqual(tuple(36, 2n ** 40n, ours, remotePid));
  });

  it('answers MONITOR_P (by pid and by name) with MONITOR_P_EXIT noproc', async () => {
    const peer = fakePeer();
    const ref = new Reference(atom(PEER), 5, [1, 2, 3]);
    const ours = new Pid(atom(LOCAL), 999, 0, 7);
    peer.send(tuple(19, remotePid, ours, ref));
    expect((await peer.nextMessage()).control).toEqual(
      tuple(21, ours, remotePid, ref, atom('noproc')),
    );
    peer.send(tuple(19, remotePid, atom('some_name'), ref));
    expect((await peer.nextMessage()).control).toEqual(
      tuple(21, atom('some_name'), remotePid, ref, atom('noproc')),
    );
  });

  it('drops EXIT, EXIT2, sends to unknown pids, REG_SEND and unknown opcodes, and keeps working', async () => {
    const peer = fakePeer();
    const ours = new Pid(atom(LOCAL), 999, 0, 7);
    peer.send(tuple(3, remotePid, ours, atom('kill')));
    peer.send(tuple(8, remotePid, ours, atom('kill')));
    peer.send(tuple(2, atom(''), ours), atom('hello'));
    peer.send(tuple(22, remotePid, new Pid(atom('other@host'), 1, 0, 1)), tuple(atom('rex'), 1));
    peer.send(tuple(6, remotePid, atom(''), atom('whatever')), atom('hi'));
    peer.send(tuple(99, atom('future')));
    peer.send(atom('not_a_tuple'));
    peer.side.write(Buffer.alloc(4)); // a tick
    const result = peer.connection.rpc('erlang', 'node', []);
    await answerRpc(peer, () => atom('still_here'));
    expect(await result).toBe(atom('still_here'));
  });

  it('a malformed message closes the connection with protocol', async () => {
    const peer = fakePeer();
    const down = new Promise<BeamscopeError>((resolve) => peer.connection.once('down', resolve));
    peer.side.write(encodeFrame(Buffer.from('garbage'), 4));
    expect((await down).code).toBe('protocol');
  });

  it('an oversized frame closes the connection with frame_too_large', async () => {
    const peer = fakePeer({ maxFrameBytes: 1024 });
    const down = new Promise<BeamscopeError>((resolve) => peer.connection.once('down', resolve));
    peer.side.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
    const reason = await down;
    expect(reason.code).toBe('frame_too_large');
    expect(reason.message).toContain(PEER);
  });

  it('ticks when idle and declares a silent peer down', async () => {
    const peer = fakePeer({ tickIntervalMs: 20 });
    const down = new Promise<BeamscopeError>((resolve) => peer.connection.once('down', resolve));
    await until(() => peer.ticks >= 2);
    const reason = await down;
    expect(reason.code).toBe('node_down');
    expect(reason.message).toContain('sent nothing');
  });

  it('a peer that keeps ticking stays up', async () => {
    const peer = fakePeer({ tickIntervalMs: 20 });
    const ticker = setInterval(() => peer.side.write(Buffer.alloc(4)), 10);
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(peer.connection.connected).toBe(true);
    } finally {
      clearInterval(ticker);
    }
  });
});
