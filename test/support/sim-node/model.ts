/**
 * What a simulated node reports about itself, and the answers a real OTP 25 node gives to the
 * calls of beamscope's probe catalogue (server/erlang/probes), computed from that model.
 *
 * The answers were taken from a real node (`erl` 25.2 through beamscope's own client): the same
 * term shapes (charlists for versions, proplists for memory, `{badrpc, {'EXIT', {undef,
 * [{M, F, A, []}]}}}` for an undefined function, `badarg` with `error_info` for a missing ETS
 * table or atom), so a probe cannot tell the two apart by shape.
 */
import {
  Atom,
  Charlist,
  ErlMap,
  ExportFun,
  Pid,
  Port,
  Tuple,
  atom,
  tuple,
  type Term,
} from '../../../server/erlang/codec/terms';
import { decodeTerm } from '../../../server/erlang/codec/decode';
import { answerCodeCall, DEFAULT_SIM_CODE, SimBadarg, type SimCode } from './code-model';

/** One `pg` group of the default scope: its name and member counts (all / on this node). */
export interface SimPgGroup {
  group: Term;
  members: number;
  localMembers: number;
}

/** The registries a simulated node holds; `null` = that registry is not on the node. */
export interface SimRegistries {
  /** `:global` names (every node holds the whole table). Always present on a real node. */
  global: number;
  /** Of those, the names whose process lives on this node. */
  globalHosted: number;
  /** The default `pg` scope's groups; `null` when the scope was never started. */
  pg: SimPgGroup[] | null;
  /** Swarm's replicated table: rows seen (the whole registry) and rows hosted here. */
  swarm: { names: number; hosted: number } | null;
  /** syn scopes and their name counts; `null` when syn is not loaded. */
  syn: Array<{ scope: string; names: number }> | null;
  /** Elixir `Registry` name (atom text, e.g. `Elixir.MyApp.Registry`) → keys. Needs Elixir. */
  elixirRegistries: Record<string, number>;
  /** Horde registry name (atom text) → keys in its `keys_<Name>` table. */
  horde: Record<string, number>;
}

/** The model of one simulated node. Counters drift a little per call, as a live node's do. */
export interface SimNodeModel {
  otpRelease: string;
  ertsVersion: string;
  /** `null`: an Erlang-only node (no `elixir` application loaded). */
  elixirVersion: string | null;
  /** When the node "started" (ms since the epoch): its uptime is measured from here. */
  startedAt: number;
  processCount: number;
  processLimit: number;
  /** Total memory in bytes; the other `erlang:memory()` entries are derived from it. */
  memoryBytes: number;
  runQueue: number;
  schedulers: number;
  schedulersOnline: number;
  netTicktimeSeconds: number;
  registries: SimRegistries;
  /** Extra locally registered names (besides the standard OTP ones) that `whereis` finds. */
  registeredNames: string[];
  /** The code the node runs (see code-model.ts); default a small build of 60 modules. */
  code?: SimCode;
}

/** A model like a sandbox pod's (the demo app: Swarm-compatible table, :global, pg). */
export function defaultModel(index: number, now = Date.now()): SimNodeModel {
  return {
    otpRelease: '25',
    ertsVersion: '13.1.5',
    elixirVersion: null,
    startedAt: now - 60_000 - index * 1000,
    processCount: 120 + (index % 37),
    processLimit: 262_144,
    memoryBytes: 24_000_000 + (index % 101) * 10_000,
    runQueue: 0,
    schedulers: 1,
    schedulersOnline: 1,
    netTicktimeSeconds: 60,
    registries: {
      global: 10,
      globalHosted: index % 10 === 0 ? 10 : 0,
      pg: Array.from({ length: 10 }, (_, group) => ({
        group: tuple(atom('tenant'), group + 1),
        members: 100,
        localMembers: 5,
      })),
      swarm: { names: 1000, hosted: 50 },
      syn: null,
      elixirRegistries: {},
      horde: {},
    },
    registeredNames: [],
  };
}

