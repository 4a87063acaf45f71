import 'server-only';

// The probe catalogue's reads of the registries: table sizes, hosted rows, rows and keys on a
// host, started syn scopes, supervisors' children, existing atoms (see catalogue.ts).

import { Atom, Tuple, atom, tuple, type Term } from '../codec/terms';
import {
  ProbeReplyError,
  asAtomName,
  asInteger,
  asList,
  asTuple,
  atomNamesOf,
  isAtom,
  proplistGet,
} from './reply';
import { type ProbeCall } from './probe-call';

/** `ets:info(Table, size)` for a named table: O(1); `null` when no such table exists. */
export function tableSizeProbe(table: Atom): ProbeCall<number | null> {
  return {
    module: 'ets',
    fn: 'info',
    args: [table, atom('size')],
    batchable: true,
    parse: (reply) => (isAtom(reply, 'undefined') ? null : asInteger(reply)),
  };
}

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
  // Asked only once the table's size said it is there.
  batchable: true,
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
    // Asked only once the table's size said it is there.
    batchable: true,
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
    // Asked only once the table's size said it is there; a row the spec cannot read does not
    // match (a failing guard), it does not raise.
    batchable: true,
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
 * `ets:select(Table, MS)`: the node of each row's process, one atom per row, in one call — the
 * rows a copy holds on every host at once (counted here), where {@link rowsOnHostProbe} takes a
 * call per host. Rows whose pid slot holds no pid, port or reference (or is missing) are left
 * out, as `node/1` failing in {@link rowsOnHostProbe}'s guard leaves them uncounted.
 */
export function rowHostsProbe(table: Atom, layout: RowLayout): ProbeCall<string[]> {
  const host = tuple(atom('node'), rowElement(layout.pid));
  return {
    module: 'ets',
    fn: 'select',
    args: [table, [tuple(atom('$1'), [tuple(atom('is_atom'), host)], [host])]],
    // A row's host a comparison is counting: a copy of 50,000 rows is 50,000 atoms of a few
    // hundred names, read from the bytes through the atom cache (see `atomNamesOf`).
    encodedReply: true,
    parse(reply) {
      if (!(reply instanceof Uint8Array))
        throw new ProbeReplyError("the encoded list of rows' hosts");
      return atomNamesOf(reply, 'a list of node names');
    },
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
