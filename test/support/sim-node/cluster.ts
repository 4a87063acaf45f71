/**
 * Simulated BEAM nodes: lightweight peers that do what beamscope needs of a real node and no
 * more. Each listens on its own loopback address and the shared distribution port (epmd-less,
 * like the sandbox's pods), performs the ACCEPTING side of the version 6 handshake (OTP's
 * `dist_util` on the node being connected to: status, challenge, digest check — a wrong cookie
 * closes the connection without a word, as OTP does), ticks, and answers `rex` calls from a
 * per-node model (see model.ts). Many nodes run in one process: a node is a listening socket and a
 * few objects, so a thousand of them cost a few tens of megabytes.
 *
 * Reuses beamscope's own framing, codec and digest code; only the accepting side is new.
 */
import { createServer, type Server, type Socket } from 'node:net';

import { mapAddress, type AddressMapping } from '../../../server/erlang/address-map';
import { decodeTerm } from '../../../server/erlang/codec/decode';
import { encodeTerm } from '../../../server/erlang/codec/encode';
import {
  Atom,
  Charlist,
  Pid,
  Reference,
  Tuple,
  atom,
  tuple,
  type Term,
} from '../../../server/erlang/codec/terms';
import {
  FrameReader,
  PASS_THROUGH,
  TICK_FRAME,
  encodeFrame,
  parseDistMessage,
} from '../../../server/erlang/frames';
import {
  DistFlag,
  LOCAL_FLAGS,
  MANDATORY_FLAGS,
  challengeDigest,
  randomUint32,
} from '../../../server/erlang/handshake';
import { simCodeBuilds, simCodeOf, type SimCodeSpec } from './code-model';
import {
  answerCall,
  baseAtoms,
  defaultModel,
  settledModel,
  type SimContext,
  type SimNodeModel,
  type SimReply,
} from './model';

/** Options of {@link startSimulatedCluster}. */
export interface SimulatedClusterOptions {
  /** One node per address (`127.0.x.y`), named `basename@address`. */
  addresses: string[];
  /** The shared distribution port every node listens on. */
  port: number;
  cookie: string;
  basename: string;
  /**
   * Groups of addresses whose nodes see each other (`erlang:nodes()`); a node in no group sees
   * nobody. Default: one group of every address (a healthy mesh).
   */
  partitions?: string[][];
  /** The model of the node at `address` (index in `addresses`); default {@link defaultModel}. */
  model?: (address: string, index: number) => SimNodeModel;
  /**
   * Without `model`: each node's is {@link settledModel}, registries that add up over the whole
   * cluster (a bench's healthy cluster of any size). A flag, so a child process can be asked.
   */
  settled?: boolean;
  /** The code the nodes run (default a small build): a module scan's workload. */
  code?: SimCodeSpec;
  /** How often a node ticks when idle, ms; default 15 000 (net_ticktime 60 s / 4), as OTP. */
  tickIntervalMs?: number;
  /**
   * Name each node with the address its listen address is the image of under this mapping
   * (`basename@10.244.x.y` listening on 127.10.x.y), as pods the API lists must be: a real API
   * server refuses loopback endpoint addresses. Default: named by the listen address.
   */
  addressMap?: AddressMapping[];
}

/** The host a node listening on `address` is named with (see `addressMap`). */
export function nameHostOf(address: string, addressMap: AddressMapping[] = []): string {
  return mapAddress(
    address,
    addressMap.map(({ from, to }) => ({ from: to, to: from })),
  );
}

/** A running simulated cluster. */
export interface SimulatedCluster {
  /** The node names, in the order of `addresses`. */
  nodes: string[];
  /** Changes which nodes see each other (same form as `partitions`). */
  setPartitions(groups: string[][]): void;
  /** Stops one node as a crash would: its listener and connections close at once. */
  stopNode(address: string): Promise<void>;
  /** Counters: connections accepted, handshakes refused (bad cookie, bad peer), calls answered. */
  stats(): { accepted: number; refused: number; calls: number; connected: number };
  stop(): Promise<void>;
}