/**
 * {@link defaultModel} with registries whose hosted entries add up over a cluster of `size` nodes,
 * as in a settled cluster of that size: Swarm's 50 names a node and `pg`'s 5 members a group a
 * node, replicated to every node, and `:global`'s 10 names on the first node. The default's counts
 * add up only for 20 nodes (Swarm, `pg`) and never for `:global`: a cluster whose registries never
 * settle, which the collector keeps reading at every probe as it does during a rebalance.
 */
export function settledModel(index: number, size: number, now = Date.now()): SimNodeModel {
  const model = defaultModel(index, now);
  return {
    ...model,
    registries: {
      ...model.registries,
      globalHosted: index === 0 ? model.registries.global : 0,
      pg: (model.registries.pg ?? []).map((group) => ({
        ...group,
        members: 5 * size,
        localMembers: 5,
      })),
      swarm: { names: 50 * size, hosted: 50 },
    },
  };
}

/** What a call's answer is: a term for `{rex, Term}`, or already-encoded bytes of that term. */
export type SimReply = { term: Term } | { encoded: Buffer };

/** Per-node facts the answers need besides the model. */
export interface SimContext {
  /** This node's name (`basename@address`). */
  node: string;
  creation: number;
  /** `erlang:nodes(visible)`, already encoded (it can be long and is the same for a whole group). */
  visibleEncoded: () => Buffer;
  /** The same list as names. */
  visible: () => string[];
  /** Hidden nodes connected right now (beamscope itself). */
  hidden: () => string[];
  /**
   * Each connection, visible then hidden, as a real node's `dist_ctrl` and `nodes_info` show it:
   * its controller port (the same while the connection stays up, a new one when it is made again)
   * and since when it is up (its packet counters start then).
   */
  connections: () => Array<{ peer: string; hidden: boolean; port: number; since: number }>;
  /** Atoms the node has, for `binary_to_existing_atom`. */
  hasAtom: (name: string) => boolean;
}

const OTP_REGISTERED = [
  'rex',
  'init',
  'code_server',
  'kernel_sup',
  'net_kernel',
  'global_name_server',
  'application_controller',
  'error_logger',
  'user',
  'erl_prim_loader',
  'inet_db',
  'global_group',
  'file_server_2',
  'logger',
  'erts_code_purger',
  'standard_error',
  'kernel_safe_sup',
];

/** The atoms every OTP node has (module, registered and table names the catalogue asks about). */
export function baseAtoms(model: SimNodeModel): Set<string> {
  const names = new Set<string>([
    ...OTP_REGISTERED,
    ...model.registeredNames,
    'erlang',
    'ets',
    'global_names',
    'pg',
    'undefined',
    'true',
    'false',
    'ok',
    'error',
    'utf8',
  ]);
  const { registries } = model;
  if (registries.swarm) names.add('swarm_registry').add('swarm');
  for (const scope of registries.syn ?? []) {
    names.add(scope.scope).add(`syn_registry_by_name_${scope.scope}`);
  }
  for (const name of Object.keys(registries.horde)) names.add(name).add(`keys_${name}`);
  for (const name of Object.keys(registries.elixirRegistries)) names.add(name);
  if (model.elixirVersion) names.add('elixir').add('Elixir.Registry');
  return names;
}

/** `{'EXIT', {Reason, Stack}}` as rex wraps an exception: `{badrpc, {'EXIT', ...}}`. */
function badrpc(reason: Term, stack: Term[]): Tuple {
  return tuple(atom('badrpc'), tuple(atom('EXIT'), tuple(reason, stack)));
}

function undef(module: string, fn: string, args: Term[]): Tuple {
  return badrpc(atom('undef'), [tuple(atom(module), atom(fn), args, [])]);
}

