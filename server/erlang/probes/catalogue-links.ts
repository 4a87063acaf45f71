import 'server-only';

// The probe catalogue's reads of the distribution links: each connection's counters, its
// controller, the busy limit and a port's queue (see catalogue.ts).

import { TermCursor } from '../codec/skim';
import { Pid, Port, atom, type Atom, type Term } from '../codec/terms';
import {
  ProbeReplyError,
  asAtomName,
  asInteger,
  asList,
  asTuple,
  capList,
  isAtom,
  proplistGet,
  skimmedOrDecoded,
} from './reply';
import { systemInfo, type ProbeCall } from './probe-call';

/** One distribution connection as the node counts it (`net_kernel:nodes_info/0`). */
export interface LinkCounter {
  /** The peer's node name (an atom the node reported itself). */
  node: string;
  /** `hidden` connections (remote shells, beamscope itself) beside `normal` (visible) ones. */
  hidden: boolean;
  /** Packets received from and sent to the peer since the connection came up. */
  inPackets: number;
  outPackets: number;
}

/**
 * `net_kernel:nodes_info()` → every connection's packet counters, `{ok, [{Node, Info}]}` with
 * `in`/`out` in Info. It runs in the calling process: a lookup in `sys_dist` and one
 * `get_status` round trip to each connection's owner process (about 7 µs for one peer on
 * OTP 25.2), so its cost grows with the peers; the list is cut at `cap`. Counters are packets
 * (distribution frames, large messages in 64 kB fragments), not bytes; a connection still being
 * set up reports 0 and 0.
 */
export function nodesInfoProbe(
  cap: number,
): ProbeCall<{ links: LinkCounter[]; truncated: boolean }> {
  return {
    module: 'net_kernel',
    fn: 'nodes_info',
    args: [],
    // Skimmed from the bytes (see skimNodesInfo): at 1,000 nodes the decoded reply was most of
    // the server's garbage.
    encodedReply: true,
    parse(reply) {
      if (!(reply instanceof Uint8Array)) throw new ProbeReplyError('the encoded nodes_info reply');
      const { items, truncated } = capList(nodesInfoFromBytes(reply), cap);
      return { links: items, truncated };
    },
  };
}

function nodesInfoFromBytes(bytes: Uint8Array): LinkCounter[] {
  return skimmedOrDecoded(bytes, skimNodesInfo, nodesInfoOf, 'a nodes_info reply');
}

/** The decoded reply's counters: the reference for what {@link skimNodesInfo} returns. */
export function nodesInfoOf(reply: Term): LinkCounter[] {
  const [tag, list] = asTuple(reply, 2, '{ok, NodesInfo}');
  if (!isAtom(tag, 'ok')) throw new ProbeReplyError('{ok, NodesInfo}');
  return asList(list!).map((entry) => {
    const [node, info] = asTuple(entry, 2, '{Node, Info}');
    const props = asList(info!, 'a node_info list');
    const count = (key: string) => {
      const value = proplistGet(props, key);
      if (value === undefined) throw new ProbeReplyError(`node_info '${key}'`);
      return asInteger(value);
    };
    return {
      node: asAtomName(node!, 'a node name'),
      hidden: isAtom(proplistGet(props, 'type'), 'hidden'),
      inPackets: count('in'),
      outPackets: count('out'),
    };
  });
}

/** The containers around a `node_info` value: the reply, the list, the entry, its list, the pair. */
const VALUE_DEPTH = 5;

/**
 * The counters of `{ok, [{Node, [{Key, Value}]}]}` read straight from the reply's bytes: the node,
 * `type`, `in` and `out` of each entry, every other value skipped unbuilt (the owner's pid, the
 * address record). `undefined` for anything but that plain form — a pair that is not
 * `{Atom, Value}`, a missing counter, a charlist, an improper list, a compressed reply — which
 * {@link nodesInfoFromBytes} then decodes the general way, so that both read the same reply alike
 * (test/unit/erlang/link-probes.test.ts holds them equal).
 */
