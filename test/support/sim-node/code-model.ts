/**
 * The code a simulated node runs: its applications, their modules (all loaded) and each module's
 * md5 — what beamscope's code scans read (`application:which_applications/0`, `erlang:loaded/0`,
 * and `lists:zipwith/3` over `fun application:get_key/2` and `fun erlang:get_module_info/2`).
 * Nodes of one build share one {@link SimCode}, so a thousand nodes of 5,000 modules cost the
 * simulation two builds, not a thousand.
 */
import { createHash } from 'node:crypto';

import { encodeTerm } from '../../../server/erlang/codec/encode';
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
  /**
   * Replies encoded once (`erlang:loaded()`, md5 chunks by their modules): a thousand nodes of
   * one build stand in for a thousand machines, so the simulation's own CPU per scan is kept to
   * decoding the request, not redoing a node's work a thousand times over.
   */
  encodedReplies: Map<string, Buffer>;
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
    return {
      applications,
      loaded,
      md5,
      codeBytes: 4096 * spec.modules + (variant ? 512 : 0),
      encodedReplies: new Map(),
    };
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

/** Replies kept per build; a bench's chunks of one build number a handful. */
const MAX_ENCODED_REPLIES = 64;

/** `answer()` encoded, once per `key` and build. */
function encodedOnce(code: SimCode, key: string, answer: () => Term): { encoded: Buffer } {
  let encoded = code.encodedReplies.get(key);
  if (!encoded) {
    encoded = encodeTerm(answer());
    if (code.encodedReplies.size >= MAX_ENCODED_REPLIES) code.encodedReplies.clear();
    code.encodedReplies.set(key, encoded);
  }
  return { encoded };
}

/**
 * The reply to a code call, or undefined when `module:fn/arity` is not one (the caller answers
 * it). `badarg` (a thrown {@link SimBadarg}) for a module that is not loaded, as the BIF raises.
 */
export function answerCodeCall(
  code: SimCode,
  module: string,
  fn: string,
  args: Term[],
): { term: Term } | { encoded: Buffer } | undefined {
  switch (`${module}:${fn}/${args.length}`) {
    case 'application:which_applications/0':
      return {
        term: code.applications.map((entry) =>
          tuple(entry.app, new Charlist(entry.app.name), new Charlist(entry.version)),
        ),
      };
    case 'erlang:loaded/0':
      return encodedOnce(code, 'loaded', () => code.loaded);
    case 'lists:zipwith/3': {
      const [fun, items] = args;
      if (!Array.isArray(items)) return undefined;
      if (funIs(fun, 'application', 'get_key')) {
        return {
          term: items.map((item) => {
            const app = code.applications.find(
              (entry) => item instanceof Atom && entry.app.name === item.name,
            );
            return app ? tuple(atom('ok'), app.modules) : atom('undefined');
          }),
        };
      }
      if (funIs(fun, 'erlang', 'get_module_info')) {
        const names: string[] = [];
        for (const item of items) {
          if (!(item instanceof Atom) || !code.md5.has(item.name)) throw new SimBadarg();
          names.push(item.name);
        }
        return encodedOnce(code, `md5:${names.join(',')}`, () =>
          names.map((name) => code.md5.get(name)!),
        );
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/** A code call's `badarg` (a module not loaded): the caller answers it as the node would. */
export class SimBadarg extends Error {}