/** A BIF's `badarg` as OTP 25 reports it, with the `error_info` the shell uses. */
function badarg(module: string, fn: string, args: Term[], errorsModule: string): Tuple {
  const info = new ErlMap(
    errorsModule === 'erl_stdlib_errors'
      ? [
          [atom('cause'), atom('id')],
          [atom('module'), atom(errorsModule)],
        ]
      : [[atom('module'), atom(errorsModule)]],
  );
  return badrpc(atom('badarg'), [
    tuple(atom(module), atom(fn), args, [tuple(atom('error_info'), info)]),
  ]);
}

/** An Elixir exception raised in the called function (ArgumentError, as Registry raises). */
function elixirArgumentError(message: string, module: string, fn: string, args: Term[]): Tuple {
  const exception = new ErlMap([
    [atom('__exception__'), atom('true')],
    [atom('__struct__'), atom('Elixir.ArgumentError')],
    [atom('message'), Buffer.from(message, 'utf8')],
  ]);
  return badrpc(exception, [tuple(atom(module), atom(fn), args.length, [])]);
}

const text = (value: string) => new Charlist(value);
const isAtomNamed = (term: Term | undefined, name: string) =>
  term instanceof Atom && term.name === name;

/** Small deterministic drift, so consecutive probes see a live node (and beamscope sends deltas). */
function drift(base: number, spread: number): number {
  return base + Math.floor(Math.random() * spread);
}

/** ETS table sizes of the named tables the catalogue asks `ets:info(T, size)` about. */
function tableSize(model: SimNodeModel, table: string): number | undefined {
  const { registries } = model;
  if (table === 'global_names') return registries.global;
  if (table === 'pg') return registries.pg?.length;
  if (table === 'swarm_registry') return registries.swarm?.names;
  if (table.startsWith('syn_registry_by_name_')) {
    const scope = table.slice('syn_registry_by_name_'.length);
    return registries.syn?.find((entry) => entry.scope === scope)?.names;
  }
  if (table.startsWith('keys_')) return registries.horde[table.slice('keys_'.length)];
  return undefined;
}

function loadedApplications(model: SimNodeModel): Term[] {
  const apps: Term[] = [
    tuple(atom('kernel'), text('ERTS  CXC 138 10'), text('8.5.3')),
    tuple(atom('stdlib'), text('ERTS  CXC 138 10'), text('4.2')),
  ];
  if (model.elixirVersion) {
    apps.push(
      tuple(atom('compiler'), text('ERTS  CXC 138 10'), text('8.2.3')),
      tuple(atom('elixir'), text('elixir'), text(model.elixirVersion)),
    );
  }
  return apps;
}

/** A match spec whose body is `node(...)` of the row: one host per row. */
function selectsRowHosts(spec: Term | undefined): boolean {
  const clause = Array.isArray(spec) ? spec[0] : undefined;
  const body = clause instanceof Tuple ? clause.at(2) : undefined;
  const result = Array.isArray(body) ? body[0] : undefined;
  return result instanceof Tuple && isAtomNamed(result.at(0), 'node');
}

/**
 * The hosts of a replicated table's `rows` rows, the same on every node of a whole mesh (every
 * copy agrees, as the simulated per-host counts do): row i lives on the i-th node by name, round
 * the cluster.
 */
function rowHosts(rows: number, cluster: string[]): Atom[] {
  const nodes = [...cluster].sort();
  return Array.from({ length: rows }, (_, index) => atom(nodes[index % nodes.length]!));
}

/**
 * The reply a real node's `rex` sends for `module:fn(args...)`: the term inside `{rex, Reply}`.
 * Anything outside the catalogue is an undefined function, as on a node without that module.
 */
