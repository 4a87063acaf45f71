import 'server-only';

/**
 * The read-only probe catalogue: the only place in beamscope that names remote modules and
 * functions, one file per concept — the node itself (here), its distribution links
 * (`catalogue-links.ts`), the registries' tables (`catalogue-registries.ts`), a name's lookup
 * (`catalogue-lookup.ts`), its code and versions (`catalogue-code.ts`); the shape of a call is in
 * `probe-call.ts`. Every entry is a constant call (module, function, arguments fixed there) plus
 * a pure parser of its reply. Nothing takes a module, function or argument from a request.
 */
import { preEncode } from '../codec/encode';
import {
  Atom,
  ErlMap,
  ExportFun,
  ImproperList,
  OpaqueFun,
  PreEncoded,
  Tuple,
  atom,
  type Term,
} from '../codec/terms';
import {
  ProbeReplyError,
  asInteger,
  asList,
  asText,
  asTuple,
  atomNamesOf,
  capList,
  isAtom,
  proplistGet,
} from './reply';
import { DEFAULT_LIST_CAP, systemInfo, type ProbeCall } from './probe-call';
import { tableSizeProbe } from './catalogue-registries';

export { DEFAULT_LIST_CAP, type ProbeCall } from './probe-call';
export * from './catalogue-links';
export * from './catalogue-registries';
export * from './catalogue-lookup';
export * from './catalogue-code';

/** `erlang:system_info(otp_release)` → `"25"`. */
export const otpReleaseProbe = systemInfo('otp_release', (reply) => asText(reply));

/** `erlang:system_info(version)` → the ERTS version, e.g. `"13.1.5"`. */
export const ertsVersionProbe = systemInfo('version', (reply) => asText(reply));

/** `erlang:system_info(process_count)`. */
export const processCountProbe = systemInfo('process_count', (reply) => asInteger(reply));

/** `erlang:system_info(process_limit)`. */
export const processLimitProbe = systemInfo('process_limit', (reply) => asInteger(reply));

/** `erlang:system_info(schedulers)`. */
export const schedulersProbe = systemInfo('schedulers', (reply) => asInteger(reply));

/** `erlang:system_info(schedulers_online)`. */
export const schedulersOnlineProbe = systemInfo('schedulers_online', (reply) => asInteger(reply));

/**
 * `application:loaded_applications()` → the Elixir version when the `elixir` application is
 * loaded, else `null`. A list of a few dozen `{App, Description, Vsn}` tuples; asking this
 * instead of calling `'Elixir.System':version()` sends no Elixir atom to an Erlang-only node.
 */
export const elixirVersionProbe: ProbeCall<string | null> = {
  module: 'application',
  fn: 'loaded_applications',
  args: [],
  batchable: true,
  parse(reply) {
    for (const entry of asList(reply)) {
      if (entry instanceof Tuple && entry.arity === 3 && isAtom(entry.at(0), 'elixir')) {
        return asText(entry.at(2)!, 'the elixir application version');
      }
    }
    return null;
  },
};

/** `erlang:statistics(wall_clock)` → `{TotalMs, SinceLastCallMs}`: the node's uptime in ms. */
export const uptimeProbe: ProbeCall<number> = {
  module: 'erlang',
  fn: 'statistics',
  args: [atom('wall_clock')],
  batchable: true,
  parse: (reply) => asInteger(asTuple(reply, 2, '{Total, SinceLast}')[0]!),
};

/** `erlang:statistics(run_queue)`: processes ready to run, all run queues together. */
export const runQueueProbe: ProbeCall<number> = {
  module: 'erlang',
  fn: 'statistics',
  args: [atom('run_queue')],
  batchable: true,
  parse: (reply) => asInteger(reply),
};

/** Memory in bytes, as `erlang:memory()` reports it. */
export interface MemoryReport {
  total: number;
  processes: number;
  ets: number;
  binary: number;
  atom: number;
  /**
   * Memory for loaded code; null when the node does not report it. It moves when a module is
   * loaded, purged or replaced, so the code scans use it as their free "has the code changed?"
   * signal (see `server/collector/code-scans.ts`).
   */
  code: number | null;
}

/** `erlang:memory()` → the totals beamscope shows. */
export const memoryProbe: ProbeCall<MemoryReport> = {
  module: 'erlang',
  fn: 'memory',
  args: [],
  batchable: true,
  parse(reply) {
    const list = asList(reply);
    const read = (key: keyof MemoryReport): number => {
      const value = proplistGet(list, key);
      if (value === undefined) throw new ProbeReplyError(`memory entry '${key}'`);
      return asInteger(value);
    };
    return {
      total: read('total'),
      processes: read('processes'),
      ets: read('ets'),
      binary: read('binary'),
      atom: read('atom'),
      code: proplistGet(list, 'code') === undefined ? null : read('code'),
    };
  },
};

/**
 * `net_kernel:get_net_ticktime()` in seconds; during a change it answers
 * `{ongoing_change_to, T}`, reported as the new value.
 */
