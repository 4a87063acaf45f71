/**
 * Read-only by construction (issue 8 item 4): the remote calls beamscope makes are pinned to a
 * reviewed allow-list. Two views of the same list:
 *  - dynamic: a real collector (the product's own probe scheduling and registry lookup) runs
 *    against a real Erlang node and a real Elixir node with every registry the probes know, over
 *    a connection manager whose connections record each `rpc` they send (module, function,
 *    arity); the recorded set must equal the allow-list;
 *  - static: the probe catalogue's source is scanned for every module and function it names,
 *    so a new probe that no test exercises is caught too.
 * Neither may name a call on the deny-list (code loading, ports, atom creation, writes, exits…).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { KubernetesMember, KubernetesSourceStatus } from '@/lib/members';
import { Collector } from '@/server/collector';
import { connectNode, type NodeConnection } from '@/server/erlang';
import { Atom, ExportFun, PreEncoded, Tuple, atom, type Term } from '@/server/erlang/codec/terms';
import { ConnectionManager } from '@/server/erlang/manager';
import { lookupName, runProbes } from '@/server/erlang/probes';
import type { KubernetesSourceEvents } from '@/server/kubernetes/source';

import { startBeamNode, type BeamNode } from '../../support/beam';

const root = join(import.meta.dirname, '..', '..', '..');
const PROBES_DIR = join(root, 'server', 'erlang', 'probes');

/**
 * Every remote call beamscope may make, as `module:function/arity`. Each one only reads; a new
 * entry needs a review that it cannot run code, create atoms from user text, write or stop anything.
 */
const ALLOWED_CALLS = [
  'Elixir.Registry:count/1',
  'Elixir.Registry:lookup/2',
  'application:loaded_applications/0',
  'application:which_applications/0',
  'erlang:binary_to_existing_atom/2',
  'erlang:loaded/0',
  'erlang:memory/0',
  'erlang:nodes/1',
  'erlang:port_info/2',
  'erlang:statistics/1',
  'erlang:system_info/1',
  'erlang:whereis/1',
  'ets:info/2',
  'ets:lookup/2',
  'ets:select/2',
  'ets:select/3',
  'ets:select_count/2',
  'global:whereis_name/1',
  // Applies the fun it is given to each pair: allowed only with a fun from ALLOWED_FUNS below,
  // so one call reads many modules' md5s (or application keys) without loading any code.
  'lists:zipwith/3',
  // A probe's calls in one (`batchProbe`): allowed only with BATCH_APPLIER, and each element is
  // recorded and checked as the call it is, as if it had been sent alone.
  'lists:zipwith3/4',
  'net_kernel:get_net_ticktime/0',
  'net_kernel:nodes_info/0',
  'supervisor:count_children/1',
].sort();

/**
 * The external funs (`fun M:F/A`, sent as EXPORT_EXT: no code travels) a call may carry as an
 * argument, for `lists:zipwith/3` to apply. Each only reads.
 */
const ALLOWED_FUNS = ['application:get_key/2', 'erlang:get_module_info/2'].sort();

/**
 * The one fun that may run any function, denied everywhere else: allowed only as the fun of
 * `lists:zipwith3/4`, over elements that are each an allow-listed call carrying no fun (see
 * {@link recordCall}), so a batch can run no more than its calls alone could.
 */
const BATCH_APPLIER = 'erlang:apply/3';

const funName = (fun: ExportFun) => `${fun.module.name}:${fun.fun.name}/${fun.arity}`;

/** The funs anywhere in a term: an element of a batch may carry none. */
function funsIn(term: Term): string[] {
  if (term instanceof ExportFun) return [funName(term)];
  if (term instanceof PreEncoded) return funsIn(term.term);
  if (Array.isArray(term)) return term.flatMap(funsIn);
  if (term instanceof Tuple) return term.elements.flatMap(funsIn);
  return [];
}

/**
 * Records one remote call as `module:function/arity` and the funs it carries; a batch
 * (`lists:zipwith3(fun erlang:apply/3, Ms, Fs, As)`) also records each of its elements as the
 * call it is, and anything else in its place as a call no allow-list holds.
 */
