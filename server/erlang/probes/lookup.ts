import 'server-only';

// Finding a user-typed name on one node, in every registry beamscope knows, without ever creating
// an atom there: a key is sent to a node only once every atom it holds is known to exist there.

import { BeamscopeError } from '../../errors';
import { formatTerm } from '../codec/format';
import { Atom, Charlist, Pid, atom, type Term } from '../codec/terms';
import { looksLikeTerm, MAX_TERM_TEXT_BYTES, readTerm, type TermKind } from '../term-syntax';
import {
  elixirRegistryLookupProbe,
  globalWhereisProbe,
  hordeLookupProbe,
  localWhereisProbe,
  swarmLookupProbe,
  synLookupProbe,
  synStartedScopesProbe,
  tableSizeProbe,
  type ProbeCall,
} from './catalogue';
import { isRemoteException, toProbeError, type PidRef, type ProbeError } from './reply';
import {
  callProbe,
  existingAtom,
  PROBE_TIMEOUT_MS,
  registryAtomName,
  type RpcFunction,
} from './run';

/** Names longer than this are refused before anything is sent. */
export const MAX_LOOKUP_NAME_BYTES = MAX_TERM_TEXT_BYTES;

export type LookupKeyType = TermKind;

/** Where a name can be registered. */
export type LookupRegistry = 'global' | 'local' | 'swarm' | 'horde' | 'syn' | 'elixir_registry';

/** The order in which answers list the registries. */
export const REGISTRY_ORDER: readonly LookupRegistry[] = [
  'global',
  'local',
  'swarm',
  'horde',
  'syn',
  'elixir_registry',
];

/** The registries of which every node holds a copy of the whole table. */
export const REPLICATED_REGISTRIES: ReadonlySet<LookupRegistry> = new Set([
  'global',
  'swarm',
  'horde',
  'syn',
]);

/** One key a typed name is looked up under. */
export interface LookupKey {
  keyType: LookupKeyType;
  /** The key in Erlang syntax: `<<"device-00042">>`, `{device,42}`. */
  key: string;
  term: Term;
  /** The atoms the key holds: each must exist on a node before the key is sent there. */
  atoms: string[];
}

/** A typed name and the keys it is looked up under. */
export interface LookupName {
  text: string;
  /**
   * `text`: plain text, tried as a binary, a charlist, an integer (when it is one) and an
   * existing atom. `term`: Elixir or Erlang term syntax, each valid reading one key.
   */
  readAs: 'text' | 'term';
  keys: LookupKey[];
}

/** One place a name was found. */
export interface NameMatch {
  registry: LookupRegistry;
  /** The Horde registry, syn scope or Elixir Registry. */
  registryName?: string;
  /** The form of the key that matched, and the key in Erlang syntax. */
  keyType: LookupKeyType;
  key: string;
  /** The registered process (a port registered locally shows as `null`). */
  pid: PidRef | null;
}

/** A replicated registry, by kind and name. */
export interface RegistryCopy {
  registry: LookupRegistry;
  registryName?: string;
}

export interface NameLookup {
  name: string;
  /** Whether every atom the name's keys hold exists on the node (for plain text: its atom). */
  atomExists: boolean;
  matches: NameMatch[];
  /**
   * The replicated registries whose copy on this node was read without a failure: a name such a
   * copy lacks is missing on this node, not merely unknown.
   */
  copies: RegistryCopy[];
  /** Registries that could not be asked (timeouts, a broken connection). */
  errors: Array<{ registry: string; error: ProbeError }>;
}

export interface LookupOptions {
  timeoutMs?: number;
  /** Elixir `Registry` names to look in, as in `ProbeOptions.elixirRegistries`. */
  elixirRegistries?: string[];
  /** Horde registry names; their `keys_<Name>` tables are searched. */
  hordeRegistries?: string[];
  /** syn scopes to search besides those started on the node. */
  synScopes?: string[];
  /** At most this many syn scopes are searched (default 20). */
  synScopeLimit?: number;
}

function invalidName(message: string): BeamscopeError<'erlang'> {
  return new BeamscopeError('erlang', 'invalid_lookup_name', message);
}

function keyOf(keyType: LookupKeyType, term: Term, atoms: string[]): LookupKey {
  return { keyType, key: formatTerm(term), term, atoms };
}