export const netTicktimeProbe: ProbeCall<number> = {
  module: 'net_kernel',
  fn: 'get_net_ticktime',
  args: [],
  batchable: true,
  parse(reply) {
    if (reply instanceof Tuple && reply.arity === 2 && isAtom(reply.at(0), 'ongoing_change_to')) {
      return asInteger(reply.at(1)!);
    }
    if (isAtom(reply, 'ignored')) throw new ProbeReplyError('a tick time (distribution is off)');
    return asInteger(reply);
  },
};

/** A capped list of node names. */
export interface NodeList {
  nodes: string[];
  /** How many the node reported (may exceed `nodes.length` when truncated). */
  count: number;
  truncated: boolean;
}

const nodesProbe = (kind: 'visible' | 'hidden', cap: number): ProbeCall<NodeList> => ({
  module: 'erlang',
  fn: 'nodes',
  args: [atom(kind)],
  // Read from the bytes (`decodeCachedAtomNames`): a peer list is a thousand names at 1,000
  // nodes, and a start reads one per node.
  encodedReply: true,
  parse(reply) {
    if (!(reply instanceof Uint8Array)) throw new ProbeReplyError('the encoded list of nodes');
    const names = atomNamesOf(reply, 'a list of nodes');
    const { items, truncated } = capList(names, cap);
    return { nodes: items, count: names.length, truncated };
  },
});

/** `erlang:nodes(visible)`: the nodes this node is connected to (hidden ones excluded). */
export const visibleNodesProbe = (cap = DEFAULT_LIST_CAP) => nodesProbe('visible', cap);

/** `erlang:nodes(hidden)`: hidden connections (remote shells, beamscope itself). */
export const hiddenNodesProbe = (cap = DEFAULT_LIST_CAP) => nodesProbe('hidden', cap);

/**
 * `ets:info(sys_dist, size)`: the node's distribution connections (visible, hidden and pending),
 * from `net_kernel`'s own table, in O(1). A cheap sign that a node's peers may have changed: in a
 * large cluster the collector reads the whole `erlang:nodes(visible)` list — a thousand atoms to
 * decode per node — only when this count moved, or now and then (`server/collector`). `null` when
 * the node has no such table (not distributed).
 */
export const connectionCountProbe = tableSizeProbe(atom('sys_dist'));

/** A batched entry's part of the batch call, encoded once per entry (see {@link batchProbe}). */
interface BatchElement {
  moduleAtom: Atom;
  fnAtom: Atom;
  encodedArgs: PreEncoded;
}

const batchElements = new WeakMap<ProbeCall<unknown>, BatchElement>();

/** True when `term` holds a fun anywhere: such an argument would be code for the applier to run. */
function carriesFun(term: Term): boolean {
  if (term instanceof ExportFun || term instanceof OpaqueFun) return true;
  if (term instanceof PreEncoded) return carriesFun(term.term);
  if (Array.isArray(term)) return term.some(carriesFun);
  if (term instanceof Tuple || term instanceof ImproperList) return term.elements.some(carriesFun);
  if (term instanceof ErlMap)
    return term.entries.some(([key, value]) => carriesFun(key) || carriesFun(value));
  return false;
}

function batchElement(call: ProbeCall<unknown>): BatchElement {
  let element = batchElements.get(call);
  if (!element) {
    if (!call.batchable || call.encodedReply || call.args.some(carriesFun)) {
      throw new Error(`${call.module}:${call.fn} may not travel in a batch`);
    }
    element = {
      moduleAtom: atom(call.module),
      fnAtom: atom(call.fn),
      encodedArgs: preEncode([...call.args]),
    };
    batchElements.set(call, element);
  }
  return element;
}

/**
 * `lists:zipwith3(fun erlang:apply/3, Modules, Functions, ArgLists)`: the catalogue entries
 * `calls` in one remote call, each applied on the node exactly as it is called alone; the reply
 * is the list of their replies, in order, each for its own entry's `parse`. At 1,000 nodes the
 * collector's CPU goes to the number of calls (a request encoded, a timer, a reply matched), not
 * to what they read. The applier runs nothing but entries of this catalogue marked `batchable`
 * (checked here: never a call that carries a fun, never a batch), so it can call no more than the
 * catalogue could one by one. Each entry's arguments are encoded once and kept beside it: a
 * probe sends the same entries every cycle, to every node.
 *
 * One element that raises makes the whole call raise (`{badrpc, {'EXIT', _}}`), as `lists`
 * gives no way to catch per element without loading code: the caller then asks each alone
 * (`batch.ts`), so every field keeps its own answer or error.
 */
export function batchProbe(calls: readonly ProbeCall<unknown>[]): ProbeCall<Term[]> {
  const elements = calls.map(batchElement);
  return {
    module: 'lists',
    fn: 'zipwith3',
    args: [
      new ExportFun(atom('erlang'), atom('apply'), 3),
      elements.map((element) => element.moduleAtom),
      elements.map((element) => element.fnAtom),
      elements.map((element) => element.encodedArgs),
    ],
    parse(reply) {
      const replies = asList(reply);
      if (replies.length !== calls.length) throw new ProbeReplyError('one reply per batched call');
      return replies;
    },
  };
}