export function answerCall(
  model: SimNodeModel,
  context: SimContext,
  module: string,
  fn: string,
  args: Term[],
): SimReply {
  const reply = (term: Term): SimReply => ({ term });
  const [first, second, third] = args;
  switch (`${module}:${fn}/${args.length}`) {
    case 'erlang:system_info/1': {
      const item = first instanceof Atom ? first.name : '';
      switch (item) {
        case 'otp_release':
          return reply(text(model.otpRelease));
        case 'version':
          return reply(text(model.ertsVersion));
        case 'process_count':
          return reply(drift(model.processCount, 3));
        case 'process_limit':
          return reply(model.processLimit);
        case 'schedulers':
          return reply(model.schedulers);
        case 'schedulers_online':
          return reply(model.schedulersOnline);
        case 'creation':
          return reply(context.creation);
        case 'dist_buf_busy_limit':
          return reply(1_048_576);
        case 'dist_ctrl':
          return reply(
            context
              .connections()
              .map(({ peer, port }) =>
                tuple(atom(peer), new Port(atom(context.node), BigInt(port), context.creation)),
              ),
          );
        default:
          return reply(badarg('erlang', 'system_info', args, 'erl_erts_errors'));
      }
    }
    case 'application:loaded_applications/0':
      return reply(loadedApplications(model));
    case 'erlang:statistics/1': {
      if (isAtomNamed(first, 'wall_clock')) {
        return reply(tuple(Math.max(0, Date.now() - model.startedAt), drift(1000, 1000)));
      }
      if (isAtomNamed(first, 'run_queue')) return reply(model.runQueue);
      return reply(badarg('erlang', 'statistics', args, 'erl_erts_errors'));
    }
    case 'erlang:memory/0': {
      const total = drift(model.memoryBytes, 65_536);
      const processes = Math.floor(total * 0.3);
      const atoms = 278_697;
      const ets = Math.floor(total * 0.05);
      const binary = Math.floor(total * 0.02);
      // Steady while the node's code is: beamscope's code scans take a move as a change.
      const code = (model.code ?? DEFAULT_SIM_CODE).codeBytes;
      return reply([
        tuple(atom('total'), total),
        tuple(atom('processes'), processes),
        tuple(atom('processes_used'), processes - 3000),
        tuple(atom('system'), total - processes),
        tuple(atom('atom'), atoms),
        tuple(atom('atom_used'), atoms - 12_000),
        tuple(atom('binary'), binary),
        tuple(atom('code'), code),
        tuple(atom('ets'), ets),
      ]);
    }
    case 'net_kernel:get_net_ticktime/0':
      return reply(model.netTicktimeSeconds);
    case 'net_kernel:nodes_info/0': {
      // Counters as a quiet link's since it came up: a tick each way every net_ticktime / 4.
      const tickMs = (model.netTicktimeSeconds * 1000) / 4;
      const now = Date.now();
      const owner = new Pid(atom(context.node), 90, 0, context.creation);
      return reply(
        tuple(
          atom('ok'),
          context.connections().map(({ peer, hidden, since }) => {
            const ticks = Math.floor((now - since) / tickMs);
            return tuple(atom(peer), [
              tuple(atom('owner'), owner),
              tuple(atom('state'), atom('up')),
              tuple(atom('type'), atom(hidden ? 'hidden' : 'normal')),
              tuple(atom('in'), ticks + 8),
              tuple(atom('out'), ticks + 9),
            ]);
          }),
        ),
      );
    }
    case 'erlang:port_info/2':
      if (first instanceof Port && isAtomNamed(second, 'queue_size'))
        return reply(tuple(atom('queue_size'), 0));
      return reply(badarg('erlang', 'port_info', args, 'erl_erts_errors'));
    case 'erlang:nodes/1': {
      if (isAtomNamed(first, 'visible')) return { encoded: context.visibleEncoded() };
      if (isAtomNamed(first, 'hidden')) return reply(context.hidden().map((name) => atom(name)));
      return reply(badarg('erlang', 'nodes', args, 'erl_erts_errors'));
    }
    case 'ets:info/2': {
      if (!(first instanceof Atom) || !isAtomNamed(second, 'size')) {
        return reply(badarg('ets', 'info', args, 'erl_stdlib_errors'));
      }
      // net_kernel's connection table: one row per connection, visible or hidden.
      if (first.name === 'sys_dist')
        return reply(context.visible().length + context.hidden().length);
      return reply(tableSize(model, first.name) ?? atom('undefined'));
    }
    case 'ets:select_count/2': {
      // The probes count rows whose pid is local: Swarm's and :global's, as the model says.
      const swarm = model.registries.swarm;
      if (isAtomNamed(first, 'swarm_registry') && swarm) return reply(swarm.hosted);
      if (isAtomNamed(first, 'global_names')) return reply(model.registries.globalHosted);
      return reply(badarg('ets', 'select_count', args, 'erl_stdlib_errors'));
    }
    case 'ets:select/2': {
      // A comparison of registry copies lists each row's host (`rowHostsProbe`).
      const rows = isAtomNamed(first, 'swarm_registry')
        ? model.registries.swarm?.names
        : isAtomNamed(first, 'global_names')
          ? model.registries.global
          : undefined;
      if (rows !== undefined && selectsRowHosts(second)) {
        return reply(rowHosts(rows, [context.node, ...context.visible()]));
      }
      // syn's table of tables, the probes' sign that syn is started: a missing table is badarg.
      const scopes = model.registries.syn;
      if (!isAtomNamed(first, 'syn_table_names') || !scopes) {
        return reply(badarg('ets', 'select', args, 'erl_stdlib_errors'));
      }
      return reply(scopes.map((scope) => atom(scope.scope)));
    }
    case 'ets:select/3': {
      const groups = model.registries.pg;
      if (!isAtomNamed(first, 'pg') || !groups || typeof third !== 'number' || third < 1) {
        return reply(badarg('ets', 'select', args, 'erl_stdlib_errors'));
      }
      if (groups.length === 0) return reply(atom('$end_of_table'));
      const rows = groups
        .slice(0, third)
        .map((group) => tuple(group.group, group.members, group.localMembers));
      // The continuation is opaque to callers; a real one also starts with the table.
      const continuation =
        groups.length > third ? tuple(atom('pg'), third, third, [], 0) : atom('$end_of_table');
      return reply(tuple(rows, continuation));
    }
    case 'ets:lookup/2': {
      if (!isAtomNamed(first, 'swarm_registry') || !model.registries.swarm) {
        return reply(badarg('ets', 'lookup', args, 'erl_stdlib_errors'));
      }
      return reply([]);
    }
    case 'syn:node_scopes/0': {
      const scopes = model.registries.syn;
      if (!scopes) return reply(undef(module, fn, args));
      return reply(scopes.map((scope) => atom(scope.scope)));
    }
    case 'erlang:binary_to_existing_atom/2': {
      if (first instanceof Uint8Array && isAtomNamed(second, 'utf8')) {
        const name = Buffer.from(first).toString('utf8');
        if (context.hasAtom(name)) return reply(atom(name));
      }
      return reply(badarg('erlang', 'binary_to_existing_atom', args, 'erl_erts_errors'));
    }
    case 'erlang:whereis/1': {
      if (!(first instanceof Atom))
        return reply(badarg('erlang', 'whereis', args, 'erl_erts_errors'));
      const index = [...OTP_REGISTERED, ...model.registeredNames].indexOf(first.name);
      return reply(
        index < 0
          ? atom('undefined')
          : new Pid(atom(context.node), 10 + index, 0, context.creation),
      );
    }
    case 'global:whereis_name/1':
      return reply(atom('undefined'));
    case 'Elixir.Registry:count/1':
    case 'Elixir.Registry:lookup/2': {
      if (!model.elixirVersion) return reply(undef(module, fn, args));
      const keys =
        first instanceof Atom ? model.registries.elixirRegistries[first.name] : undefined;
      if (keys === undefined) {
        const name = first instanceof Atom ? first.name.replace(/^Elixir\./, '') : '?';
        return reply(elixirArgumentError(`unknown registry: ${name}`, 'Elixir.Registry', fn, args));
      }
      return reply(fn === 'count' ? keys : []);
    }
    case 'lists:zipwith3/4': {
      // A probe's calls in one (`batchProbe`): `erlang:apply/3` over each module, function and
      // argument list, each answered as it is alone.
      const [fun, modules, fns, argLists] = args;
      if (
        fun instanceof ExportFun &&
        fun.module.name === 'erlang' &&
        fun.fun.name === 'apply' &&
        fun.arity === 3 &&
        Array.isArray(modules) &&
        Array.isArray(fns) &&
        Array.isArray(argLists) &&
        modules.length === fns.length &&
        fns.length === argLists.length
      ) {
        return applyEach(model, context, modules, fns, argLists);
      }
      return answerCode(model, module, fn, args);
    }
    default:
      return answerCode(model, module, fn, args);
  }
}

