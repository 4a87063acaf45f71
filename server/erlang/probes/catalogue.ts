import 'server-only';

import { Atom, ExportFun, Pid, Port, Tuple, atom, tuple, type Term } from '../codec/terms';
import {
  ProbeReplyError,
  asAtomName,
  asInteger,
  asList,
  asText,
  asTuple,
  capList,
  isAtom,
  proplistGet,
} from './reply';

/**
 * The read-only probe catalogue: the only place in beamscope that names remote modules and
 * functions. Every entry is a constant call (module, function, arguments fixed here) plus a pure
 * parser of its reply. Nothing here takes a module, function or argument from a request.
 */
export interface ProbeCall<T> {
  readonly module: string;
  readonly fn: string;
  readonly args: readonly Term[];
  parse(reply: Term): T;
}

/** Lists that come back from a node (connected nodes) are cut at this length by default. */
export const DEFAULT_LIST_CAP = 1000;

const systemInfo = <T>(item: string, parse: (reply: Term) => T): ProbeCall<T> => ({
  module: 'erlang',
  fn: 'system_info',
  args: [atom(item)],
  parse,
});

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
  parse: (reply) => asInteger(asTuple(reply, 2, '{Total, SinceLast}')[0]!),
};

/** `erlang:statistics(run_queue)`: processes ready to run, all run queues together. */
export const runQueueProbe: ProbeCall<number> = {
  module: 'erlang',
  fn: 'statistics',
  args: [atom('run_queue')],
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
  parse(reply) {
    const names = asList(reply).map((node) => asAtomName(node, 'a node name'));
    const { items, truncated } = capList(names, cap);
    return { nodes: items, count: names.length, truncated };
  },
});

/** `erlang:nodes(visible)`: the nodes this node is connected to (hidden ones excluded). */
export const visibleNodesProbe = (cap = DEFAULT_LIST_CAP) => nodesProbe('visible', cap);

/** `erlang:nodes(hidden)`: hidden connections (remote shells, beamscope itself). */
export const hiddenNodesProbe = (cap = DEFAULT_LIST_CAP) => nodesProbe('hidden', cap);

// ----- distribution links ----------------------------------------------------------------------

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

// ----- registries ----------------------------------------------------------------------------

/** `ets:info(Table, size)` for a named table: O(1); `null` when no such table exists. */
export function tableSizeProbe(table: Atom): ProbeCall<number | null> {
  return {
    module: 'ets',
    fn: 'info',
    args: [table, atom('size')],
    parse: (reply) => (isAtom(reply, 'undefined') ? null : asInteger(reply)),
  };
}

/**
 * `ets:info(sys_dist, size)`: the node's distribution connections (visible, hidden and pending),
 * from `net_kernel`'s own table, in O(1). A cheap sign that a node's peers may have changed: in a
 * large cluster the collector reads the whole `erlang:nodes(visible)` list — a thousand atoms to
 * decode per node — only when this count moved, or now and then (`server/collector`). `null` when
 * the node has no such table (not distributed).
 */
export const connectionCountProbe = tableSizeProbe(atom('sys_dist'));

/** `:global`'s name table: its size is the number of globally registered names, in O(1). */
export const globalNamesProbe = tableSizeProbe(atom('global_names'));

/** Swarm's replicated registry table: its size is this node's view of the whole registry. */
export const swarmRegistrySizeProbe = tableSizeProbe(atom('swarm_registry'));

/**
 * Match spec counting `swarm_registry` records `{entry, Name, Pid, Ref, Meta, Clock}` whose pid
 * lives on the node evaluating it (`node(Pid) =:= node()`), so the count happens inside the node.
 */
export const SWARM_HOSTED_MATCH_SPEC: Term = [
  tuple(
    tuple(atom('entry'), atom('_'), atom('$1'), atom('_'), atom('_'), atom('_')),
    [tuple(atom('=:='), tuple(atom('node'), atom('$1')), tuple(atom('node')))],
    [atom('true')],
  ),
];

/** `ets:select_count(swarm_registry, MS)`: the Swarm names whose process this node hosts. */
export const swarmHostedProbe: ProbeCall<number> = {
  module: 'ets',
  fn: 'select_count',
  args: [atom('swarm_registry'), SWARM_HOSTED_MATCH_SPEC],
  parse: (reply) => asInteger(reply),
};

/** The default `pg` scope keeps one row per group in a named table called `pg`. */
export const pgGroupCountProbe = tableSizeProbe(atom('pg'));

/**
 * Match spec over the `pg` scope table (rows `{Group, AllPids, LocalPids}`) returning
 * `{Group, length(AllPids), length(LocalPids)}`: member counts without listing any pid.
 */