/** The flags a published OTP 25 node announces (with what beamscope needs, spelled out). */
const NODE_FLAGS: bigint =
  LOCAL_FLAGS | DistFlag.PUBLISHED | DistFlag.DIST_HDR_ATOM_CACHE | DistFlag.FRAGMENTS;
/** OTP's net_setuptime: a handshake not finished in 7 s is dropped. */
const SETUP_TIMEOUT_MS = 7000;
const SILENT_TICKS = 4;
const Op = { SEND: 2, REG_SEND: 6, SEND_SENDER: 22 } as const;

/** `{rex, …}` with its 131 version byte: spliced in front of pre-encoded replies. */
const REX_PAYLOAD_HEAD = Buffer.concat([
  Buffer.from([131, 104, 2]),
  encodeTerm(atom('rex')).subarray(1),
]);

interface ClusterShared {
  cookie: string;
  /** Every node name of the cluster: atoms each node has (its peers' names). */
  nodeNames: Set<string>;
  tickIntervalMs: number;
  counters: { accepted: number; refused: number; calls: number };
}

/** One simulated node: its listener, model and the connections peers opened to it. */
class SimulatedNode {
  readonly name: string;
  readonly creation = randomUint32();
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** Established connections, by peer name (one per peer, as on a real node). */
  readonly peers = new Map<string, PeerConnection>();
  private readonly atoms: Set<string>;
  private readonly rexPid: Pid;
  private view: View = { names: () => [], encoded: () => encodeTerm([]) };
  /** Each connection's controller port and since when it is up, by peer; see connectionTable. */
  private links: Map<string, { port: number; since: number }> | undefined;
  private nextPort = 20;
  private visibleBytes: Buffer | undefined;
  readonly context: SimContext;

  constructor(
    readonly address: string,
    nameHost: string,
    private readonly port: number,
    basename: string,
    readonly model: SimNodeModel,
    readonly shared: ClusterShared,
  ) {
    this.name = `${basename}@${nameHost}`;
    this.atoms = baseAtoms(model);
    this.rexPid = new Pid(atom(this.name), 10, 0, this.creation);
    this.context = {
      node: this.name,
      creation: this.creation,
      visibleEncoded: () => {
        // A node's view is encoded once per partition change, not once per probe.
        this.visibleBytes ??= this.view.encoded();
        return this.visibleBytes;
      },
      visible: () => this.view.names(),
      hidden: () => [...this.peers.keys()],
      connections: () => this.connectionTable(),
      hasAtom: (name) => this.atoms.has(name) || shared.nodeNames.has(name),
    };
  }

  /**
   * What `erlang:nodes(visible)` answers from now on (encoded on the next call). A link the new
   * view drops is gone: if the view brings it back, it is a new connection with a new port, as
   * on a real node, even when no probe looked in between.
   */
  setVisible(view: View): void {
    this.view = view;
    this.visibleBytes = undefined;
    if (this.links) {
      const kept = new Set([...view.names(), ...this.peers.keys()]);
      for (const peer of [...this.links.keys()]) if (!kept.has(peer)) this.links.delete(peer);
    }
  }

