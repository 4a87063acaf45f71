import 'server-only';

// The probe catalogue's name lookups: one name in each registry's copy on one node (see
// catalogue.ts).

import { Atom, atom, type Term } from '../codec/terms';
import { asList, asTuple, isAtom } from './reply';
import { type ProbeCall } from './probe-call';

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