export const PG_GROUP_MATCH_SPEC: Term = [
  tuple(
    tuple(atom('$1'), atom('$2'), atom('$3')),
    [],
    [
      tuple(
        tuple(atom('$1'), tuple(atom('length'), atom('$2')), tuple(atom('length'), atom('$3'))),
      ),
    ],
  ),
];

/** One `pg` group: its name (as Erlang text) and member counts. */
export interface PgGroupSample {
  group: Term;
  members: number;
  localMembers: number;
}

/** `ets:select(pg, MS, Limit)`: at most `limit` groups with their member counts. */
export function pgGroupsProbe(limit: number): ProbeCall<PgGroupSample[]> {
  return {
    module: 'ets',
    fn: 'select',
    args: [atom('pg'), PG_GROUP_MATCH_SPEC, limit],
    parse(reply) {
      if (isAtom(reply, '$end_of_table')) return [];
      const [matches] = asTuple(reply, 2, '{Matches, Continuation}');
      return asList(matches!).map((row) => {
        const [group, members, local] = asTuple(row, 3, '{Group, Members, LocalMembers}');
        return { group: group!, members: asInteger(members!), localMembers: asInteger(local!) };
      });
    },
  };
}

/**
 * A match spec counting the rows of a table whose process lives on the node evaluating it. The
 * pid is read from the whole row (`'$1'`) by `path` — element indexes, outermost first — so the
 * spec holds for a row of any arity, and counting happens inside the node: no row is shipped.
 */
export function hostedRowsMatchSpec(path: readonly number[]): Term {
  const pid = rowElement(path);
  return [
    tuple(
      atom('$1'),
      [tuple(atom('=:='), tuple(atom('node'), pid), tuple(atom('node')))],
      [atom('true')],
    ),
  ];
}

/** `ets:select_count(Table, MS)`: the rows of `table` whose pid (at `path`) is on this node. */
export function hostedRowsProbe(table: Atom, path: readonly number[]): ProbeCall<number> {
  return {
    module: 'ets',
    fn: 'select_count',
    args: [table, hostedRowsMatchSpec(path)],
    parse: (reply) => asInteger(reply),
  };
}

/** The pid at `path` inside the row `'$1'` (element indexes, outermost first), as a guard term. */
function rowElement(path: readonly number[]): Term {
  let term: Term = atom('$1');
  for (const index of path) term = tuple(atom('element'), index, term);
  return term;
}

/** How a replicated table's rows hold their key and their process. */
export interface RowLayout {
  /** Element index of the key in a row. */
  key: number;
  /** Where the pid is: element indexes, outermost first. */
  pid: readonly number[];
}

/**
 * `ets:select_count(Table, MS)`: the rows of this node's copy whose process lives on `host`. A
 * row of counts per host is a fingerprint of a copy: two copies that agree on every host's count
 * need no closer look, so a comparison ships names only for the hosts whose counts differ.
 */
export function rowsOnHostProbe(table: Atom, layout: RowLayout, host: Atom): ProbeCall<number> {
  return {
    module: 'ets',
    fn: 'select_count',
    args: [
      table,
      [
        tuple(
          atom('$1'),
          [tuple(atom('=:='), tuple(atom('node'), rowElement(layout.pid)), host)],
          [atom('true')],
        ),
      ],
    ],
    parse: (reply) => asInteger(reply),
  };
}

/**
 * `ets:select(Table, MS)`: the keys of the rows of this node's copy whose process lives on
 * `host` — keys only, the pid's node being `host` by the guard. Asked of one copy per group of
 * copies that agree on every host's count, and only for the hosts where the groups differ.
 */
export function keysOnHostProbe(table: Atom, layout: RowLayout, host: Atom): ProbeCall<Term[]> {
  return {
    module: 'ets',
    fn: 'select',
    args: [
      table,
      [
        tuple(
          atom('$1'),
          [tuple(atom('=:='), tuple(atom('node'), rowElement(layout.pid)), host)],
          [tuple(atom('element'), layout.key, atom('$1'))],
        ),
      ],
    ],
    parse: (reply) => asList(reply),
  };
}

/** `ets:lookup(Table, Key)` → the pid of each row under `key` (at the layout's pid path). */
export function rowPidsProbe(table: Atom, key: Term, layout: RowLayout): ProbeCall<Term[]> {
  return {
    module: 'ets',
    fn: 'lookup',
    args: [table, key],
    parse: (reply) =>
      asList(reply).map((row) => {
        let value: Term = row;
        for (const index of layout.pid) {
          if (!(value instanceof Tuple) || value.arity < index) {
            throw new ProbeReplyError(`a row with a pid at ${layout.pid.join('.')}`);
          }
          value = value.at(index - 1)!;
        }
        return value;
      }),
  };
}

/** `:global`'s rows are `{Name, Pid, Method, Ref}` (OTP 25): the names whose process is here. */
export const globalHostedProbe = hostedRowsProbe(atom('global_names'), [2]);

