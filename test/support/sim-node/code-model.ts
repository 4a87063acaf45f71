/**
 * The code a simulated node runs: its applications, their modules (all loaded) and each module's
 * md5 — what beamscope's code scans read (`application:which_applications/0`, `erlang:loaded/0`,
 * and `lists:zipwith/3` over `fun application:get_key/2` and `fun erlang:get_module_info/2`).
 * Nodes of one build share one {@link SimCode}, so a thousand nodes of 5,000 modules cost the
 * simulation two builds, not a thousand.
 */
import { createHash } from 'node:crypto';

import {
  Atom,
  Charlist,
  ExportFun,
  atom,
  tuple,
  type Term,
} from '../../../server/erlang/codec/terms';

/** One build of the code: applications with their modules, each module's md5. */
export interface SimCode {
  applications: Array<{ app: Atom; version: string; modules: Atom[] }>;
  loaded: Atom[];
  md5: Map<string, Buffer>;
  /** `erlang:memory(code)`: steady while the code is. */
  codeBytes: number;
}

/** How the simulated nodes' code is made (plain data: it crosses to a child process). */
export interface SimCodeSpec {
  /** Modules per node, spread over the applications. */
  modules: number;
  /** Applications per node; default 40. */
  applications?: number;
  /** Of every `variantEvery` nodes, the last `variantCount` (default 1) run the second build. */
  variantEvery?: number;
  variantCount?: number;
  /** Modules of `myapp` whose md5 differs in the second build (its first ones); default 1. */
  variantModules?: number;
}

const md5Of = (text: string) => createHash('md5').update(text).digest();

/** The base build and the variant of `spec` (the variant: another myapp version, other md5s). */
export function simCodeBuilds(spec: SimCodeSpec): { base: SimCode; variant: SimCode } {
  // kernel and stdlib, as every node runs them, then the app and its libraries.
  const appCount = Math.max(3, spec.applications ?? 40);
  const appName = (index: number) => ['kernel', 'stdlib', 'myapp'][index] ?? `lib${index}`;
  const build = (variant: boolean): SimCode => {
    const applications = Array.from({ length: appCount }, (_, index) => ({
      app: atom(appName(index)),
      version: index === 2 && variant ? '0.2.0' : '0.1.0',
      modules: [] as Atom[],
    }));
    const md5 = new Map<string, Buffer>();
    const loaded: Atom[] = [];
    for (let index = 0; index < spec.modules; index += 1) {
      const owner = applications[index % appCount]!;
      const name = `${owner.app.name}_mod${index}`;
      const moduleAtom = atom(name);
      owner.modules.push(moduleAtom);
      loaded.push(moduleAtom);
      // The second build changes the app's first modules.
      const changed =
        variant && owner.app.name === 'myapp' && owner.modules.length <= (spec.variantModules ?? 1);
      md5.set(name, md5Of(`${name}${changed ? ':v2' : ''}`));
    }
    return { applications, loaded, md5, codeBytes: 4096 * spec.modules + (variant ? 512 : 0) };
  };
  return { base: build(false), variant: build(true) };
}

/** A small build for nodes with no code spec: kernel, stdlib and the demo app's few modules. */
export const DEFAULT_SIM_CODE: SimCode = simCodeBuilds({ modules: 60, applications: 3 }).base;

/** The code of the node at `index` under `spec` (builds made once per spec by the caller). */
export function simCodeOf(
  builds: { base: SimCode; variant: SimCode },
  spec: SimCodeSpec,
  index: number,
): SimCode {
  const every = spec.variantEvery;
  const count = spec.variantCount ?? 1;
  return every && index % every >= every - count ? builds.variant : builds.base;
}

const funIs = (term: Term | undefined, module: string, fn: string) =>
  term instanceof ExportFun && term.module.name === module && term.fun.name === fn;

/**
 * The reply to a code call, or undefined when `module:fn/arity` is not one (the caller answers
 * it). `badarg` (a thrown {@link SimBadarg}) for a module that is not loaded, as the BIF raises.
 */
export function answerCodeCall(
  code: SimCode,
  module: string,
  fn: string,
  args: Term[],
): Term | undefined {
  switch (`${module}:${fn}/${args.length}`) {
    case 'application:which_applications/0':
      return code.applications.map((entry) =>
        tuple(entry.app, new Charlist(entry.app.name), new Charlist(entry.version)),
      );
    case 'erlang:loaded/0':
      return code.loaded;
    case 'lists:zipwith/3': {
      const [fun, items] = args;
      if (!Array.isArray(items)) return undefined;
      if (funIs(fun, 'application', 'get_key')) {
        return items.map((item) => {
          const app = code.applications.find(
            (entry) => item instanceof Atom && entry.app.name === item.name,
          );
          return app ? tuple(atom('ok'), app.modules) : atom('undefined');
        });
      }
      if (funIs(fun, 'erlang', 'get_module_info')) {
        const digests: Term[] = [];
        for (const item of items) {
          const digest = item instanceof Atom ? code.md5.get(item.name) : undefined;
          if (!digest) throw new SimBadarg();
          digests.push(digest);
        }
        return digests;
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/** A code call's `badarg` (a module not loaded): the caller answers it as the node would. */
export class SimBadarg extends Error {}
