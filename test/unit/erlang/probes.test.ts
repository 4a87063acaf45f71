import { describe, expect, it } from 'vitest';

import { BeamscopeError } from '@/server/errors';
import { PEER_LIST_HARD_CAP, PeerLists, peerListCap, probedSide } from '@/server/collector/report';
import {
  Atom,
  Charlist,
  ErlMap,
  Pid,
  Tuple,
  atom,
  tuple,
  type Term,
} from '@/server/erlang/codec/terms';
import { MeshBuilder } from '@/lib/mesh';
import type { RelativePeers } from '@/lib/peer-view';
import { compactState, expandState } from '@/lib/peer-wire';
import { blankSide, buildClusterState } from '@/lib/state-builder';
import { encodeTerm } from '@/server/erlang/codec';
import { erlangError } from '@/server/erlang/errors';
import {
  elixirRegistryLookupProbe,
  elixirVersionProbe,
  existingAtomProbe,
  lookupName,
  memoryProbe,
  readLookupName,
  netTicktimeProbe,
  otpReleaseProbe,
  PG_GROUP_MATCH_SPEC,
  pgGroupsProbe,
  registryAtomName,
  REGISTRIES_NOT_READ,
  runProbes,
  SWARM_HOSTED_MATCH_SPEC,
  swarmLookupProbe,
  tableSizeProbe,
  uptimeProbe,
  visibleNodesProbe,
  type RpcFunction,
} from '@/server/erlang/probes';

const pid = (node: string, id: number) => new Pid(atom(node), id, 0, 1);
const side = (node: string) => blankSide(node, { status: 'connected', since: 1 });
const bin = (text: string) => Buffer.from(text, 'utf8');