export function skimNodesInfo(bytes: Uint8Array): LinkCounter[] | undefined {
  const cursor = TermCursor.of(bytes);
  if (!cursor || cursor.tuple() !== 2 || cursor.atom()?.name !== 'ok') return undefined;
  const count = cursor.list();
  if (count === undefined) return undefined;
  const links: LinkCounter[] = [];
  for (let index = 0; index < count; index++) {
    if (cursor.tuple() !== 2) return undefined;
    const node = cursor.atom();
    const pairs = node && cursor.list();
    if (!node || pairs === undefined) return undefined;
    let type: Atom | null | undefined;
    let inPackets: number | bigint | undefined;
    let outPackets: number | bigint | undefined;
    for (let pair = 0; pair < pairs; pair++) {
      if (cursor.tuple() !== 2) return undefined;
      const key = cursor.atom()?.name;
      if (key === undefined) return undefined;
      // The first pair of a key is the one `proplistGet` finds; later ones are skipped.
      if (key === 'in' && inPackets === undefined) {
        inPackets = cursor.integer();
        if (inPackets === undefined) return undefined;
      } else if (key === 'out' && outPackets === undefined) {
        outPackets = cursor.integer();
        if (outPackets === undefined) return undefined;
      } else if (key === 'type' && type === undefined) {
        type = cursor.atomOrSkip(VALUE_DEPTH);
      } else {
        cursor.skip(VALUE_DEPTH);
      }
    }
    if (pairs > 0 && !cursor.listEnd()) return undefined;
    if (inPackets === undefined || outPackets === undefined) return undefined;
    links.push({
      node: node.name,
      hidden: type?.name === 'hidden',
      inPackets: Number(inPackets),
      outPackets: Number(outPackets),
    });
  }
  if (count > 0 && !cursor.listEnd()) return undefined;
  return cursor.done ? links : undefined;
}

/** A connection's controller: a port for TCP distribution, a process for TLS and others. */
export interface DistController {
  node: string;
  controller: Port | Pid;
}

/**
 * `erlang:system_info(dist_ctrl)` → `[{Node, PortOrPid}]`: each connection's controller, well
 * under a microsecond on the node. The ports are the arguments {@link portQueueSizeProbe} takes
 * back: terms the node made, so sending them creates nothing.
 */
export function distControllersProbe(cap: number): ProbeCall<DistController[]> {
  return {
    module: 'erlang',
    fn: 'system_info',
    args: [atom('dist_ctrl')],
    // Read from the bytes: a thousand `{Node, Port}` tuples a link reading at 1,000 nodes.
    encodedReply: true,
    parse(reply) {
      if (!(reply instanceof Uint8Array)) throw new ProbeReplyError('the encoded dist_ctrl reply');
      return skimmedOrDecoded(
        reply,
        (bytes) => skimDistControllers(bytes, cap),
        (term) => distControllersOf(term, cap),
        'a dist_ctrl reply',
      );
    },
  };
}

/** The decoded reply's first `cap` controllers: the reference for {@link skimDistControllers}. */
export function distControllersOf(reply: Term, cap: number): DistController[] {
  return capList(asList(reply), cap).items.map((entry) => {
    const [node, controller] = asTuple(entry, 2, '{Node, Controller}');
    if (!(controller instanceof Port) && !(controller instanceof Pid)) {
      throw new ProbeReplyError('a port or pid as controller');
    }
    return { node: asAtomName(node!, 'a node name'), controller };
  });
}

/**
 * The first `cap` entries of `[{Node, PortOrPid}]` read straight from the bytes, no tuple or list
 * built (the rest skipped unbuilt); `undefined` for any other form, which the general decoder
 * then reads (test/unit/erlang/link-probes.test.ts holds both to the same answers).
 */
export function skimDistControllers(bytes: Uint8Array, cap: number): DistController[] | undefined {
  const cursor = TermCursor.of(bytes);
  const count = cursor?.list();
  if (!cursor || count === undefined) return undefined;
  const controllers: DistController[] = [];
  for (let index = 0; index < count; index++) {
    if (index >= cap) {
      cursor.skip(1);
      continue;
    }
    if (cursor.tuple() !== 2) return undefined;
    const node = cursor.atom();
    if (!node) return undefined;
    const controller = cursor.leaf();
    if (!(controller instanceof Port) && !(controller instanceof Pid)) return undefined;
    controllers.push({ node: node.name, controller });
  }
  if (count > 0 && !cursor.listEnd()) return undefined;
  return cursor.done ? controllers : undefined;
}

/**
 * `erlang:system_info(dist_buf_busy_limit)`: bytes the distribution buffer may hold before the
 * link counts as busy and senders to that node are suspended (1 MB by default, `+zdbbl`).
 */
export const distBufBusyLimitProbe = systemInfo('dist_buf_busy_limit', (reply) => asInteger(reply));

/**
 * `erlang:port_info(Port, queue_size)`: bytes waiting in a TCP distribution port's driver queue,
 * under a microsecond. Data queues there only once the kernel's socket send buffer is full (the
 * peer reads slower than the node writes); past the port's high watermark (8 kB by default) the
 * port is busy and messages pile up in the distribution buffer. `null`: the port closed since.
 */
export function portQueueSizeProbe(port: Port): ProbeCall<number | null> {
  return {
    module: 'erlang',
    fn: 'port_info',
    args: [port, atom('queue_size')],
    parse(reply) {
      if (isAtom(reply, 'undefined')) return null;
      return asInteger(asTuple(reply, 2, '{queue_size, Bytes}')[1]!);
    },
  };
}