  /**
   * The node's connections with their controller ports, made when first asked (a thousand-node
   * mesh costs nothing until it is probed); the links up at that point count from the start.
   */
  private connectionTable(): Array<{ peer: string; hidden: boolean; port: number; since: number }> {
    const visible = this.view.names();
    const hidden = [...this.peers.keys()];
    const first = this.links === undefined;
    const links = (this.links ??= new Map());
    const now = Date.now();
    const table = [
      ...visible.map((peer) => ({ peer, hidden: false })),
      ...hidden.map((peer) => ({ peer, hidden: true })),
    ].map(({ peer, hidden: isHidden }) => {
      let link = links.get(peer);
      if (!link) {
        link = { port: this.nextPort++, since: first ? this.model.startedAt : now };
        links.set(peer, link);
      }
      return { peer, hidden: isHidden, ...link };
    });
    if (links.size > table.length) {
      const present = new Set(table.map((entry) => entry.peer));
      for (const peer of [...links.keys()]) if (!present.has(peer)) links.delete(peer);
    }
    return table;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer((socket) => this.accept(socket));
      server.once('error', reject);
      server.listen({ host: this.address, port: this.port, backlog: 511 }, () => {
        server.off('error', reject);
        server.on('error', () => undefined);
        this.server = server;
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    this.peers.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  /** Every established connection, for the cluster's tick timer. */
  connections(): Iterable<PeerConnection> {
    return this.peers.values();
  }

  rexReply(connection: PeerConnection, to: Pid, reply: SimReply, ref?: Term): void {
    const control = connection.sendSender
      ? tuple(Op.SEND_SENDER, this.rexPid, to)
      : tuple(Op.SEND, atom(''), to);
    // The payload's parts: an encoded reply (a peer list of 1,000 names) is copied once, into
    // the frame, behind a `{rex, ` head of its own.
    let parts: Uint8Array[];
    if (ref !== undefined) {
      // gen_server reply to a `'$gen_call'`: `{Ref, Reply}` (an encoded reply is decoded here:
      // this form is rare, so it need not be fast).
      parts = [encodeTerm(tuple(ref, 'term' in reply ? reply.term : decodeTerm(reply.encoded)))];
    } else if ('term' in reply) {
      parts = [encodeTerm(tuple(atom('rex'), reply.term))];
    } else {
      parts = [REX_PAYLOAD_HEAD, reply.encoded.subarray(1)];
    }
    const controlBytes = encodeTerm(control);
    let length = 1 + controlBytes.length;
    for (const part of parts) length += part.length;
    const frame = Buffer.allocUnsafe(4 + length);
    frame.writeUInt32BE(length, 0);
    frame[4] = PASS_THROUGH;
    frame.set(controlBytes, 5);
    let at = 5 + controlBytes.length;
    for (const part of parts) {
      frame.set(part, at);
      at += part.length;
    }
    connection.write(frame);
  }

  private accept(socket: Socket): void {
    this.shared.counters.accepted += 1;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    socket.once('close', () => this.sockets.delete(socket));
    new Handshake(this, socket);
  }
}

/** The accepting side of the handshake on one socket; hands over to a {@link PeerConnection}. */
class Handshake {
  private readonly reader = new FrameReader({ headerBytes: 2, maxFrameBytes: 4096 });
  private stage: 'name' | 'alive' | 'reply' = 'name';
  private peerName = '';
  private peerFlags = 0n;
  private readonly ourChallenge = randomUint32();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly node: SimulatedNode,
    private readonly socket: Socket,
  ) {
    this.timer = setTimeout(() => this.refuse(), SETUP_TIMEOUT_MS);
    this.timer.unref();
    socket.on('data', this.onData);
    socket.once('close', () => clearTimeout(this.timer));
  }

  private readonly onData = (chunk: Buffer): void => {
    this.reader.push(chunk);
    try {
      for (let frame = this.reader.next(); frame !== undefined; frame = this.reader.next()) {
        if (!this.step(frame)) return;
      }
    } catch {
      this.refuse();
    }
  };

  /** Handles one handshake message; false once the socket left the handshake (either way). */
  private step(body: Buffer): boolean {
    const write = (message: Buffer) => this.socket.write(encodeFrame(message, 2));
    switch (this.stage) {
      case 'name': {
        // `'N' flags:64 creation:32 nlen:16 name` (OTP 23+); the old 'n' form is refused, as
        // OTP 25 refuses peers without HANDSHAKE_23.
        if (body[0] !== 0x4e || body.length < 15) return this.refuse();
        const flags = body.readBigUInt64BE(1);
        const nameLength = body.readUInt16BE(13);
        if (body.length !== 15 + nameLength) return this.refuse();
        if ((MANDATORY_FLAGS & ~flags) !== 0n) return this.refuse();
        this.peerName = body.subarray(15).toString('utf8');
        this.peerFlags = flags;
        if (!/^[^@\s]+@[^@\s]+$/.test(this.peerName)) return this.refuse();
        if (this.node.peers.has(this.peerName)) {
          // A connection from this name is up: ask the peer whether it replaces it (3B).
          write(Buffer.from('salive', 'latin1'));
          this.stage = 'alive';
          return true;
        }
        write(Buffer.from('sok', 'latin1'));
        this.sendChallenge(write);
        return true;
      }
      case 'alive': {
        const answer = body.toString('latin1');
        if (answer !== 'strue') return this.refuse();
        this.node.peers.get(this.peerName)?.close();
        this.sendChallenge(write);
        return true;
      }
      case 'reply': {
        if (body[0] !== 0x72 || body.length !== 21) return this.refuse();
        const theirChallenge = body.readUInt32BE(1);
        const digest = body.subarray(5);
        if (!digest.equals(challengeDigest(this.ourChallenge, this.node.shared.cookie))) {
          // OTP logs "Connection attempt from node … rejected since it sent a wrong cookie"
          // and closes: the peer sees the connection end after its challenge reply.
          return this.refuse();
        }
        const ack = Buffer.alloc(17);
        ack[0] = 0x61; // 'a'
        challengeDigest(theirChallenge, this.node.shared.cookie).copy(ack, 1);
        write(ack);
        clearTimeout(this.timer);
        this.socket.off('data', this.onData);
        new PeerConnection(
          this.node,
          this.socket,
          this.peerName,
          this.peerFlags,
          this.reader.drain(),
        );
        return false;
      }
    }
  }

  private sendChallenge(write: (message: Buffer) => void): void {
    const name = Buffer.from(this.node.name, 'utf8');
    const message = Buffer.alloc(19 + name.length);
    message[0] = 0x4e; // 'N'
    message.writeBigUInt64BE(NODE_FLAGS, 1);
    message.writeUInt32BE(this.ourChallenge, 9);
    message.writeUInt32BE(this.node.creation, 13);
    message.writeUInt16BE(name.length, 17);
    name.copy(message, 19);
    write(message);
    this.stage = 'reply';
  }

  private refuse(): false {
    this.node.shared.counters.refused += 1;
    clearTimeout(this.timer);
    this.socket.off('data', this.onData);
    this.socket.destroy();
    return false;
  }
}

/** An established connection from a (hidden) peer: ticks and `rex` calls. */
class PeerConnection {
  private readonly reader = new FrameReader({ headerBytes: 4, maxFrameBytes: 64 * 1024 * 1024 });
  readonly sendSender: boolean;
  sentSinceTick = false;
  silentIntervals = 0;
  private closed = false;

  constructor(
    private readonly node: SimulatedNode,
    private readonly socket: Socket,
    readonly peerName: string,
    peerFlags: bigint,
    leftover: Buffer[],
  ) {
    this.sendSender = (peerFlags & DistFlag.SEND_SENDER) !== 0n;
    node.peers.set(peerName, this);
    socket.on('data', this.onData);
    socket.once('close', () => this.close());
    for (const chunk of leftover) this.onData(chunk);
  }

  write(bytes: Buffer): void {
    if (this.closed) return;
    this.sentSinceTick = true;
    this.socket.write(bytes);
  }

  /** Called every tick interval by the cluster: tick if idle, drop a peer silent too long. */
  tick(): void {
    this.silentIntervals += 1;
    if (this.silentIntervals >= SILENT_TICKS) {
      this.close();
      return;
    }
    if (!this.sentSinceTick) this.write(TICK_FRAME);
    this.sentSinceTick = false;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.node.peers.get(this.peerName) === this) this.node.peers.delete(this.peerName);
    this.socket.destroy();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.reader.push(chunk);
    try {
      for (let frame = this.reader.next(); frame !== undefined; frame = this.reader.next()) {
        this.silentIntervals = 0;
        if (frame.length > 0) this.dispatch(frame);
        if (this.closed) return;
      }
    } catch {
      // A real node drops a connection that sends garbage.
      this.close();
    }
  };

  private dispatch(frame: Buffer): void {
    const { control, payload } = parseDistMessage(frame);
    if (!(control instanceof Tuple) || control.at(0) !== Op.REG_SEND) return;
    const to = control.at(3);
    if (!(to instanceof Atom) || to.name !== 'rex' || !(payload instanceof Tuple)) return;
    // `{From, {call, M, F, A, GL}}` (what rpc and erl_call send to rex), or the gen_server form
    // `{'$gen_call', {From, Ref}, {call, M, F, A, GL}}`.
    let from: Term | undefined;
    let ref: Term | undefined;
    let request: Term | undefined;
    if (payload.arity === 2) {
      [from, request] = payload.elements;
    } else if (payload.arity === 3 && payload.at(0) === atom('$gen_call')) {
      const tag = payload.at(1);
      if (tag instanceof Tuple && tag.arity === 2) [from, ref] = tag.elements;
      request = payload.at(2);
      if (!(ref instanceof Reference)) return;
    }
    if (!(from instanceof Pid) || !(request instanceof Tuple) || request.arity !== 5) return;
    const [call, module, fn, args] = request.elements;
    if (call !== atom('call') || !(module instanceof Atom) || !(fn instanceof Atom)) return;
    // A list of small integers travels as STRING_EXT: `[1]` arrives as a charlist.
    const argList =
      args instanceof Charlist ? Array.from(args.value, (char) => char.charCodeAt(0)) : args;
    if (!Array.isArray(argList)) return;
    this.node.shared.counters.calls += 1;
    const reply = answerCall(this.node.model, this.node.context, module.name, fn.name, argList);
    this.node.rexReply(this, from, reply, ref);
  }
}

/** What a node sees: the names, and `erlang:nodes(visible)`'s reply encoded. */
interface View {
  names: () => string[];
  encoded: () => Buffer;
}

/**
 * A group's names as one encoded list, and where each element starts: the list of a node in that
 * group alone is these bytes with its own element cut out, so a thousand-node mesh's first probes
 * do not encode a million atoms in this one process (they were a quarter of its time over a
 * start, and a real node has a CPU of its own).
 */
class EncodedGroup {
  private readonly elements: Buffer[];
  private readonly index: Map<string, number>;