describe('probe parsers', () => {
  it('reads the OTP release from either charlist form', () => {
    expect(otpReleaseProbe.parse(new Charlist('25'))).toBe('25');
    expect(otpReleaseProbe.parse([50, 54])).toBe('26');
    expect(() => otpReleaseProbe.parse(atom('nope'))).toThrow(/expected a string/);
  });

  it('finds the Elixir version among loaded applications, or null', () => {
    const apps: Term = [
      tuple(atom('kernel'), new Charlist('ERTS  CXC 138 10'), new Charlist('8.5.3')),
      tuple(atom('elixir'), new Charlist('elixir'), new Charlist('1.14.0')),
    ];
    expect(elixirVersionProbe.parse(apps)).toBe('1.14.0');
    expect(elixirVersionProbe.parse([apps[0]!])).toBeNull();
  });

  it('reads memory, converting bignums', () => {
    const reply: Term = [
      tuple(atom('total'), 5_000_000_000n),
      tuple(atom('processes'), 1000),
      tuple(atom('processes_used'), 900),
      tuple(atom('ets'), 300),
      tuple(atom('binary'), 200),
      tuple(atom('atom'), 100),
    ];
    expect(memoryProbe.parse(reply)).toEqual({
      total: 5_000_000_000,
      processes: 1000,
      ets: 300,
      binary: 200,
      atom: 100,
      // No `code` entry in this reply: the code scans then have no cheap change signal.
      code: null,
    });
    expect(memoryProbe.parse([...(reply as Term[]), tuple(atom('code'), 4096)])).toMatchObject({
      code: 4096,
    });
    expect(() => memoryProbe.parse([tuple(atom('total'), 1)])).toThrow(/processes/);
  });

  it('reads uptime from {Total, SinceLast} and the tick time in both forms', () => {
    expect(uptimeProbe.parse(tuple(12345, 10))).toBe(12345);
    expect(netTicktimeProbe.parse(60)).toBe(60);
    expect(netTicktimeProbe.parse(tuple(atom('ongoing_change_to'), 30))).toBe(30);
  });

  it('caps node lists and says so', () => {
    const probe = visibleNodesProbe(2);
    expect(probe.args).toEqual([atom('visible')]);
    expect(probe.parse(encodeTerm([atom('a@h'), atom('b@h'), atom('c@h')]))).toEqual({
      nodes: ['a@h', 'b@h'],
      count: 3,
      truncated: true,
    });
    expect(probe.parse(encodeTerm([]))).toEqual({ nodes: [], count: 0, truncated: false });
    // Anything but a list of atoms fails as the decoded reply did.
    expect(() => probe.parse(encodeTerm([atom('a@h'), 7]))).toThrow(/a node name/);
    expect(() => probe.parse(encodeTerm(atom('x')))).toThrow(/a list/);
  });

  it('reads table sizes, undefined meaning no such table', () => {
    const probe = tableSizeProbe(atom('global_names'));
    expect([probe.module, probe.fn]).toEqual(['ets', 'info']);
    expect(probe.parse(42)).toBe(42);
    expect(probe.parse(atom('undefined'))).toBeNull();
  });

  it('builds the Swarm match spec guarding on the pid’s node inside the node', () => {
    expect(SWARM_HOSTED_MATCH_SPEC).toEqual([
      tuple(
        tuple(atom('entry'), atom('_'), atom('$1'), atom('_'), atom('_'), atom('_')),
        [tuple(atom('=:='), tuple(atom('node'), atom('$1')), tuple(atom('node')))],
        [atom('true')],
      ),
    ]);
  });

  it('reads pg group samples from ets:select/3', () => {
    const probe = pgGroupsProbe(10);
    expect(probe.args).toEqual([atom('pg'), PG_GROUP_MATCH_SPEC, 10]);
    const reply = tuple([tuple(atom('g1'), 3, 1), tuple(bin('g2'), 2, 0)], tuple(atom('cont')));
    expect(probe.parse(reply)).toEqual([
      { group: atom('g1'), members: 3, localMembers: 1 },
      { group: bin('g2'), members: 2, localMembers: 0 },
    ]);
    expect(probe.parse(atom('$end_of_table'))).toEqual([]);
  });

  it('passes user text to binary_to_existing_atom as a binary, never an atom', () => {
    const probe = existingAtomProbe('my_name');
    expect(probe.args[0]).toBeInstanceOf(Uint8Array);
    expect(probe.args.some((arg) => arg instanceof Atom && arg.name === 'my_name')).toBe(false);
  });

  it('extracts pids from Swarm records and Registry entries', () => {
    const record = tuple(
      atom('entry'),
      bin('n'),
      pid('a@h', 7),
      atom('ref'),
      new ErlMap([]),
      tuple(1, 0),
    );
    expect(swarmLookupProbe(bin('n')).parse([record])).toEqual([pid('a@h', 7)]);
    expect(() => swarmLookupProbe(bin('n')).parse([tuple(1, 2)])).toThrow(/entry/);
    const entries = [tuple(pid('b@h', 3), atom('value'))];
    expect(elixirRegistryLookupProbe(atom('Elixir.R'), bin('k')).parse(entries)).toEqual([
      pid('b@h', 3),
    ]);
  });

  it('normalises registry names to atom text', () => {
    expect(registryAtomName('MyApp.Registry')).toBe('Elixir.MyApp.Registry');
    expect(registryAtomName('Elixir.MyApp.Registry')).toBe('Elixir.MyApp.Registry');
    expect(registryAtomName(':my_registry')).toBe('my_registry');
  });
});

type Handler = (args: Term[]) => Term | Promise<Term>;

/** A scripted rpc: replies by `module:function`; anything unscripted raises `undef` (badrpc). */
function scriptedRpc(handlers: Record<string, Handler>) {
  const calls: Array<{ module: string; fn: string; args: Term[] }> = [];
  const rpc: RpcFunction = async (module, fn, args, options) => {
    calls.push({ module, fn, args });
    const handler = handlers[`${module}:${fn}`];
    if (!handler) throw erlangError('badrpc', `rpc ${module}:${fn} failed: undef`);
    // As the connection does for a call that asks for `encodedReply`: term_to_binary's bytes.
    const reply = await handler(args);
    return options?.encodedReply ? encodeTerm(reply) : reply;
  };
  return { rpc, calls };
}

const isAtomNamed = (term: Term | undefined, name: string) =>
  term instanceof Atom && term.name === name;