function recordCall(
  module: string,
  fn: string,
  args: Term[],
  calls: Map<string, number>,
  funs: Set<string>,
): void {
  const record = (call: string) => calls.set(call, (calls.get(call) ?? 0) + 1);
  record(`${module}:${fn}/${args.length}`);
  for (const arg of args) if (arg instanceof ExportFun) funs.add(funName(arg));
  if (module !== 'lists' || fn !== 'zipwith3') return;
  const [applier, modules, fns, argLists] = args;
  const elements = [modules, fns, argLists];
  if (
    !(applier instanceof ExportFun) ||
    funName(applier) !== BATCH_APPLIER ||
    !elements.every(Array.isArray)
  ) {
    record('batch:malformed/0');
    return;
  }
  const [ms, fs, as] = elements as [Term[], Term[], Term[]];
  ms.forEach((m, index) => {
    const elementArgs = as[index] instanceof PreEncoded ? as[index].term : as[index];
    const f = fs[index];
    if (!(m instanceof Atom) || !(f instanceof Atom) || !Array.isArray(elementArgs)) {
      record('batch:malformed/0');
      return;
    }
    // A batch inside a batch, or an element carrying a fun, is on no allow-list.
    record(`${m.name}:${f.name}/${elementArgs.length}`);
    for (const fun of funsIn(elementArgs)) record(`batch:fun ${fun}/0`);
  });
}

/**
 * Calls that must never appear, whatever a review says: running code or commands, loading code,
 * opening ports, creating atoms from text, decoding untrusted terms, sending, spawning, writing
 * tables or registrations, changing the node's settings, tracing, stopping things.
 * (`binary_to_term` is denied outright: even `[safe]` would need its argument reviewed.)
 */
const DENIED: RegExp[] = [
  /^os:/,
  /^(code|file|filelib|init|erl_eval|erl_scan|erl_parse|c|shell|rpc|erpc|dbg|sys|gen|gen_server|gen_statem|proc_lib|auth|slave|peer|heart|erl_ddll|prim_file|erl_prim_loader|application_controller|disk_log|mnesia|persistent_term|seq_trace)(:|$)/,
  // `port_info/2` stays allowed: it reads a distribution port's queue; every other port_* acts.
  /^erlang:(open_port|port_(?!info\/)\w+|list_to_atom|binary_to_atom|binary_to_term|apply|spawn\w*|send\w*|exit|halt|raise|error|throw|register|unregister|set_cookie|load_\w+|delete_module|purge_module|trace\w*|system_flag|process_flag|put|erase|garbage_collect|suspend_process|resume_process|disconnect_node|monitor_node|link|demonitor|group_leader|setnode|dist_ctrl_\w+)\//,
  /^ets:(insert\w*|delete\w*|new|give_away|setopts|rename|update_\w+|take|select_delete|select_replace|match_delete|file2tab|tab2file|init_table|from_dets)\//,
  /^global:(register_name|re_register_name|unregister_name|set_lock|del_lock|trans|send|sync)\//,
  /^pg:(join|leave|start\w*)\//,
  // Everything of `supervisor` that starts, stops or changes children. `count_children/1` stays
  // allowed: the supervisor answers it from its own state (a Horde supervisor's local children).
  /^supervisor:(start\w*|restart_child|delete_child|terminate_child|check_childspecs|which_children)\//,
  /^net_kernel:(connect_node|disconnect|stop|start|set_net_ticktime|allow|hidden_connect_node|monitor_nodes)\//,
  /^application:(start|stop|ensure_\w+|set_env|unset_env|put_env|load|unload|takeover)\//,
  /^Elixir\.(Code|System|File|Port|Node|Process|Kernel|String|List|IEx|Mix|Application|Module|Agent|Task|GenServer):/,
  /^Elixir\.Registry:(register|unregister\w*|update_value|put_meta|delete_meta|dispatch)\//,
  /^syn:(register|unregister|join|leave|add_node_to_scopes|publish|\w*_call)\//,
];

const denied = (call: string) => DENIED.some((pattern) => pattern.test(call));

/** A Kubernetes source that lists two fixed members (the members come from the test). */
class FixedSource extends EventEmitter<KubernetesSourceEvents> {
  constructor(private readonly current: KubernetesMember[]) {
    super();
  }
  members(): KubernetesMember[] {
    return this.current;
  }
  status(): KubernetesSourceStatus {
    return { state: 'ok', since: 0 };
  }
}

