import 'server-only';

// Finding a user-typed name on one node, in every registry beamscope knows, without ever turning
// the text into a new atom there.

import { BeamscopeError } from '../../errors';
import { Charlist, Pid, type Atom, type Term } from '../codec/terms';
import {
  elixirRegistryLookupProbe,
  globalWhereisProbe,
  localWhereisProbe,
  swarmLookupProbe,
} from './catalogue';
import { isRemoteException, toProbeError, type PidRef, type ProbeError } from './reply';
import {
  callProbe,
  existingAtom,
  PROBE_TIMEOUT_MS,
  registryAtomName,
  type RpcFunction,
} from './run';

/** Names longer than this are refused before anything is sent (an atom holds 255 characters). */
export const MAX_LOOKUP_NAME_BYTES = 1024;

export type LookupKeyType = 'atom' | 'binary' | 'charlist' | 'integer';

/** One place a name was found. */
export interface NameMatch {
  registry: 'global' | 'local' | 'swarm' | 'elixir_registry';
  /** The Elixir Registry's name, for `elixir_registry`. */
  registryName?: string;
  /** The form of the key that matched. */
  keyType: LookupKeyType;
  /** The registered process (a port registered locally shows as `null`). */
  pid: PidRef | null;
}

export interface NameLookup {
  name: string;
  /** Whether the node has an atom with this text at all. */
  atomExists: boolean;
  matches: NameMatch[];
  /** Registries that could not be asked (timeouts, a broken connection). */
  errors: Array<{ registry: string; error: ProbeError }>;
}

export interface LookupOptions {
  timeoutMs?: number;
  /** Elixir `Registry` names to look in, as in {@link ProbeOptions.elixirRegistries}. */
  elixirRegistries?: string[];
}

function pidRef(term: Term): PidRef | null {
  return term instanceof Pid ? { node: term.node.name, id: term.id, serial: term.serial } : null;
}

/** The forms a user-typed name can take as a key. User text never becomes a new remote atom. */
function keyForms(name: string, atomTerm: Atom | undefined): Array<[LookupKeyType, Term]> {
  const codePoints = Array.from(name, (char) => char.codePointAt(0)!);
  const forms: Array<[LookupKeyType, Term]> = [
    ['binary', Buffer.from(name, 'utf8')],
    ['charlist', codePoints.every((code) => code < 256) ? new Charlist(name) : codePoints],
  ];
  if (/^-?\d{1,15}$/.test(name)) forms.push(['integer', Number(name)]);
  if (atomTerm) forms.push(['atom', atomTerm]);
  return forms;
}

/**
 * Looks a name up in every registry beamscope knows on one node: `:global`, local registration,
 * Swarm (key as binary, charlist, integer and atom) and the configured Elixir Registries. The
 * text is first turned into an atom only if the node already has that atom
 * (`binary_to_existing_atom`); otherwise it travels as a binary or charlist argument.
 */
export async function lookupName(
  rpc: RpcFunction,
  name: string,
  options: LookupOptions = {},
): Promise<NameLookup> {
  if (name.length === 0 || Buffer.byteLength(name, 'utf8') > MAX_LOOKUP_NAME_BYTES) {
    throw new BeamscopeError(
      'erlang',
      'invalid_lookup_name',
      `a name to look up must be 1 to ${MAX_LOOKUP_NAME_BYTES} bytes long`,
    );
  }
  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  const atomTerm = await existingAtom(rpc, name, timeoutMs);
  const forms = keyForms(name, atomTerm);
  const matches: NameMatch[] = [];
  const errors: NameLookup['errors'] = [];

  const ask = async (registry: string, run: () => Promise<void>) => {
    try {
      await run();
    } catch (error) {
      // A remote exception means "not there" (no such table, unknown registry); anything else
      // (timeout, connection lost) is reported.
      if (!isRemoteException(error)) errors.push({ registry, error: toProbeError(error) });
    }
  };

  const lookups: Array<Promise<void>> = [];
  for (const [keyType, key] of forms) {
    if (keyType === 'atom' || keyType === 'binary') {
      lookups.push(
        ask('global', async () => {
          const found = await callProbe(rpc, globalWhereisProbe(key), timeoutMs);
          if (found !== null) matches.push({ registry: 'global', keyType, pid: pidRef(found) });
        }),
      );
    }
    lookups.push(
      ask('swarm', async () => {
        const pids = await callProbe(rpc, swarmLookupProbe(key), timeoutMs);
        for (const pid of pids) matches.push({ registry: 'swarm', keyType, pid: pidRef(pid) });
      }),
    );
  }
  if (atomTerm) {
    lookups.push(
      ask('local', async () => {
        const found = await callProbe(rpc, localWhereisProbe(atomTerm), timeoutMs);
        if (found !== null)
          matches.push({ registry: 'local', keyType: 'atom', pid: pidRef(found) });
      }),
    );
  }
  for (const registryName of options.elixirRegistries ?? []) {
    lookups.push(
      ask(`elixir_registry ${registryName}`, async () => {
        const registry = await existingAtom(rpc, registryAtomName(registryName), timeoutMs);
        if (!registry) return;
        for (const [keyType, key] of forms) {
          await ask(`elixir_registry ${registryName}`, async () => {
            const pids = await callProbe(rpc, elixirRegistryLookupProbe(registry, key), timeoutMs);
            for (const pid of pids) {
              matches.push({
                registry: 'elixir_registry',
                registryName,
                keyType,
                pid: pidRef(pid),
              });
            }
          });
        }
      }),
    );
  }
  await Promise.all(lookups);
  // Calls complete in any order; the report should not.
  const registryOrder = ['global', 'local', 'swarm', 'elixir_registry'];
  const keyOrder: LookupKeyType[] = ['atom', 'binary', 'charlist', 'integer'];
  matches.sort(
    (a, b) =>
      registryOrder.indexOf(a.registry) - registryOrder.indexOf(b.registry) ||
      (a.registryName ?? '').localeCompare(b.registryName ?? '') ||
      keyOrder.indexOf(a.keyType) - keyOrder.indexOf(b.keyType),
  );
  return { name, atomExists: atomTerm !== undefined, matches, errors };
}