function healthyNode(overrides: Record<string, Handler> = {}) {
  const systemInfo: Record<string, Term> = {
    otp_release: new Charlist('25'),
    version: new Charlist('13.1.5'),
    process_count: 61,
    process_limit: 262144,
    schedulers: 1,
    schedulers_online: 1,
    dist_ctrl: [],
    dist_buf_busy_limit: 1_048_576,
  };
  return scriptedRpc({
    'erlang:system_info': ([item]) => systemInfo[(item as Atom).name]!,
    'application:loaded_applications': () => [
      tuple(atom('kernel'), new Charlist('k'), new Charlist('8.5')),
    ],
    'erlang:statistics': ([item]) => (isAtomNamed(item, 'wall_clock') ? tuple(5000, 10) : 0),
    'erlang:memory': () =>
      ['total', 'processes', 'ets', 'binary', 'atom'].map((key, index) =>
        tuple(atom(key), (index + 1) * 100),
      ),
    'net_kernel:get_net_ticktime': () => 60,
    'net_kernel:nodes_info': () => tuple(atom('ok'), []),
    'erlang:nodes': ([kind]) => (isAtomNamed(kind, 'visible') ? [atom('b@127.0.0.1')] : []),
    'ets:info': ([table]) => {
      if (isAtomNamed(table, 'global_names')) return 12;
      if (isAtomNamed(table, 'pg')) return 3;
      return atom('undefined');
    },
    'ets:select': ([table]) => {
      // As on a real node, selecting from a table that does not exist (syn's) is badarg.
      if (!isAtomNamed(table, 'pg')) throw erlangError('badrpc', 'badarg');
      return tuple([tuple(atom('g1'), 2, 1), tuple(atom('g2'), 1, 0)], atom('cont'));
    },
    // Names whose process is local, counted on the node.
    'ets:select_count': () => 5,
    ...overrides,
  });
}

describe('an absurd peer list', () => {
  it('is capped at the node reply and flagged on the member, never expanded into the mesh', async () => {
    // A broken or hostile node of a 3-node cluster claims 50,000 connected nodes.
    const claimed = Array.from({ length: 50_000 }, (_, index) => atom(`ghost${index}@10.9.0.1`));
    const { rpc } = healthyNode({
      'erlang:nodes': ([kind]) => (isAtomNamed(kind, 'visible') ? claimed : []),
    });
    const cap = peerListCap(3);
    expect(cap).toBe(70);
    const report = await runProbes(rpc, { listCap: cap });
    expect(report.connectedNodes).toMatchObject({ count: 50_000, truncated: true });
    expect(report.connectedNodes?.nodes).toHaveLength(cap);

    const node = 'a@127.0.0.1';
    const before = side(node);
    const sees = new PeerLists().sees(node, null, report.connectedNodes!.nodes);
    const after = probedSide(before, report, 20, sees);
    expect(after.sees).toHaveLength(cap);
    expect(after.probeError).toBe(
      'reported 50,000 connected nodes, far more than the cluster holds: kept the first 70',
    );
    // A whole list is not flagged.
    const whole = await runProbes(healthyNode().rpc, { listCap: cap });
    expect(probedSide(before, whole, 20, ['b@127.0.0.1']).probeError).toBeNull();
  });

  it("stays in the broken node's own view of the compact mesh, and goes on the wire as capped", async () => {
    // 300 healthy nodes in a whole mesh, and one more that claims 50,000 peers.
    const healthy = Array.from({ length: 300 }, (_, index) => `myapp@10.0.${index >> 8}.${index}`);
    const broken = 'myapp@10.1.0.1';
    const everyone = [...healthy, broken];
    const claimed = Array.from({ length: 50_000 }, (_, index) => atom(`ghost${index}@10.9.0.1`));
    const { rpc } = healthyNode({
      'erlang:nodes': ([kind]) => (isAtomNamed(kind, 'visible') ? claimed : []),
    });
    const cap = peerListCap(everyone.length);
    const report = await runProbes(rpc, { listCap: cap });
    const capped = probedSide(
      side(broken),
      report,
      20,
      new PeerLists().sees(broken, null, report.connectedNodes!.nodes),
    );
    const sides = [
      ...healthy.map((node) => ({
        ...side(node),
        sees: everyone.filter((peer) => peer !== node),
      })),
      capped,
    ];
    const meshes = new MeshBuilder();
    const state = buildClusterState(
      {
        clusterId: 'absurd',
        at: 20,
        localNode: 'beamscope@10.255.0.1',
        kubernetes: { state: 'ok', since: 0 },
        distribution: { state: 'ok' },
        kubernetesMembers: [],
        beam: new Map(sides.map((entry) => [entry.node, entry])),
      },
      meshes,
    );
    const mesh = meshes.ofState(state);
    const views = [...mesh.views.values()] as RelativePeers[];
    // The capped names live in the broken node's view alone: no other view holds any of them.
    for (const view of views.filter((entry) => entry.node !== broken)) {
      expect(view.missing.size + view.extra.size).toBe(0);
    }
    const brokenView = mesh.views.get(broken) as RelativePeers;
    expect(brokenView.extra.size).toBe(cap);
    expect(brokenView.size).toBe(cap);
    // Flagged on its member; on the wire the healthy lists still say nothing (relative to the
    // nodes that report), and the broken one costs no more than the list it was capped to.
    const member = state.members.find((entry) => entry.key === broken)!;
    expect(member.beam?.probeError).toMatch(/reported 50,000 connected nodes/);
    const wire = compactState(state);
    const sent = (key: string) => {
      const beam = wire.members.find((entry) => entry.key === key)!.beam!;
      return 'sees' in beam ? beam.sees : wire.packed.beam.sees;
    };
    for (const node of healthy) expect(sent(node)).toEqual({ except: [], plus: [] });
    expect(JSON.stringify(sent(broken)).length).toBeLessThanOrEqual(
      JSON.stringify(member.beam!.sees).length,
    );
    expect(expandState(JSON.parse(JSON.stringify(wire)) as typeof wire)).toEqual(state);
  });

  it('is capped at a hard limit whatever the cluster claims to be', () => {
    expect(peerListCap(2000)).toBe(4064);
    expect(peerListCap(1_000_000)).toBe(PEER_LIST_HARD_CAP);
  });
});