/**
 * The keys a typed name is looked up under. Term syntax (it opens with `{ [ " ' : ~ <<`) is read
 * as Elixir and as Erlang (see `readTerm`); anything else is plain text, tried as a binary, a
 * charlist, an integer when it is one, and an atom (sent only where that atom exists). Throws
 * `invalid_lookup_name` for an empty or oversized name and for malformed term syntax.
 */
export function readLookupName(text: string): LookupName {
  if (text.length === 0 || Buffer.byteLength(text, 'utf8') > MAX_LOOKUP_NAME_BYTES) {
    throw invalidName(`a name to look up must be 1 to ${MAX_LOOKUP_NAME_BYTES} bytes long`);
  }
  if (looksLikeTerm(text)) {
    const keys = readTerm(text).map((reading) => keyOf(reading.kind, reading.term, reading.atoms));
    return { text, readAs: 'term', keys };
  }
  const codePoints = Array.from(text, (char) => char.codePointAt(0)!);
  const keys = [
    keyOf('binary', Buffer.from(text, 'utf8'), []),
    keyOf('charlist', codePoints.every((code) => code < 256) ? new Charlist(text) : codePoints, []),
  ];
  if (/^-?\d{1,15}$/.test(text)) keys.push(keyOf('integer', Number(text), []));
  if (codePoints.length <= 255) keys.push(keyOf('atom', atom(text), [text]));
  return { text, readAs: 'text', keys };
}

function pidRef(term: Term): PidRef | null {
  return term instanceof Pid ? { node: term.node.name, id: term.id, serial: term.serial } : null;
}

/** One registry on one node, as the lookup asks it. */
interface RegistrySource extends RegistryCopy {
  /** Only keys it can hold (a local name is an atom). */
  accepts?: (key: LookupKey) => boolean;
  /** The pids under `key`. Raises remotely when the registry is not on the node. */
  find(key: Term): Promise<Term[]>;
  /** Whether the node holds a copy; asked only when no key could be sent to it. */
  held?: () => Promise<boolean>;
}

const registryLabel = (source: RegistryCopy) =>
  source.registryName ? `${source.registry} ${source.registryName}` : source.registry;

/**
 * Looks a name up in every registry beamscope knows on one node: `:global`, local registration,
 * Swarm, the configured Horde registries, the syn scopes (configured, and those started on the
 * node) and the configured Elixir Registries. Registry tables are named only through
 * `binary_to_existing_atom`, and a key holding an atom the node lacks is not sent: nothing can
 * be registered under it there.
 */
export async function lookupName(
  rpc: RpcFunction,
  name: string | LookupName,
  options: LookupOptions = {},
): Promise<NameLookup> {
  const typed = typeof name === 'string' ? readLookupName(name) : name;
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  const errors: NameLookup['errors'] = [];
  const record = (registry: string, error: unknown) => {
    errors.push({ registry, error: toProbeError(error) });
  };

  // Which keys may travel to this node: those whose every atom it already has.
  const atomNames = [...new Set(typed.keys.flatMap((key) => key.atoms))];
  const known = new Set<string>();
  await Promise.all(
    atomNames.map(async (atomName) => {
      if (await existingAtom(rpc, atomName, timeoutMs)) known.add(atomName);
    }),
  );
  const keys = typed.keys.filter((key) => key.atoms.every((atomName) => known.has(atomName)));

  const sources = await registrySources(rpc, options, timeoutMs, record);
  const matches: NameMatch[] = [];
  const copies: RegistryCopy[] = [];
  await Promise.all(
    sources.map(async (source) => {
      const { registry, registryName } = source;
      const label = registryLabel(source);
      const applicable = keys.filter((key) => source.accepts?.(key) ?? true);
      let present = false;
      let failed = false;
      await Promise.all(
        applicable.map(async (key) => {
          try {
            const pids = await source.find(key.term);
            present = true;
            for (const pid of pids) {
              matches.push({
                registry,
                ...(registryName !== undefined ? { registryName } : {}),
                keyType: key.keyType,
                key: key.key,
                pid: pidRef(pid),
              });
            }
          } catch (error) {
            // A remote exception means "not there" (no such table, unknown registry).
            if (isRemoteException(error)) return;
            failed = true;
            record(label, error);
          }
        }),
      );
      if (!REPLICATED_REGISTRIES.has(registry) || failed) return;
      if (applicable.length === 0 && source.held) {
        try {
          present = await source.held();
        } catch (error) {
          if (!isRemoteException(error)) return record(label, error);
        }
      }
      if (present)
        copies.push(registryName !== undefined ? { registry, registryName } : { registry });
    }),
  );

  // Calls complete in any order; the report should not.
  const keyOrder = typed.keys.map((key) => key.key);
  const byRegistry = (a: RegistryCopy, b: RegistryCopy) =>
    REGISTRY_ORDER.indexOf(a.registry) - REGISTRY_ORDER.indexOf(b.registry) ||
    (a.registryName ?? '').localeCompare(b.registryName ?? '');
  matches.sort((a, b) => byRegistry(a, b) || keyOrder.indexOf(a.key) - keyOrder.indexOf(b.key));
  copies.sort(byRegistry);
  errors.sort((a, b) => a.registry.localeCompare(b.registry));
  return {
    name: typed.text,
    // Every atom the name holds exists on the node; a name that holds none (an integer, a
    // binary) does not exist as an atom, whatever `every` says of an empty list.
    atomExists: atomNames.length > 0 && atomNames.every((atomName) => known.has(atomName)),
    matches,
    copies,
    errors,
  };
}