/**
 * The syn scopes started on this node, from syn's own table of tables (`syn_table_names`, rows
 * `{{TableId, Scope}, TableName}`, syn 3.x): a scope is there once its registry table is. Raises
 * `badarg` where syn is not started, even if it is loaded — unlike `syn:node_scopes()`, which
 * only reads the application environment.
 */
export const synStartedScopesProbe: ProbeCall<string[]> = {
  module: 'ets',
  fn: 'select',
  args: [
    atom('syn_table_names'),
    [tuple(tuple(tuple(atom('syn_registry_by_name'), atom('$1')), atom('_')), [], [atom('$1')])],
  ],
  parse: (reply) => asList(reply).map((scope) => asAtomName(scope, 'a syn scope')),
};

/**
 * `supervisor:count_children(Sup)` → its `active` children. For a Horde dynamic supervisor the
 * local `<Name>.ProcessesSupervisor` holds the children this node runs.
 */
export function supervisorActiveChildrenProbe(supervisor: Atom): ProbeCall<number> {
  return {
    module: 'supervisor',
    fn: 'count_children',
    args: [supervisor],
    parse(reply) {
      const active = proplistGet(asList(reply), 'active');
      if (active === undefined) throw new ProbeReplyError("count_children's 'active'");
      return asInteger(active);
    },
  };
}

/**
 * `erlang:binary_to_existing_atom(Name, utf8)`: the atom if the node already has it. Raises
 * `badarg` otherwise, and creates nothing: the safe way to turn text into an atom argument.
 */
export function existingAtomProbe(name: string): ProbeCall<Atom> {
  return {
    module: 'erlang',
    fn: 'binary_to_existing_atom',
    args: [Buffer.from(name, 'utf8'), atom('utf8')],
    parse: (reply) => {
      if (reply instanceof Atom) return reply;
      throw new ProbeReplyError('an atom');
    },
  };
}

/** `'Elixir.Registry':count(Registry)`: keys in an Elixir `Registry` (its tables are unnamed). */
export function elixirRegistryCountProbe(registry: Atom): ProbeCall<number> {
  return {
    module: 'Elixir.Registry',
    fn: 'count',
    args: [registry],
    parse: (reply) => asInteger(reply),
  };
}

// ----- name lookup ---------------------------------------------------------------------------

const pidOrUndefined = (reply: Term): Term | null => (isAtom(reply, 'undefined') ? null : reply);

/** `global:whereis_name(Name)` → the pid, or `null`. */
export function globalWhereisProbe(name: Term): ProbeCall<Term | null> {
  return { module: 'global', fn: 'whereis_name', args: [name], parse: pidOrUndefined };
}

/** `erlang:whereis(Name)` → the locally registered pid (or port), or `null`. */
export function localWhereisProbe(name: Atom): ProbeCall<Term | null> {
  return { module: 'erlang', fn: 'whereis', args: [name], parse: pidOrUndefined };
}

/** `ets:lookup(Table, Key)` on a registry's copy → the pid of each row, as `pidOf` reads it. */
function tableLookupProbe(table: Atom, key: Term, pidOf: (row: Term) => Term): ProbeCall<Term[]> {
  return {
    module: 'ets',
    fn: 'lookup',
    args: [table, key],
    parse: (reply) => asList(reply).map(pidOf),
  };
}

/** `ets:lookup(swarm_registry, Key)` → the pids of the matching `{entry, ...}` records. */
export function swarmLookupProbe(key: Term): ProbeCall<Term[]> {
  return tableLookupProbe(
    atom('swarm_registry'),
    key,
    (record) => asTuple(record, 6, '{entry, Name, Pid, Ref, Meta, Clock}')[2]!,
  );
}

/**
 * `ets:lookup(Table, Key)` on a Horde registry's `keys_<Registry>` table (Horde 0.9: rows
 * `{Key, {Registry, Node}, {Pid, Value}}`, a copy on every node) → the pids under `Key`. The table
 * atom comes from `binary_to_existing_atom`, never from text.
 */
export function hordeLookupProbe(table: Atom, key: Term): ProbeCall<Term[]> {
  return tableLookupProbe(table, key, (row) => {
    const [, , entry] = asTuple(row, 3, '{Key, {Registry, Node}, {Pid, Value}}');
    return asTuple(entry!, 2, '{Pid, Value}')[0]!;
  });
}

/**
 * `ets:lookup(Table, Name)` on a syn scope's `syn_registry_by_name_<Scope>` table (syn 3.x: rows
 * `{Name, Pid, Meta, Time, MRef, Node}`, a copy on every node of the scope) → the pids under
 * `Name`. The table atom comes from `binary_to_existing_atom`, never from text.
 */