describe('runProbes', () => {
  it('reports the node and its registries', async () => {
    const { rpc } = healthyNode();
    const report = await runProbes(rpc, { pgGroupLimit: 2 });
    expect(report).toMatchObject({
      otpRelease: '25',
      ertsVersion: '13.1.5',
      elixirVersion: null,
      uptimeMs: 5000,
      processCount: 61,
      processLimit: 262144,
      memory: { total: 100, processes: 200, ets: 300, binary: 400, atom: 500 },
      netTicktimeSeconds: 60,
      connectedNodes: { nodes: ['b@127.0.0.1'], count: 1, truncated: false },
      errors: {},
    });
    expect(report.registries.global).toEqual({ status: 'present', names: 12, hostedHere: 5 });
    expect(report.registries.swarm).toEqual({ status: 'absent' });
    expect(report.registries.syn).toEqual({ status: 'absent' });
    // Three groups, two sampled: the total is unknown rather than wrong.
    expect(report.registries.pg).toEqual({
      status: 'present',
      groups: 3,
      members: null,
      localMembers: null,
      sample: [
        { group: 'g1', members: 2, localMembers: 1 },
        { group: 'g2', members: 1, localMembers: 0 },
      ],
      truncated: true,
    });
  });

  it('keeps the rest of the report when one probe fails', async () => {
    const { rpc } = healthyNode({
      'erlang:memory': () => {
        throw erlangError('timeout', 'rpc erlang:memory/0 on node a@h timed out after 5 ms');
      },
      'ets:info': ([table]) => {
        if (isAtomNamed(table, 'global_names'))
          throw new BeamscopeError('erlang', 'node_down', 'gone');
        return atom('undefined');
      },
    });
    const report = await runProbes(rpc);
    expect(report.memory).toBeNull();
    expect(report.errors.memory).toEqual({
      code: 'timeout',
      message: 'rpc erlang:memory/0 on node a@h timed out after 5 ms',
    });
    expect(report.registries.global).toEqual({
      status: 'error',
      error: { code: 'node_down', message: 'gone' },
    });
    expect(report.processCount).toBe(61);
    expect(report.registries.pg).toEqual({ status: 'absent' });
  });

  it('keeps each failure under the name of the field it leaves empty', async () => {
    const { rpc } = scriptedRpc({});
    const report = await runProbes(rpc);
    const fields = Object.keys(report.errors).sort();
    expect(fields).toEqual(
      [
        'connectedNodes',
        'connectionCount',
        'elixirVersion',
        'ertsVersion',
        'hiddenNodes',
        'links',
        'memory',
        'netTicktimeSeconds',
        'otpRelease',
        'processCount',
        'processLimit',
        'runQueue',
        'schedulers',
        'schedulersOnline',
        'uptimeMs',
      ].sort(),
    );
    for (const field of fields) expect(report[field as keyof typeof report.errors]).toBeNull();
  });

  it('asks nothing for a field it is told to skip or reuse, nor registries known absent or not wanted', async () => {
    const { rpc, calls } = healthyNode();
    const report = await runProbes(rpc, {
      skip: new Set(['connectedNodes', 'hiddenNodes', 'processLimit']),
      reuse: { otpRelease: '27', elixirVersion: null, netTicktimeSeconds: 30 },
      knownAbsent: new Set(['syn', 'swarm']),
    });
    const asked = calls.map(({ module, fn, args }) => `${module}:${fn}(${args.join(',')})`);
    expect(asked).not.toContain('erlang:nodes(visible)');
    expect(asked).not.toContain('erlang:nodes(hidden)');
    expect(asked).not.toContain('erlang:system_info(process_limit)');
    expect(asked).not.toContain('erlang:system_info(otp_release)');
    expect(asked.some((call) => call.startsWith('application:loaded_applications'))).toBe(false);
    expect(asked.some((call) => call.startsWith('net_kernel:get_net_ticktime'))).toBe(false);
    expect(asked.some((call) => call.startsWith('syn:') || call.includes('syn_table'))).toBe(false);
    expect(report).toMatchObject({
      connectedNodes: null,
      hiddenNodes: null,
      processLimit: null,
      otpRelease: '27',
      elixirVersion: null,
      netTicktimeSeconds: 30,
      processCount: 61,
    });
    expect(report.registries.syn).toEqual({ status: 'absent' });
    expect(report.registries.swarm).toEqual({ status: 'absent' });
    expect(report.errors).toEqual({});

    const before = calls.length;
    const without = await runProbes(rpc, { registries: false, links: false });
    expect(without.registries).toBe(REGISTRIES_NOT_READ);
    // Only the connection count reads a table: no registry's.
    const tablesRead = calls
      .slice(before)
      .filter(({ module }) => module === 'ets')
      .map(({ args }) => (args[0] as Atom).name);
    expect(tablesRead).toEqual(['sys_dist']);
  });

  it('marks a reply of an unexpected shape as that field’s error', async () => {
    const { rpc } = healthyNode({ 'net_kernel:get_net_ticktime': () => bin('sixty') });
    const report = await runProbes(rpc);
    expect(report.netTicktimeSeconds).toBeNull();
    expect(report.errors.netTicktimeSeconds?.code).toBe('probe_unexpected_reply');
  });

  it('passes the per-call timeout to every call', async () => {
    const timeouts = new Set<number | undefined>();
    const { rpc } = healthyNode();
    await runProbes(
      (module, fn, args, options) => {
        timeouts.add(options?.timeoutMs);
        return rpc(module, fn, args, options);
      },
      { timeoutMs: 1234 },
    );
    expect([...timeouts]).toEqual([1234]);
  });

  it('counts Swarm names seen and hosted, and Elixir registries only where Elixir runs', async () => {
    const { rpc, calls } = healthyNode({
      'application:loaded_applications': () => [
        tuple(atom('elixir'), new Charlist('elixir'), new Charlist('1.14.0')),
      ],
      'ets:info': ([table]) => (isAtomNamed(table, 'swarm_registry') ? 300 : atom('undefined')),
      'ets:select_count': ([table, spec]) => {
        expect(isAtomNamed(table, 'swarm_registry')).toBe(true);
        expect(spec).toEqual(SWARM_HOSTED_MATCH_SPEC);
        return 123;
      },
      'erlang:binary_to_existing_atom': ([name]) => {
        const text = Buffer.from(name as Uint8Array).toString('utf8');
        if (text === 'Elixir.MyApp.Registry') return atom(text);
        throw erlangError('badrpc', 'badarg');
      },
      'Elixir.Registry:count': () => 9,
    });
    const report = await runProbes(rpc, {
      elixirRegistries: ['MyApp.Registry', 'Missing.Registry'],
    });
    expect(report.elixirVersion).toBe('1.14.0');
    expect(report.registries.swarm).toEqual({ status: 'present', names: 300, hostedHere: 123 });
    expect(report.registries.elixirRegistries).toEqual([
      { name: 'MyApp.Registry', status: 'present', keys: 9 },
      { name: 'Missing.Registry', status: 'absent' },
    ]);
    // The missing registry's name never reached the node as an atom.
    const sentAtoms = calls.flatMap((call) => call.args).filter((arg) => arg instanceof Atom);
    expect(sentAtoms.map((a) => (a as Atom).name)).not.toContain('Elixir.Missing.Registry');
  });

  it('counts syn scopes through existing table atoms only', async () => {
    const { rpc } = healthyNode({
      // The scopes started on the node, from syn's table of tables.
      'ets:select': ([table]) =>
        isAtomNamed(table, 'syn_table_names') ? [atom('users'), atom('devices')] : [],
      'erlang:binary_to_existing_atom': ([name]) => {
        const text = Buffer.from(name as Uint8Array).toString('utf8');
        if (text === 'syn_registry_by_name_users' || text === 'syn_pg_by_name_users')
          return atom(text);
        throw erlangError('badrpc', 'badarg');
      },
      'ets:info': ([table]) => {
        if (isAtomNamed(table, 'syn_registry_by_name_users')) return 4;
        if (isAtomNamed(table, 'syn_pg_by_name_users')) return 9;
        return atom('undefined');
      },
      'ets:select_count': ([table]) => (isAtomNamed(table, 'syn_pg_by_name_users') ? 3 : 1),
    });
    const report = await runProbes(rpc);
    expect(report.registries.syn).toEqual({
      status: 'present',
      scopes: [
        { scope: 'users', names: 4, hostedHere: 1, members: 9, localMembers: 3 },
        { scope: 'devices', names: null, hostedHere: null, members: null, localMembers: null },
      ],
      truncated: false,
    });
  });

  it('reports syn absent where it is only loaded, not started', async () => {
    const { rpc } = healthyNode({
      'ets:select': ([table]) => {
        if (isAtomNamed(table, 'syn_table_names')) throw erlangError('badrpc', 'badarg');
        return [];
      },
    });
    expect((await runProbes(rpc)).registries.syn).toEqual({ status: 'absent' });
  });
});

