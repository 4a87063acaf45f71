import 'server-only';

// The probe catalogue's reads of code and versions: running applications, their modules, the
// loaded modules and their md5s (see catalogue.ts).

import { describeError } from '../../errors';
import { preEncode } from '../codec/encode';
import { decodeAtomNames, decodeEqualBinaries } from '../codec/lists';
import { Atom, ExportFun, PreEncoded, atom, type Term } from '../codec/terms';
import { ProbeReplyError, asList, asText, asTuple, capList, isAtom } from './reply';
import { type ProbeCall } from './probe-call';

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
 * been loaded (interactive mode), and reading theirs would load them. The reply stays encoded:
 * nodes of one release send the same bytes, so a code scan keys its plan by them and decodes
 * them ({@link loadedModuleNames}) only for a list it has not seen.
 */
export const loadedModulesProbe: ProbeCall<Uint8Array> = {
  module: 'erlang',
  fn: 'loaded',
  args: [],
  encodedReply: true,
  parse(reply) {
    if (!(reply instanceof Uint8Array)) throw new ProbeReplyError('the encoded list of modules');
    return reply;
  },
};

/** The module names of {@link loadedModulesProbe}'s reply, as strings (no atom is made). */
export function loadedModuleNames(encoded: Uint8Array): string[] {
  try {
    return decodeAtomNames(encoded);
  } catch (error) {
    throw new ProbeReplyError(`a list of module atoms (${describeError(error)})`);
  }
}

/** The size of an md5, bytes. */
const MD5_BYTES = 16;

/**
 * The arguments of one md5 call, encoded once: the modules (atoms the node reported in its
 * `erlang:loaded()`) and as many `md5` keys. Every node of one code set is sent the same bytes.
 */
export interface Md5Chunk {
  readonly count: number;
  readonly modules: PreEncoded;
  readonly keys: PreEncoded;
}

export function md5Chunk(modules: readonly Atom[]): Md5Chunk {
  return {
    count: modules.length,
    modules: preEncode([...modules]),
    keys: preEncode(modules.map(() => atom('md5'))),
  };
}

/**
 * `erlang:get_module_info(Mod, md5)` for each module of `chunk`, in one call
 * (`lists:zipwith/3`, as {@link zipWithKey}): the 16-byte md5s, in order, back to back in one
 * buffer. A BIF that reads the loaded code; a module purged since it was listed makes the whole
 * call fail with `badarg`.
 */
export function moduleMd5Probe(chunk: Md5Chunk): ProbeCall<Buffer> {
  return {
    module: 'lists',
    fn: 'zipwith',
    args: [new ExportFun(atom('erlang'), atom('get_module_info'), 2), chunk.modules, chunk.keys],
    encodedReply: true,
    parse(reply) {
      if (!(reply instanceof Uint8Array)) throw new ProbeReplyError('an encoded list of md5s');
      let digests: { count: number; bytes: Buffer };
      try {
        digests = decodeEqualBinaries(reply, MD5_BYTES);
      } catch (error) {
        throw new ProbeReplyError(`a list of 16-byte md5s (${describeError(error)})`);
      }
      if (digests.count !== chunk.count) throw new ProbeReplyError('one md5 per module');
      return digests.bytes;
    },
  };
}