export function synLookupProbe(table: Atom, name: Term): ProbeCall<Term[]> {
  return tableLookupProbe(
    table,
    name,
    (row) => asTuple(row, 6, '{Name, Pid, Meta, Time, MRef, Node}')[1]!,
  );
}

/** `'Elixir.Registry':lookup(Registry, Key)` → the pids registered under `Key`. */
export function elixirRegistryLookupProbe(registry: Atom, key: Term): ProbeCall<Term[]> {
  return {
    module: 'Elixir.Registry',
    fn: 'lookup',
    args: [registry, key],
    parse: (reply) => asList(reply).map((entry) => asTuple(entry, 2, '{Pid, Value}')[0]!),
  };
}

// ----- code and versions ---------------------------------------------------------------------

/** An application running on a node, as `application:which_applications/0` reports it. */
export interface RunningApplication {
  /** The application's atom, as the node reported it (sent back to it, never made from text). */
  app: Atom;
  version: string;
}

/** No node runs more applications than this; a longer list is cut (and said so). */
export const MAX_RUNNING_APPLICATIONS = 1000;

/** `application:which_applications()` → each running application and its version. */
export const runningApplicationsProbe: ProbeCall<{
  applications: RunningApplication[];
  truncated: boolean;
}> = {
  module: 'application',
  fn: 'which_applications',
  args: [],
  parse(reply) {
    const applications = asList(reply).map((entry) => {
      const [app, , version] = asTuple(entry, 3, '{App, Description, Vsn}');
      if (!(app instanceof Atom)) throw new ProbeReplyError('an application atom');
      return { app, version: asText(version!, 'an application version') };
    });
    const { items, truncated } = capList(applications, MAX_RUNNING_APPLICATIONS);
    return { applications: items, truncated };
  },
};

/**
 * `lists:zipwith(fun F/2, Items, [Key, Key, ...])`: `F(Item, Key)` for every item, in one call
 * and inside the node. The fun is an external fun (`fun M:F/2`, EXPORT_EXT) of a module every
 * node has loaded (`application`, `erlang`): calling it loads no code and creates nothing.
 */
function zipWithKey<T>(
  fun: ExportFun,
  items: readonly Atom[],
  key: Atom,
  parse: (reply: Term) => T,
): ProbeCall<T> {
  return {
    module: 'lists',
    fn: 'zipwith',
    args: [fun, [...items], items.map(() => key)],
    parse,
  };
}

/**
 * `application:get_key(App, modules)` for each of `apps` (atoms the node reported), in one call:
 * each application's modules, or null when the node no longer knows it.
 */
export function applicationModulesProbe(apps: readonly Atom[]): ProbeCall<Array<Atom[] | null>> {
  return zipWithKey(
    new ExportFun(atom('application'), atom('get_key'), 2),
    apps,
    atom('modules'),
    (reply) => {
      const entries = asList(reply);
      if (entries.length !== apps.length) throw new ProbeReplyError('one entry per application');
      return entries.map((entry) => {
        if (isAtom(entry, 'undefined')) return null;
        const [ok, modules] = asTuple(entry, 2, '{ok, Modules}');
        if (!isAtom(ok, 'ok')) throw new ProbeReplyError('{ok, Modules}');
        return asList(modules!).map((module) => {
          if (module instanceof Atom) return module;
          throw new ProbeReplyError('a module atom');
        });
      });
    },
  );
}

/**
 * `erlang:loaded()` → the modules loaded on the node (a BIF: a list of atoms, no process asked).
 * Only loaded modules have an md5 to read: the rest of an application's modules may never have
 * been loaded (interactive mode), and reading theirs would load them.
 */
export const loadedModulesProbe: ProbeCall<Atom[]> = {
  module: 'erlang',
  fn: 'loaded',
  args: [],
  parse: (reply) =>
    asList(reply).map((module) => {
      if (module instanceof Atom) return module;
      throw new ProbeReplyError('a module atom');
    }),
};

/** The size of an md5, bytes. */
const MD5_BYTES = 16;

/**
 * `erlang:get_module_info(Mod, md5)` for each of `modules` (loaded modules the node reported), in
 * one call: each module's 16-byte md5, in order. A BIF that reads the loaded code; a module
 * purged since it was listed makes the whole call fail with `badarg`.
 */
export function moduleMd5Probe(modules: readonly Atom[]): ProbeCall<Uint8Array[]> {
  return zipWithKey(
    new ExportFun(atom('erlang'), atom('get_module_info'), 2),
    modules,
    atom('md5'),
    (reply) => {
      const digests = asList(reply);
      if (digests.length !== modules.length) throw new ProbeReplyError('one md5 per module');
      return digests.map((digest) => {
        if (digest instanceof Uint8Array && digest.length === MD5_BYTES) return digest;
        throw new ProbeReplyError('a 16-byte md5');
      });
    },
  );
}