describe('lookupName', () => {
  const badarg = () => {
    throw erlangError('badrpc', 'badarg');
  };
  /** binary_to_existing_atom that knows exactly `names`. */
  const knownAtoms =
    (...names: string[]): Handler =>
    ([text]) => {
      const name = Buffer.from(text as Uint8Array).toString('utf8');
      return names.includes(name) ? atom(name) : badarg();
    };
  const tableOf = (args: Term[]) => (args[0] as Atom).name;

  it('keeps plain text plain: binary, charlist, integer and atom, as before', () => {
    const plain = readLookupName('12345');
    expect(plain.readAs).toBe('text');
    expect(plain.keys.map((key) => `${key.keyType} ${key.key}`)).toEqual([
      'binary <<"12345">>',
      'charlist "12345"',
      'integer 12345',
      "atom '12345'",
    ]);
    expect(readLookupName('device-00042').keys.map((key) => key.keyType)).toEqual([
      'binary',
      'charlist',
      'atom',
    ]);
    // An atom longer than the BEAM allows cannot exist: not tried.
    expect(readLookupName('x'.repeat(256)).keys.map((key) => key.keyType)).toEqual([
      'binary',
      'charlist',
    ]);
  });

  it('never sends an unknown name as an atom, and finds it in Swarm by binary', async () => {
    const owner = pid('b@127.0.0.1', 42);
    const { rpc, calls } = scriptedRpc({
      'erlang:binary_to_existing_atom': badarg,
      'global:whereis_name': () => atom('undefined'),
      'ets:lookup': ([, key]) =>
        key instanceof Uint8Array
          ? [tuple(atom('entry'), key, owner, atom('r'), new ErlMap([]), tuple(1, 0))]
          : [],
    });
    const result = await lookupName(rpc, 'user:1234');
    expect(result).toEqual({
      name: 'user:1234',
      atomExists: false,
      matches: [
        {
          registry: 'swarm',
          keyType: 'binary',
          key: '<<"user:1234">>',
          pid: { node: 'b@127.0.0.1', id: 42, serial: 0 },
        },
      ],
      copies: [{ registry: 'global' }, { registry: 'swarm' }],
      errors: [],
    });
    const atomArgs = calls
      .flatMap((call) => call.args)
      .filter((arg) => arg instanceof Atom) as Atom[];
    expect(atomArgs.map((a) => a.name)).not.toContain('user:1234');
    expect(calls.some((call) => call.fn === 'whereis')).toBe(false);
  });

  it('looks an existing atom up globally and locally, and reports failures other than "absent"', async () => {
    const owner = pid('a@127.0.0.1', 7);
    const { rpc } = scriptedRpc({
      'erlang:binary_to_existing_atom': ([name]) =>
        atom(Buffer.from(name as Uint8Array).toString()),
      'global:whereis_name': ([name]) => (name instanceof Atom ? owner : atom('undefined')),
      'erlang:whereis': () => owner,
      'ets:lookup': () => {
        throw erlangError('timeout', 'timed out');
      },
    });
    const result = await lookupName(rpc, 'fx_global_1');
    expect(result.atomExists).toBe(true);
    expect(result.matches.map((match) => `${match.registry}/${match.keyType}`)).toEqual([
      'global/atom',
      'local/atom',
    ]);
    expect(result.errors[0]).toEqual({
      registry: 'swarm',
      error: { code: 'timeout', message: 'timed out' },
    });
    // A copy that failed to answer is not counted as lacking the name.
    expect(result.copies).toEqual([{ registry: 'global' }]);
  });

  it('refuses empty, oversized and malformed names before calling anything', async () => {
    const { rpc, calls } = scriptedRpc({});
    await expect(lookupName(rpc, '')).rejects.toThrow(/1 to 1024 bytes/);
    await expect(lookupName(rpc, 'x'.repeat(1025))).rejects.toThrow(/1 to 1024 bytes/);
    await expect(lookupName(rpc, '{:device, 42')).rejects.toMatchObject({
      code: 'invalid_lookup_name',
    });
    expect(calls).toEqual([]);
  });

  it('sends non-Latin-1 names as a list of code points', async () => {
    const { rpc, calls } = scriptedRpc({
      'erlang:binary_to_existing_atom': badarg,
      'global:whereis_name': () => atom('undefined'),
      'ets:lookup': () => [],
    });
    await lookupName(rpc, '名前');
    const keys = calls.filter((call) => call.fn === 'lookup').map((call) => call.args[1]);
    expect(keys).toContainEqual([0x540d, 0x524d]);
    expect(keys.some((key) => key instanceof Tuple)).toBe(false);
  });

  it('sends a typed term only after every atom in it is found on the node', async () => {
    const { rpc, calls } = scriptedRpc({
      'erlang:binary_to_existing_atom': knownAtoms(),
      'global:whereis_name': () => atom('undefined'),
      'ets:info': ([table]) => ((table as Atom).name === 'swarm_registry' ? 10 : atom('undefined')),
      'ets:lookup': () => [],
    });
    const result = await lookupName(rpc, '{:unknown_here, [1, {:nested_atom}]}');
    expect(result).toMatchObject({ atomExists: false, matches: [], errors: [] });
    // Only the atoms' text travelled (as binaries); the term itself never did.
    const sentTuples = calls.flatMap((call) => call.args).filter((arg) => arg instanceof Tuple);
    expect(sentTuples).toEqual([]);
    expect(
      calls
        .filter((call) => call.fn === 'binary_to_existing_atom')
        .map((call) => Buffer.from(call.args[0] as Uint8Array).toString())
        .sort(),
    ).toEqual(['nested_atom', 'unknown_here']);
    // Nothing under the key can exist here, and the copies that exist lack it.
    expect(result.copies).toEqual([{ registry: 'global' }, { registry: 'swarm' }]);
  });

  it('finds a tuple key in a Horde registry and a binary in a syn scope', async () => {
    const owner = pid('c@127.0.0.1', 9);
    const { rpc, calls } = scriptedRpc({
      'erlang:binary_to_existing_atom': knownAtoms(
        'device',
        'keys_Elixir.MyApp.Devices',
        'syn_registry_by_name_devices',
      ),
      'global:whereis_name': () => atom('undefined'),
      'ets:select': ([table]) =>
        (table as Atom).name === 'syn_table_names' ? [atom('devices')] : badarg(),
      'ets:lookup': (args) => {
        const [, key] = args;
        if (tableOf(args) === 'keys_Elixir.MyApp.Devices' && key instanceof Tuple) {
          const member = tuple(atom('Elixir.MyApp.Devices'), atom('c@127.0.0.1'));
          return [tuple(key, member, tuple(owner, atom('nil')))];
        }
        if (tableOf(args) === 'syn_registry_by_name_devices' && key instanceof Uint8Array) {
          return [tuple(key, owner, atom('undefined'), 0, atom('undefined'), atom('c@1'))];
        }
        if (tableOf(args) !== 'keys_Elixir.MyApp.NotStarted') return [];
        return badarg();
      },
    });
    const options = { hordeRegistries: ['MyApp.Devices', 'MyApp.NotStarted'] };
    const inHorde = await lookupName(rpc, '{:device, 42}', options);
    expect(inHorde.matches).toEqual([
      {
        registry: 'horde',
        registryName: 'MyApp.Devices',
        keyType: 'tuple',
        key: '{device,42}',
        pid: { node: 'c@127.0.0.1', id: 9, serial: 0 },
      },
    ]);
    expect(inHorde.copies).toEqual([
      { registry: 'global' },
      { registry: 'swarm' },
      { registry: 'horde', registryName: 'MyApp.Devices' },
      { registry: 'syn', registryName: 'devices' },
    ]);
    // The unknown registry's table was asked for as text, never as an atom.
    expect(
      calls.some(
        (call) => call.fn === 'lookup' && tableOf(call.args) === 'keys_Elixir.MyApp.NotStarted',
      ),
    ).toBe(false);

    const inSyn = await lookupName(rpc, '"sensor-7"', options);
    expect(inSyn.matches).toEqual([
      {
        registry: 'syn',
        registryName: 'devices',
        keyType: 'binary',
        key: '<<"sensor-7">>',
        pid: { node: 'c@127.0.0.1', id: 9, serial: 0 },
      },
    ]);
    // "…" reads as an Elixir binary and an Erlang charlist: both keys were asked.
    const synKeys = calls
      .filter(
        (call) => call.fn === 'lookup' && tableOf(call.args) === 'syn_registry_by_name_devices',
      )
      .map((call) => call.args[1]);
    expect(synKeys).toContainEqual(new Charlist('sensor-7'));
  });

  it('searches configured syn scopes beside the started ones, each once', async () => {
    const { rpc, calls } = scriptedRpc({
      'erlang:binary_to_existing_atom': knownAtoms('syn_registry_by_name_users'),
      'global:whereis_name': () => atom('undefined'),
      'ets:select': () => [atom('users')],
      'ets:lookup': () => [],
    });
    const result = await lookupName(rpc, 'alice', { synScopes: ['users', 'absent'] });
    expect(result.copies).toContainEqual({ registry: 'syn', registryName: 'users' });
    const checked = calls
      .filter((call) => call.fn === 'binary_to_existing_atom')
      .map((call) => Buffer.from(call.args[0] as Uint8Array).toString());
    expect(checked.filter((name) => name.startsWith('syn_')).sort()).toEqual([
      'syn_registry_by_name_absent',
      'syn_registry_by_name_users',
    ]);
  });
});