/**
 * `lists:zipwith3(fun erlang:apply/3, Ms, Fs, As)` as a real node runs it: the replies in order;
 * an element that raises raises out of the whole call, its stack the element's frame, then one
 * `lists:zipwith3/4` frame for the first element and two for any later one, as OTP 25 reports
 * it through `rpc` (measured with `rpc:call` at every position of lists of 1 to 6; the parity
 * suite checks the first and the third).
 */
function applyEach(
  model: SimNodeModel,
  context: SimContext,
  modules: Term[],
  fns: Term[],
  argLists: Term[],
): SimReply {
  const replies: Term[] = [];
  for (const [index, module] of modules.entries()) {
    const fn = fns[index];
    const args = argLists[index];
    if (!(module instanceof Atom) || !(fn instanceof Atom) || !Array.isArray(args)) {
      return { term: badarg('erlang', 'apply', [module, fn!, args!], 'erl_erts_errors') };
    }
    const answer = answerCall(model, context, module.name, fn.name, args);
    const term = 'term' in answer ? answer.term : decodeTerm(answer.encoded);
    if (term instanceof Tuple && isBadrpc(term))
      return { term: withZipwithFrames(term, Math.min(index + 1, 2)) };
    replies.push(term);
  }
  return { term: replies };
}

const ZIPWITH3_FRAME = tuple(atom('lists'), atom('zipwith3'), 4, [
  tuple(atom('file'), text('lists.erl')),
  tuple(atom('line'), 501),
]);

