import 'server-only';

// The probe catalogue's reads of the distribution links: each connection's counters, its
// controller, the busy limit and a port's queue (see catalogue.ts).

import { Pid, Port, atom } from '../codec/terms';
import {
  ProbeReplyError,
  asAtomName,
  asInteger,
  asList,
  asTuple,
  capList,
  isAtom,
  proplistGet,
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
    parse(reply) {
      const [tag, list] = asTuple(reply, 2, '{ok, NodesInfo}');
      if (!isAtom(tag, 'ok')) throw new ProbeReplyError('{ok, NodesInfo}');
      const links = asList(list!).map((entry) => {
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
      const { items, truncated } = capList(links, cap);
      return { links: items, truncated };
    },
  };
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
  return systemInfo('dist_ctrl', (reply) =>
    capList(asList(reply), cap).items.map((entry) => {
      const [node, controller] = asTuple(entry, 2, '{Node, Controller}');
      if (!(controller instanceof Port) && !(controller instanceof Pid)) {
        throw new ProbeReplyError('a port or pid as controller');
      }
      return { node: asAtomName(node!, 'a node name'), controller };
    }),
  );
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