const asPids = (found: Term | null): Term[] => (found === null ? [] : [found]);

/**
 * The registries to ask on this node. Horde tables, syn scope tables and Elixir Registries are
 * named only through atoms the node already has; one that does not exist is not there.
 */
async function registrySources(
  rpc: RpcFunction,
  options: LookupOptions,
  timeoutMs: number,
  record: (registry: string, error: unknown) => void,
): Promise<RegistrySource[]> {
  const call = <T>(probe: ProbeCall<T>) => callProbe(rpc, probe, timeoutMs);
  const present = async (table: Atom) => (await call(tableSizeProbe(table))) !== null;

  /** A source behind an atom (a table or a Registry's name), absent when the atom is not. */
  const named = async (
    copy: RegistryCopy,
    atomName: string,
    make: (registry: Atom) => Omit<RegistrySource, keyof RegistryCopy>,
  ): Promise<RegistrySource | null> => {
    try {
      const registry = await existingAtom(rpc, atomName, timeoutMs);
      return registry ? { ...copy, ...make(registry) } : null;
    } catch (error) {
      record(registryLabel(copy), error);
      return null;
    }
  };
  const table = (copy: RegistryCopy, tableName: string, probe: typeof hordeLookupProbe) =>
    named(copy, tableName, (tableAtom) => ({
      find: (key) => call(probe(tableAtom, key)),
      held: () => present(tableAtom),
    }));

  const fixed: RegistrySource[] = [
    {
      registry: 'global',
      find: async (key) => asPids(await call(globalWhereisProbe(key))),
      held: async () => true,
    },
    {
      registry: 'local',
      accepts: (key) => key.term instanceof Atom,
      find: async (key) => asPids(await call(localWhereisProbe(key as Atom))),
    },
    {
      registry: 'swarm',
      find: (key) => call(swarmLookupProbe(key)),
      held: () => present(atom('swarm_registry')),
    },
  ];

  const horde = (options.hordeRegistries ?? []).map((registryName) =>
    table(
      { registry: 'horde', registryName },
      `keys_${registryAtomName(registryName)}`,
      hordeLookupProbe,
    ),
  );

  const syn = (async () => {
    let started: string[] = [];
    try {
      started = await call(synStartedScopesProbe);
    } catch (error) {
      // badarg: syn's table of tables is not there, so syn is not running on this node.
      if (!isRemoteException(error)) record('syn', error);
    }
    const scopes = [...new Set([...(options.synScopes ?? []), ...started])];
    return Promise.all(
      scopes
        .slice(0, options.synScopeLimit ?? 20)
        .map((scope) =>
          table(
            { registry: 'syn', registryName: scope },
            `syn_registry_by_name_${scope}`,
            synLookupProbe,
          ),
        ),
    );
  })();

  const elixir = (options.elixirRegistries ?? []).map((registryName) =>
    named(
      { registry: 'elixir_registry', registryName },
      registryAtomName(registryName),
      (registry) => ({
        find: (key) => call(elixirRegistryLookupProbe(registry, key)),
      }),
    ),
  );

  const resolved = await Promise.all([...horde, ...(await syn), ...elixir]);
  return [...fixed, ...resolved.filter((source) => source !== null)];
}