/** `{badrpc, {'EXIT', {Reason, Stack}}}` with `frames` zipwith3 frames after its first frame. */
function withZipwithFrames(badrpcTerm: Tuple, frames: number): Tuple {
  const exit = badrpcTerm.at(1);
  const reasonAndStack = exit instanceof Tuple ? exit.at(1) : undefined;
  if (!(reasonAndStack instanceof Tuple) || !Array.isArray(reasonAndStack.at(1))) return badrpcTerm;
  const [first, ...rest] = reasonAndStack.at(1) as Term[];
  const zipwith = Array.from({ length: frames }, () => ZIPWITH3_FRAME);
  return badrpc(reasonAndStack.at(0)!, [...(first ? [first] : []), ...zipwith, ...rest]);
}

function answerCode(model: SimNodeModel, module: string, fn: string, args: Term[]): SimReply {
  try {
    const answer = answerCodeCall(model.code ?? DEFAULT_SIM_CODE, module, fn, args);
    if (answer !== undefined) return answer;
  } catch (error) {
    if (error instanceof SimBadarg)
      return { term: badarg('erlang', 'get_module_info', args, 'erl_erts_errors') };
    throw error;
  }
  return { term: undef(module, fn, args) };
}

/** `{badrpc, ...}`: the call raised on the node. */
function isBadrpc(term: Term): boolean {
  return term instanceof Tuple && isAtomNamed(term.at(0), 'badrpc');
}