  constructor(readonly names: string[]) {
    this.elements = names.map((name) => encodeTerm(atom(name)).subarray(1));
    this.index = new Map(names.map((name, at) => [name, at]));
  }

  /** `encodeTerm` of the group's names in order, without `self`. */
  without(self: string): Buffer {
    const skip = this.index.get(self);
    const count = this.names.length - (skip === undefined ? 0 : 1);
    if (count === 0) return encodeTerm([]);
    const head = Buffer.from([131, 108, 0, 0, 0, 0]);
    head.writeUInt32BE(count, 2);
    const parts: Buffer[] = [head];
    for (let at = 0; at < this.elements.length; at++)
      if (at !== skip) parts.push(this.elements[at]!);
    parts.push(NIL_TAIL);
    return Buffer.concat(parts);
  }
}

const NIL_TAIL = Buffer.from([106]);

/**
 * For each address, what it sees under `groups` (itself excluded), built when a node is first
 * asked, so a thousand-node mesh costs nothing up front.
 */
export function visibility(names: Map<string, string>, groups: string[][]): Map<string, View> {
  const groupsOf = new Map<string, string[][]>();
  for (const group of groups) {
    const members = group.filter((address) => names.has(address));
    for (const address of members) {
      const list = groupsOf.get(address) ?? [];
      list.push(members);
      groupsOf.set(address, list);
    }
  }
  const encodedGroups = new Map<string[], EncodedGroup>();
  const result = new Map<string, View>();
  for (const address of names.keys()) {
    const own = groupsOf.get(address) ?? [];
    const self = names.get(address)!;
    const seenNames = () => {
      const seen = new Set<string>();
      for (const members of own) {
        for (const other of members) if (other !== address) seen.add(names.get(other)!);
      }
      return [...seen];
    };
    const group = own.length === 1 ? own[0]! : undefined;
    result.set(address, {
      names: seenNames,
      encoded: () => {
        if (!group) return encodeTerm(seenNames().map((name) => atom(name)));
        let encoded = encodedGroups.get(group);
        if (!encoded) {
          encoded = new EncodedGroup(group.map((member) => names.get(member)!));
          encodedGroups.set(group, encoded);
        }
        return encoded.without(self);
      },
    });
  }
  return result;
}

/**
 * Starts one simulated node per address, each `basename@address` listening on `address:port`,
 * and resolves once every one is listening. On a failure the nodes started so far are stopped.
 */
export async function startSimulatedCluster(
  options: SimulatedClusterOptions,
): Promise<SimulatedCluster> {
  const { addresses, port, basename } = options;
  if (new Set(addresses).size !== addresses.length) {
    throw new Error('startSimulatedCluster: addresses must be distinct');
  }
  const shared: ClusterShared = {
    cookie: options.cookie,
    nodeNames: new Set(
      addresses.map((address) => `${basename}@${nameHostOf(address, options.addressMap)}`),
    ),
    tickIntervalMs: options.tickIntervalMs ?? 15_000,
    counters: { accepted: 0, refused: 0, calls: 0 },
  };
  const now = Date.now();
  const codeSpec = options.code;
  const builds = codeSpec ? simCodeBuilds(codeSpec) : undefined;
  const withCode = (model: SimNodeModel, index: number): SimNodeModel =>
    builds && codeSpec ? { ...model, code: simCodeOf(builds, codeSpec, index) } : model;
  const nodes = addresses.map(
    (address, index) =>
      new SimulatedNode(
        address,
        nameHostOf(address, options.addressMap),
        port,
        basename,
        withCode(
          options.model
            ? options.model(address, index)
            : options.settled
              ? settledModel(index, addresses.length, now)
              : defaultModel(index, now),
          index,
        ),
        shared,
      ),
  );
  const byAddress = new Map(nodes.map((node) => [node.address, node]));
  const names = new Map(nodes.map((node) => [node.address, node.name]));

  const setPartitions = (groups: string[][]) => {
    const seen = visibility(names, groups);
    for (const node of nodes) node.setVisible(seen.get(node.address)!);
  };
  setPartitions(options.partitions ?? [addresses]);

  // One timer for every connection of every node, not one per connection.
  const ticker = setInterval(() => {
    for (const node of nodes) for (const connection of [...node.connections()]) connection.tick();
  }, shared.tickIntervalMs);
  ticker.unref();

  const stop = async () => {
    clearInterval(ticker);
    await Promise.all(nodes.map((node) => node.stop()));
  };

  try {
    // Listening in batches keeps a thousand nodes from opening a thousand sockets at once.
    for (let start = 0; start < nodes.length; start += 100) {
      await Promise.all(nodes.slice(start, start + 100).map((node) => node.listen()));
    }
  } catch (error) {
    await stop();
    throw new Error(
      `startSimulatedCluster: cannot listen on port ${port}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }

  return {
    nodes: nodes.map((node) => node.name),
    setPartitions,
    async stopNode(address) {
      await byAddress.get(address)?.stop();
    },
    stats: () => ({
      ...shared.counters,
      connected: nodes.reduce((sum, node) => sum + node.peers.size, 0),
    }),
    stop,
  };
}