function member(node: string, index: number): KubernetesMember {
  return {
    ip: '127.0.0.1',
    podName: `fixture-${index}`,
    podUid: `uid-${index}`,
    k8sNode: 'test-node',
    zone: null,
    hostname: null,
    ready: true,
    serving: true,
    terminating: false,
    phase: 'Running',
    restarts: 0,
    startTime: '2026-01-01T00:00:00Z',
    beamNode: node,
    source: { kind: 'EndpointSlice', name: 'fixture' },
  };
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('remote calls: what a full probe run and name lookups send, on real nodes', () => {
  const cookie = `calls-${randomBytes(6).toString('hex')}`;
  const REGISTRY = 'Beamscope.CallsRegistry';
  let a: BeamNode;
  let b: BeamNode;
  let manager: ConnectionManager;
  let collector: Collector;
  const recorded = new Map<string, number>();
  const recordedFuns = new Set<string>();
  const connections: NodeConnection[] = [];

  /** The manager's connect seam: real connections whose every `rpc` is recorded first. */
  const recordingConnect: typeof connectNode = async (node, options) => {
    const connection = await connectNode(node, options);
    const rpc = connection.rpc.bind(connection);
    connection.rpc = (module, fn, args, callOptions) => {
      recordCall(module, fn, args, recorded, recordedFuns);
      return rpc(module, fn, args, callOptions);
    };
    connections.push(connection);
    return connection;
  };

  beforeAll(async () => {
    a = await startBeamNode({ name: `ca_${process.pid}@127.0.0.1`, cookie });
    b = await startBeamNode({
      name: `cb_${process.pid}@127.0.0.1`,
      cookie,
      elixir: true,
      connectTo: [a.name],
    });
    // Every registry the probes count, so that every branch of detection runs: Swarm on both
    // (hosted counting), :global names, pg groups with members (the group sample), an Elixir
    // Registry on the Elixir node (count and lookup), a syn scope, a Horde supervisor's
    // children. The Horde registry is absent: its detection still asks for its table's atom.
    await a.eval('beamscope_fixture:swarm_table()');
    await b.eval('beamscope_fixture:swarm_table()');
    await a.eval('beamscope_fixture:syn_scope(calls)');
    await a.eval(`beamscope_fixture:processes_supervisor('Elixir.Beamscope.CallsSup', 1)`);
    await a.eval(
      `beamscope_fixture:swarm_register([<<"user-1">>, "charlist-name", 12345], ['${a.name}', '${b.name}'])`,
    );
    await a.eval('beamscope_fixture:global_names("calls_global", 2)');
    await a.eval('beamscope_fixture:pg_groups("calls_grp", 2, 2)');
    await b.eval(`beamscope_fixture:elixir_registry('Elixir.${REGISTRY}', 3)`);
    await waitFor(async () => Number(await b.eval('length(global:registered_names())')) === 2);

    manager = new ConnectionManager({
      localName: `calls_${process.pid}@127.0.0.1`,
      cookie,
      connect: recordingConnect,
    });
    collector = new Collector({
      clusterId: 'calls',
      localNode: manager.localName,
      source: new FixedSource([member(a.name, 1), member(b.name, 2)]),
      manager,
      pollIntervalMs: 500,
      probe: {
        timeoutMs: 5000,
        elixirRegistries: [REGISTRY],
        hordeRegistries: ['Beamscope.CallsHorde'],
        hordeSupervisors: ['Beamscope.CallsSup'],
      },
    }).start();
  });

  afterAll(async () => {
    collector?.stop();
    await manager?.close();
    for (const connection of connections) connection.close();
    await Promise.all([a, b].filter(Boolean).map((node) => node.stop()));
  });

  it('records only allow-listed calls, and every allow-listed call is exercised', async () => {
    expect(await collector.settled(20_000)).toBe(true);
    // At least two poll rounds: a later probe may take paths the first did not.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const state = collector.snapshot().state;
    expect(state.members.map((entry) => entry.beam?.connection.status)).toEqual([
      'connected',
      'connected',
    ]);

    // Name lookups through the collector (what GET /api/clusters/<id>/registry runs): names
    // that exist as atoms (so the atom key forms and erlang:whereis run), names held by Swarm
    // and the Elixir Registry, an integer key, and names no node has.
    const names = [
      'init',
      'calls_global_1',
      'user-1',
      'charlist-name',
      '12345',
      'key-2',
      `missing-${randomBytes(6).toString('hex')}`,
      `Elixir.Missing.${randomBytes(6).toString('hex')}`,
      'näme-✓',
    ];
    const found = new Map<string, number>();
    for (const name of names) {
      const result = await collector.lookup(name);
      found.set(
        name,
        result.nodes.reduce((sum, node) => sum + node.matches.length, 0),
      );
      for (const node of result.nodes) expect(node.errors).toEqual([]);
    }
    // Not vacuous: the lookups did find what the fixtures registered.
    expect(found.get('init')).toBeGreaterThan(0);
    expect(found.get('calls_global_1')).toBeGreaterThan(0);
    expect(found.get('user-1')).toBeGreaterThan(0);
    expect(found.get('12345')).toBeGreaterThan(0);
    expect(found.get('key-2')).toBeGreaterThan(0);

    const calls = [...recorded.keys()].sort();
    console.info(
      `remote calls recorded: ${[...recorded].map(([call, count]) => `${call} ×${count}`).join(', ')}`,
    );
    expect(calls.filter(denied)).toEqual([]);
    expect(calls).toEqual(ALLOWED_CALLS);
    // The code scan ran (its funs travelled), probes were batched, and no other fun travelled.
    expect([...recordedFuns].sort()).toEqual([...ALLOWED_FUNS, BATCH_APPLIER].sort());
  });

  it('runProbes and lookupName called directly make no call outside the allow-list', async () => {
    // The same probe functions without the collector (the CLI's `probe` and `lookup` commands
    // use them so), with Horde and syn options the collector run did not set.
    const direct = new Map<string, number>();
    const directFuns = new Set<string>();
    const connection = await connectNode(b.name, {
      localName: `calls_direct_${process.pid}@127.0.0.1`,
      cookie,
    });
    try {
      const rpc: Parameters<typeof runProbes>[0] = (module, fn, args, options) => {
        recordCall(module, fn, args, direct, directFuns);
        return connection.rpc(module, fn, args, options);
      };
      const options = {
        elixirRegistries: [REGISTRY, 'Beamscope.NotThere'],
        hordeRegistries: ['Beamscope.NoHorde'],
        synScopeLimit: 5,
        pgGroupLimit: 1,
      };
      await runProbes(rpc, options);
      // Each call alone, as the CLI's tests and the comparisons do.
      await runProbes(rpc, { ...options, batch: false });
      await lookupName(rpc, 'key-1', { elixirRegistries: [REGISTRY] });
      await lookupName(rpc, `nope-${randomBytes(4).toString('hex')}`);
    } finally {
      connection.close();
    }
    const calls = [...direct.keys()].sort();
    expect(calls.filter(denied)).toEqual([]);
    for (const call of calls) expect(ALLOWED_CALLS).toContain(call);
    for (const fun of directFuns) expect([...ALLOWED_FUNS, BATCH_APPLIER]).toContain(fun);
    expect(directFuns).toContain(BATCH_APPLIER);
  });
});

describe('remote calls: what the probe source names, exercised or not', () => {
  it('the allow-list itself names nothing on the deny-list', () => {
    expect(ALLOWED_CALLS.filter(denied)).toEqual([]);
    // A batch is recorded element by element: a denied call inside one is seen as itself.
    const calls = new Map<string, number>();
    const applier = new ExportFun(atom('erlang'), atom('apply'), 3);
    recordCall(
      'lists',
      'zipwith3',
      [applier, [atom('os')], [atom('cmd')], [[Buffer.from('ls')]]],
      calls,
      new Set(),
    );
    expect([...calls.keys()].filter(denied)).toEqual(['os:cmd/1']);
    recordCall(
      'lists',
      'zipwith3',
      [applier, [atom('erlang')], [atom('statistics')], [[applier]]],
      calls,
      new Set(),
    );
    expect([...calls.keys()]).toContain('batch:fun erlang:apply/3/0');
    // The deny-list is live: each of these would be refused.
    for (const call of [
      'os:cmd/1',
      'erlang:open_port/2',
      'erlang:port_command/2',
      'erlang:port_close/1',
      'erlang:port_control/3',
      'erlang:list_to_atom/1',
      'erlang:binary_to_atom/2',
      'erlang:binary_to_term/2',
      'code:load_binary/3',
      'file:read_file/1',
      'init:stop/0',
      'erlang:halt/0',
      'erlang:exit/2',
      'erlang:send/2',
      'erlang:apply/3',
      'erlang:spawn/3',
      'rpc:call/4',
      'ets:insert/2',
      'Elixir.Code:eval_string/1',
      'Elixir.String:to_atom/1',
    ])
      expect(denied(call)).toBe(true);
  });

  it('names exactly the allow-listed modules and functions, all as literals', async () => {
    const files = (await readdir(PROBES_DIR)).filter((file) => file.endsWith('.ts')).sort();
    expect(files).toEqual([
      'batch.ts',
      'catalogue-code.ts',
      'catalogue-links.ts',
      'catalogue-lookup.ts',
      'catalogue-registries.ts',
      'catalogue.ts',
      'code.ts',
      'index.ts',
      'links.ts',
      'lookup.ts',
      'probe-call.ts',
      'reply.ts',
      'run.ts',
    ]);
    const named = new Set<string>();
    const namedFuns = new Set<string>();
    for (const file of files) {
      const text = await readFile(join(PROBES_DIR, file), 'utf8');
      // Every `module:` / `fn:` property is either a type annotation or a string literal, and
      // every literal module comes paired with a literal function.
      for (const match of text.matchAll(/['"]?\b(module|fn)['"]?\s*:\s*([^\n,;}]*)/g)) {
        const property = `${file}: ${match[0].trim()}`;
        expect(property).toMatch(/:\s*('[^']+'|string)$/);
      }
      const pairs = [...text.matchAll(/\bmodule:\s*'([^']+)',\s*fn:\s*'([^']+)'/g)];
      const literalModules = [...text.matchAll(/\bmodule:\s*'/g)];
      expect(pairs.length).toBe(literalModules.length);
      for (const [, module, fn] of pairs) named.add(`${module}:${fn}`);
      // A fun sent for a call to apply names its module and function as literals, reviewed.
      const funs = [
        ...text.matchAll(/new ExportFun\(\s*atom\('([^']+)'\),\s*atom\('([^']+)'\),\s*(\d+)\s*\)/g),
      ];
      expect(funs.length, `${file}: every ExportFun is built from literals`).toBe(
        [...text.matchAll(/new ExportFun\(/g)].length,
      );
      for (const [, module, fn, arity] of funs) namedFuns.add(`${module}:${fn}/${arity}`);
    }
    const allowed = new Set(ALLOWED_CALLS.map((call) => call.replace(/\/\d+$/, '')));
    expect([...named].sort()).toEqual([...allowed].sort());
    // Whatever the arity, none is on the deny-list.
    const deniedName = (name: string) =>
      [0, 1, 2, 3, 4, 5].some((arity) => denied(`${name}/${arity}`));
    expect([...named].filter(deniedName)).toEqual([]);
    expect([...namedFuns].sort()).toEqual([...ALLOWED_FUNS, BATCH_APPLIER].sort());
    expect(ALLOWED_FUNS.filter(denied)).toEqual([]);
    // The applier is denied as a call and as a fun anywhere but the batch: one file names it,
    // beside the one `lists:zipwith3` of the catalogue.
    expect(denied(BATCH_APPLIER)).toBe(true);
    const applierFiles: string[] = [];
    for (const file of files) {
      const text = await readFile(join(PROBES_DIR, file), 'utf8');
      if (/new ExportFun\(\s*atom\('erlang'\),\s*atom\('apply'\)/.test(text)) {
        applierFiles.push(file);
        expect([...text.matchAll(/new ExportFun\(/g)]).toHaveLength(1);
        expect([...text.matchAll(/fn:\s*'zipwith3'/g)]).toHaveLength(1);
      }
    }
    expect(applierFiles).toEqual(['catalogue.ts']);
  });

  it('no other server code names a remote module or function', async () => {
    // The distribution client builds the `rex` call from its arguments; everything else that
    // could name a call lives in the probe catalogue. A `{call, M, F, A, _}` or an `atom('rex')`
    // anywhere else would be a second path to the node.
    const entries = await readdir(join(root, 'server'), { withFileTypes: true, recursive: true });
    const offenders: string[] = [];
    for (const entry of entries) {
      if (!entry.isFile() || !/\.(ts|tsx)$/.test(entry.name)) continue;
      const path = join(entry.parentPath, entry.name);
      const relativePath = path.slice(root.length + 1);
      if (relativePath.startsWith('server/erlang/probes/')) continue;
      const text = await readFile(path, 'utf8');
      if (/atom\(\s*'rex'\s*\)/.test(text) && relativePath !== 'server/erlang/connection.ts')
        offenders.push(`${relativePath}: rex`);
      if (/\bmodule:\s*'[^']+',\s*fn:\s*'/.test(text)) offenders.push(`${relativePath}: module/fn`);
    }
    expect(offenders).toEqual([]);
  });
});
