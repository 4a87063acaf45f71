import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connectNode, type NodeConnection } from '@/server/erlang';
import { atom } from '@/server/erlang/codec';
import { BadRpcError } from '@/server/erlang/errors';
import {
  callProbe,
  hostedRowsProbe,
  lookupName,
  runProbes,
  uptimeProbe,
  type NodeProbeReport,
  type RpcFunction,
} from '@/server/erlang/probes';

import { batchCalls } from '@/server/erlang/probes/batch';

import { startBeamNode, type BeamNode } from '../../support/beam';

/** Polls `check` (an async condition) until it holds, for at most `timeoutMs`. */
async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const integer = async (node: BeamNode, expression: string) => Number(await node.eval(expression));

const REGISTRY = 'Beamscope.FixtureRegistry';
const SWARM_NAMES =
  '[<<"user-", (integer_to_binary(I))/binary>> || I <- lists:seq(1, 31)] ++ ["charlist-name", 12345]';

/**
 * Two connected nodes, one Erlang (`a`) and one Elixir (`b`), with known registries:
 * 7 + 5 `:global` names, 4 `pg` groups of 3 members on a plus 2 on b in the first group, an
 * Elixir Registry with 9 keys on b, and 33 Swarm names spread over both, replicated on both.
 */
describe('probes against real nodes', () => {
  const cookie = `probe-${randomBytes(6).toString('hex')}`;
  const localName = `probe_test_${process.pid}@127.0.0.1`;
  let a: BeamNode;
  let b: BeamNode;
  const connections: NodeConnection[] = [];
  const reports = new Map<string, NodeProbeReport>();
  const rpcFor = (connection: NodeConnection): RpcFunction => connection.rpc.bind(connection);

  beforeAll(async () => {
    a = await startBeamNode({ name: `pa_${process.pid}@127.0.0.1`, cookie });
    b = await startBeamNode({
      name: `pb_${process.pid}@127.0.0.1`,
      cookie,
      elixir: true,
      connectTo: [a.name],
    });
    await a.eval('beamscope_fixture:swarm_table()');
    await b.eval('beamscope_fixture:swarm_table()');
    await a.eval(`beamscope_fixture:swarm_register(${SWARM_NAMES}, ['${a.name}', '${b.name}'])`);
    await a.eval('beamscope_fixture:global_names("fx_a", 7)');
    await b.eval('beamscope_fixture:global_names("fx_b", 5)');
    await a.eval('beamscope_fixture:pg_groups("grp", 4, 3)');
    await b.eval('beamscope_fixture:pg_join(grp_1, 2)');
    await b.eval(`beamscope_fixture:elixir_registry('Elixir.${REGISTRY}', 9)`);
    // :global (right after a connection) and pg scopes sync asynchronously: wait until both
    // nodes agree before probing.
    const globalNames = 'length(global:registered_names())';
    await waitFor(
      async () => (await integer(a, globalNames)) === 12 && (await integer(b, globalNames)) === 12,
    );
    const pgMembers = 'lists:sum([length(pg:get_members(G)) || G <- pg:which_groups()])';
    await waitFor(
      async () => (await integer(a, pgMembers)) === 14 && (await integer(b, pgMembers)) === 14,
    );

    for (const node of [a, b]) {
      const connection = await connectNode(node.name, { localName, cookie });
      connections.push(connection);
      reports.set(node.name, await runProbes(rpcFor(connection), { elixirRegistries: [REGISTRY] }));
    }
  });

  afterAll(async () => {
    for (const connection of connections) connection.close();
    await Promise.all([a, b].filter(Boolean).map((node) => node.stop()));
  });

  it('reports the node catalogue as the nodes themselves do', async () => {
    for (const node of [a, b]) {
      const report = reports.get(node.name)!;
      expect(report.errors).toEqual({});
      expect(report.otpRelease).toBe(
        JSON.parse(await node.eval('erlang:system_info(otp_release)')),
      );
      expect(report.ertsVersion).toBe(JSON.parse(await node.eval('erlang:system_info(version)')));
      expect(report.processCount).toBeGreaterThan(0);
      expect(report.processLimit).toBe(await integer(node, 'erlang:system_info(process_limit)'));
      expect(report.schedulers).toBe(1);
      expect(report.netTicktimeSeconds).toBe(await integer(node, 'net_kernel:get_net_ticktime()'));
      expect(report.memory!.total).toBeGreaterThan(report.memory!.processes);
      expect(report.uptimeMs).toBeGreaterThan(0);
      expect(report.hiddenNodes!.nodes).toContain(localName);
    }
    expect(reports.get(a.name)!.connectedNodes!.nodes).toEqual([b.name]);
    expect(reports.get(b.name)!.connectedNodes!.nodes).toEqual([a.name]);
    expect(reports.get(a.name)!.elixirVersion).toBeNull();
    expect(`<<"${reports.get(b.name)!.elixirVersion}">>`).toBe(
      await b.eval("'Elixir.System':version()"),
    );
  });

  it('counts :global names as the nodes report them', async () => {
    for (const node of [a, b]) {
      const names = await integer(node, 'length(global:registered_names())');
      expect(names).toBe(12);
      expect(reports.get(node.name)!.registries.global).toEqual({
        status: 'present',
        names,
        hostedHere: await integer(
          node,
          'length([N || N <- global:registered_names(), node(global:whereis_name(N)) =:= node()])',
        ),
      });
    }
  });

  it('counts pg groups and members as the nodes report them', async () => {
    for (const node of [a, b]) {
      expect(reports.get(node.name)!.registries.pg).toMatchObject({
        status: 'present',
        groups: await integer(node, 'length(pg:which_groups())'),
        members: await integer(
          node,
          'lists:sum([length(pg:get_members(G)) || G <- pg:which_groups()])',
        ),
        truncated: false,
      });
    }
    const onB = reports.get(b.name)!.registries.pg;
    expect(onB.status === 'present' && onB.sample.find((group) => group.group === 'grp_1')).toEqual(
      {
        group: 'grp_1',
        members: 5,
        localMembers: 2,
      },
    );
  });

  it('counts Swarm names seen (replicated) and hosted (by pid node) as the nodes report them', async () => {
    let hostedTotal = 0;
    for (const node of [a, b]) {
      const hosted = await integer(
        node,
        'length([P || {entry, _, P, _, _, _} <- ets:tab2list(swarm_registry), node(P) =:= node()])',
      );
      hostedTotal += hosted;
      expect(reports.get(node.name)!.registries.swarm).toEqual({
        status: 'present',
        names: await integer(node, 'ets:info(swarm_registry, size)'),
        hostedHere: hosted,
      });
    }
    expect(hostedTotal).toBe(33);
  });

  it('counts Elixir Registry keys on the Elixir node, absent on the Erlang node', async () => {
    expect(reports.get(b.name)!.registries.elixirRegistries).toEqual([
      {
        name: REGISTRY,
        status: 'present',
        keys: await integer(b, `'Elixir.Registry':count('Elixir.${REGISTRY}')`),
      },
    ]);
    expect(reports.get(a.name)!.registries.elixirRegistries).toEqual([
      { name: REGISTRY, status: 'absent' },
    ]);
    expect(reports.get(a.name)!.registries.syn).toEqual({ status: 'absent' });
  });

  it('reads the same report with its calls batched as with each call alone', async () => {
    for (const [index, node] of [a, b].entries()) {
      const calls: string[] = [];
      const rpc: RpcFunction = (module, fn, args, options) => {
        calls.push(`${module}:${fn}`);
        return connections[index]!.rpc(module, fn, args, options);
      };
      const alone = await runProbes(rpc, { elixirRegistries: [REGISTRY], batch: false });
      const callsAlone = calls.splice(0);
      // The reports above were batched (the default).
      const batched = reports.get(node.name)!;
      expect(alone.errors).toEqual({});
      for (const field of ['otpRelease', 'ertsVersion', 'elixirVersion', 'processLimit'] as const)
        expect(batched[field]).toEqual(alone[field]);
      expect(batched.connectionCount).toBe(alone.connectionCount);
      expect(batched.registries).toEqual(alone.registries);
      expect(callsAlone).not.toContain('lists:zipwith3');
      expect(callsAlone.filter((call) => call === 'erlang:system_info').length).toBeGreaterThan(3);

      await runProbes(rpc, { elixirRegistries: [REGISTRY] });
      // The node's fields and table sizes in one call, the hosted counts and pg's groups in
      // another; what stays alone raises as an answer (atoms, syn), lists peers or reads links.
      expect(calls.filter((call) => call === 'lists:zipwith3').length).toBeGreaterThanOrEqual(2);
      for (const call of ['erlang:statistics', 'erlang:memory', 'ets:info', 'ets:select_count'])
        expect(calls).not.toContain(call);
      expect(calls.length).toBeLessThan(callsAlone.length / 2);
    }
  });

  it('asks each call of a batch alone when one raises, so each keeps its own answer', async () => {
    const calls: string[] = [];
    const rpc: RpcFunction = (module, fn, args, options) => {
      calls.push(`${module}:${fn}`);
      return connections[0]!.rpc(module, fn, args, options);
    };
    const batched = batchCalls(rpc);
    const [uptime, missing] = await Promise.allSettled([
      callProbe(batched, uptimeProbe, 5000),
      // An atom the node has (no atom is made there) that names no table: badarg.
      callProbe(batched, hostedRowsProbe(atom('init'), [2]), 5000),
    ]);
    expect(uptime).toMatchObject({ status: 'fulfilled', value: expect.any(Number) });
    expect(missing).toMatchObject({ status: 'rejected', reason: expect.any(BadRpcError) });
    expect(calls).toEqual(['lists:zipwith3', 'erlang:statistics', 'ets:select_count']);
  });

  it('looks names up in :global, Swarm and an Elixir Registry', async () => {
    const rpc = rpcFor(connections[1]!);
    const options = { elixirRegistries: [REGISTRY] };
    const globalName = await lookupName(rpc, 'fx_a_3', options);
    expect(globalName.matches).toEqual([
      {
        registry: 'global',
        keyType: 'atom',
        key: 'fx_a_3',
        pid: expect.objectContaining({ node: a.name }),
      },
    ]);
    const viaSwarm = await lookupName(rpc, 'user-5', options);
    expect(viaSwarm.matches.map((match) => `${match.registry}/${match.keyType}`)).toEqual([
      'swarm/binary',
    ]);
    expect((await lookupName(rpc, 'charlist-name', options)).matches[0]?.keyType).toBe('charlist');
    expect((await lookupName(rpc, '12345', options)).matches[0]?.keyType).toBe('integer');
    const inRegistry = await lookupName(rpc, 'key-4', options);
    expect(inRegistry.matches).toEqual([
      {
        registry: 'elixir_registry',
        registryName: REGISTRY,
        keyType: 'binary',
        key: '<<"key-4">>',
        pid: expect.objectContaining({ node: b.name }),
      },
    ]);
    expect((await lookupName(rpc, 'net_kernel', options)).matches).toEqual([
      {
        registry: 'local',
        keyType: 'atom',
        key: 'net_kernel',
        pid: expect.objectContaining({ node: b.name }),
      },
    ]);
  });

  it('creates no atom on the node when looking up an unknown name', async () => {
    const unknown = `beamscope_never_${randomBytes(6).toString('hex')}`;
    const atomCount = 'erlang:system_info(atom_count)';
    const before = await integer(a, atomCount);
    const result = await lookupName(rpcFor(connections[0]!), unknown);
    expect(result).toMatchObject({ atomExists: false, matches: [], errors: [] });
    await expect(a.eval(`erlang:binary_to_existing_atom(<<"${unknown}">>, utf8)`)).rejects.toThrow(
      /badarg/,
    );
    // Other activity may add a few atoms, but none of them is this name (checked above).
    expect(await integer(a, atomCount)).toBeGreaterThanOrEqual(before);
  });
});
