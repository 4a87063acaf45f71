/**
 * Keeps the simulated node (test/support/sim-node) honest: the same probe assertions run against
 * two real epmd-less BEAM nodes and two simulated ones set up with the same registries, then the
 * reports are compared field by field (same keys, same types, same detection states), and the
 * failures beamscope must tell apart — a wrong cookie, an undefined function, an atom the node
 * does not have — must surface as the same error, with the same reason term, from both.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { connectNode, type NodeConnection } from '@/server/erlang';
import { atom, formatTerm } from '@/server/erlang/codec';
import { BadRpcError } from '@/server/erlang/errors';
import { FlapDetector } from '@/server/collector/link-flaps';
import { Tuple, type Term } from '@/server/erlang/codec/terms';
import {
  batchProbe,
  connectionCountProbe,
  elixirVersionProbe,
  globalHostedProbe,
  globalNamesProbe,
  hostedRowsProbe,
  lookupName,
  memoryProbe,
  netTicktimeProbe,
  otpReleaseProbe,
  pgGroupCountProbe,
  probeLinks,
  processCountProbe,
  processLimitProbe,
  runProbes,
  runQueueProbe,
  scanCode,
  schedulersProbe,
  swarmHostedProbe,
  swarmRegistrySizeProbe,
  tableSizeProbe,
  uptimeProbe,
  type NodeProbeReport,
  type ProbeCall,
  type RpcFunction,
} from '@/server/erlang/probes';

import { startBeamNode, type BeamNode } from '../../support/beam';
import { freePort } from '../../support/ports';
import { defaultModel, startSimulatedCluster, type SimulatedCluster } from '../../support/sim-node';

const COOKIE = `parity-${randomBytes(6).toString('hex')}`;
const LOCAL = `parity_test_${process.pid}@127.0.0.1`;
// Second octets of our own: the other test files use 127.0.x.y.
const REAL_IPS = [`127.3.${process.pid % 250}.1`, `127.3.${process.pid % 250}.2`];
const SIM_IPS = [`127.4.${process.pid % 250}.1`, `127.4.${process.pid % 250}.2`];
const GLOBAL_NAMES = 6;
const PG_GROUPS = 4;
const PG_MEMBERS = 3;
const SWARM_NAMES = 20;

/** What a target's node really holds, asked the node's own way (eval) or read from the model. */
interface Truth {
  otpRelease: string;
  processLimit: number;
  schedulers: number;
  netTicktime: number;
  globalNames: number;
  globalHosted: number;
  pgGroups: number;
  pgMembers: number;
  swarmNames: number;
  swarmHosted: number;
}

interface Target {
  kind: 'real' | 'simulated';
  nodes: string[];
  port: number;
  truth(index: number): Promise<Truth>;
  /** Drops the connection between the first two nodes and makes it again. */
  reconnect(): Promise<void>;
  stop(): Promise<void>;
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function startReal(): Promise<Target> {
  const port = await freePort();
  const nodes: BeamNode[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    nodes.push(
      await startBeamNode({
        name: `parity@${REAL_IPS[0]}`,
        cookie: COOKIE,
        mode: 'epmdless',
        port,
      }),
    );
    nodes.push(
      await startBeamNode({
        name: `parity@${REAL_IPS[1]}`,
        cookie: COOKIE,
        mode: 'epmdless',
        port,
        connectTo: [nodes[0]!.name],
      }),
    );
    const [a, b] = nodes as [BeamNode, BeamNode];
    await a.eval('beamscope_fixture:swarm_table()');
    await b.eval('beamscope_fixture:swarm_table()');
    await a.eval(
      `beamscope_fixture:swarm_register([<<"n-", (integer_to_binary(I))/binary>> || I <- lists:seq(1, ${SWARM_NAMES})], ['${a.name}', '${b.name}'])`,
    );
    await a.eval(`beamscope_fixture:global_names("pt", ${GLOBAL_NAMES})`);
    await a.eval(`beamscope_fixture:pg_groups("grp", ${PG_GROUPS}, ${PG_MEMBERS})`);
    await b.eval('beamscope_fixture:pg_join(grp_1, 1)');
    const count = async (node: BeamNode, expression: string) => Number(await node.eval(expression));
    const pgMembers = 'lists:sum([length(pg:get_members(G)) || G <- pg:which_groups()])';
    await waitFor(async () => {
      for (const node of nodes) {
        if ((await count(node, 'length(global:registered_names())')) !== GLOBAL_NAMES) return false;
        if ((await count(node, pgMembers)) !== PG_GROUPS * PG_MEMBERS + 1) return false;
      }
      return true;
    });
    return {
      kind: 'real',
      nodes: nodes.map((node) => node.name),
      port,
      async truth(index) {
        const node = nodes[index]!;
        return {
          otpRelease: JSON.parse(await node.eval('erlang:system_info(otp_release)')) as string,
          processLimit: await count(node, 'erlang:system_info(process_limit)'),
          schedulers: await count(node, 'erlang:system_info(schedulers)'),
          netTicktime: await count(node, 'net_kernel:get_net_ticktime()'),
          globalNames: await count(node, 'length(global:registered_names())'),
          globalHosted: await count(
            node,
            'length([N || N <- global:registered_names(), node(global:whereis_name(N)) =:= node()])',
          ),
          pgGroups: await count(node, 'length(pg:which_groups())'),
          pgMembers: await count(node, pgMembers),
          swarmNames: await count(node, 'ets:info(swarm_registry, size)'),
          swarmHosted: await count(
            node,
            'length([P || {entry, _, P, _, _, _} <- ets:tab2list(swarm_registry), node(P) =:= node()])',
          ),
        };
      },
      async reconnect() {
        const [a, b] = nodes as [BeamNode, BeamNode];
        await a.eval(`erlang:disconnect_node('${b.name}'), net_kernel:connect_node('${b.name}')`);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function startSimulated(): Promise<Target> {
  const port = await freePort();
  const models = SIM_IPS.map((_, index) => {
    const model = defaultModel(index);
    model.schedulers = 1;
    model.registries = {
      ...model.registries,
      global: GLOBAL_NAMES,
      // As on the real nodes: the first registered every :global name.
      globalHosted: index === 0 ? GLOBAL_NAMES : 0,
      pg: Array.from({ length: PG_GROUPS }, (_, group) => ({
        group: atom(`grp_${group + 1}`),
        members: PG_MEMBERS + (group === 0 ? 1 : 0),
        localMembers: index === 0 ? PG_MEMBERS : group === 0 ? 1 : 0,
      })),
      swarm: { names: SWARM_NAMES, hosted: SWARM_NAMES / 2 },
    };
    return model;
  });
  const cluster: SimulatedCluster = await startSimulatedCluster({
    addresses: SIM_IPS,
    port,
    cookie: COOKIE,
    basename: 'parity',
    model: (_, index) => models[index]!,
  });
  return {
    kind: 'simulated',
    nodes: cluster.nodes,
    port,
    truth(index) {
      const model = models[index]!;
      const groups = model.registries.pg ?? [];
      return Promise.resolve({
        otpRelease: model.otpRelease,
        processLimit: model.processLimit,
        schedulers: model.schedulers,
        netTicktime: model.netTicktimeSeconds,
        globalNames: model.registries.global,
        globalHosted: model.registries.globalHosted,
        pgGroups: groups.length,
        pgMembers: groups.reduce((sum, group) => sum + group.members, 0),
        swarmNames: model.registries.swarm?.names ?? 0,
        swarmHosted: model.registries.swarm?.hosted ?? 0,
      });
    },
    reconnect() {
      // Apart and back before anyone looks: the link is a new connection, as on a real node.
      cluster.setPartitions([[SIM_IPS[0]!], [SIM_IPS[1]!]]);
      cluster.setPartitions([SIM_IPS]);
      return Promise.resolve();
    },
    stop: () => cluster.stop(),
  };
}

/** The type skeleton of a report: keys and value types, with arrays reduced to their elements'. */
function shapeOf(value: unknown): unknown {
  if (value === null) return 'null';
  if (Array.isArray(value)) return [...new Set(value.map((item) => JSON.stringify(shapeOf(item))))];
  if (typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, item]) => [key, shapeOf(item)]),
    );
  }
  return typeof value;
}

const targets = new Map<Target['kind'], Target>();
const connections = new Map<string, NodeConnection>();
const reports = new Map<string, NodeProbeReport>();
const rpcOf = (node: string): RpcFunction => {
  const connection = connections.get(node)!;
  return connection.rpc.bind(connection);
};

beforeAll(async () => {
  const [real, simulated] = await Promise.all([startReal(), startSimulated()]);
  targets.set('real', real).set('simulated', simulated);
  for (const target of [real, simulated]) {
    for (const node of target.nodes) {
      const connection = await connectNode(node, {
        localName: LOCAL,
        cookie: COOKIE,
        port: target.port,
      });
      connections.set(node, connection);
      reports.set(node, await runProbes(connection.rpc.bind(connection)));
    }
  }
}, 120_000);

afterAll(async () => {
  for (const connection of connections.values()) connection.close();
  await Promise.all([...targets.values()].map((target) => target.stop()));
});

describe.each(['real', 'simulated'] as const)('the probe suite against %s nodes', (kind) => {
  const target = () => targets.get(kind)!;

  it('reports the node catalogue as the nodes themselves do', async () => {
    const { nodes } = target();
    for (const [index, node] of nodes.entries()) {
      const report = reports.get(node)!;
      const truth = await target().truth(index);
      expect(report.errors).toEqual({});
      expect(report.otpRelease).toBe(truth.otpRelease);
      expect(report.ertsVersion).toMatch(/^\d+\.\d+/);
      expect(report.elixirVersion).toBeNull();
      expect(report.processCount).toBeGreaterThan(0);
      expect(report.processLimit).toBe(truth.processLimit);
      expect(report.schedulers).toBe(truth.schedulers);
      expect(report.schedulersOnline).toBe(truth.schedulers);
      expect(report.netTicktimeSeconds).toBe(truth.netTicktime);
      expect(report.runQueue).toBeGreaterThanOrEqual(0);
      expect(report.memory!.total).toBeGreaterThan(report.memory!.processes);
      expect(report.uptimeMs).toBeGreaterThan(0);
      expect(report.hiddenNodes!.nodes).toEqual([LOCAL]);
      expect(report.connectedNodes).toEqual({
        nodes: nodes.filter((other) => other !== node),
        count: 1,
        truncated: false,
      });
      // `sys_dist` holds a row per connection: the peer and beamscope itself.
      expect(report.connectionCount).toBe(2);
    }
  });

  it('answers a code scan alike: applications, loaded modules of theirs, 16-byte md5s', async () => {
    const node = target().nodes[0]!;
    const result = await scanCode(rpcOf(node), { chunkSize: 25 });
    expect(result.error).toBeNull();
    expect(result.skipped).toBe(0);
    expect(result.applications.map((app) => app.name)).toEqual(
      expect.arrayContaining(['kernel', 'stdlib']),
    );
    expect(result.modules.length).toBeGreaterThan(25);
    expect(result.modules).toEqual([...result.modules].sort());
    expect(result.md5s.every((md5) => /^[0-9a-f]{32}$/.test(md5))).toBe(true);
    expect(reports.get(node)!.memory!.code).toBeGreaterThan(0);
  });

  it('counts :global, pg and Swarm as the nodes hold them; no syn, no Elixir', async () => {
    for (const [index, node] of target().nodes.entries()) {
      const { registries } = reports.get(node)!;
      const truth = await target().truth(index);
      expect(registries.global).toEqual({
        status: 'present',
        names: truth.globalNames,
        hostedHere: truth.globalHosted,
      });
      expect(registries.pg).toMatchObject({
        status: 'present',
        groups: truth.pgGroups,
        members: truth.pgMembers,
        truncated: false,
      });
      expect(registries.swarm).toEqual({
        status: 'present',
        names: truth.swarmNames,
        hostedHere: truth.swarmHosted,
      });
      expect(registries.syn).toEqual({ status: 'absent' });
      expect(registries.horde).toEqual([]);
    }
    const onFirst = reports.get(target().nodes[0]!)!.registries.pg;
    expect(
      onFirst.status === 'present' && onFirst.sample.find((group) => group.group === 'grp_1'),
    ).toEqual({
      group: 'grp_1',
      members: PG_MEMBERS + 1,
      localMembers: PG_MEMBERS,
    });
  });

  it('detects an Elixir Registry as absent on an Erlang node, and a Horde table that is not there', async () => {
    const report = await runProbes(rpcOf(target().nodes[0]!), {
      elixirRegistries: ['MyApp.Registry'],
      hordeRegistries: ['MyApp.Horde'],
    });
    expect(report.registries.elixirRegistries).toEqual([
      { name: 'MyApp.Registry', status: 'absent' },
    ]);
    expect(report.registries.horde).toEqual([{ name: 'MyApp.Horde', status: 'absent' }]);
  });

  it('finds a locally registered name, and creates nothing for an unknown one', async () => {
    const node = target().nodes[1]!;
    const found = await lookupName(rpcOf(node), 'net_kernel');
    expect(found.matches).toEqual([
      {
        registry: 'local',
        keyType: 'atom',
        key: 'net_kernel',
        pid: expect.objectContaining({ node }),
      },
    ]);
    const unknown = await lookupName(
      rpcOf(node),
      `beamscope_never_${randomBytes(4).toString('hex')}`,
    );
    expect(unknown).toMatchObject({ atomExists: false, matches: [], errors: [] });
  });
});

describe('the simulated node answers like the real one', () => {
  const both = () => [targets.get('real')!, targets.get('simulated')!] as const;

  it('gives probe reports of the same shape: keys, types, detection states', () => {
    const [real, simulated] = both();
    const shape = (node: string) => {
      const { durationMs: _ignored, ...rest } = reports.get(node)!;
      return shapeOf(rest);
    };
    expect(shape(simulated.nodes[0]!)).toEqual(shape(real.nodes[0]!));
    expect(shape(simulated.nodes[1]!)).toEqual(shape(real.nodes[1]!));
  });

  it('fails an undefined function and an unknown atom with the same badrpc reason', async () => {
    const reasons = async (node: string) => {
      const rpc = rpcOf(node);
      const out: string[] = [];
      for (const [module, fn, args] of [
        ['beamscope_no_such_module', 'f', [1, atom('x')]],
        ['erlang', 'no_such_function', []],
        [
          'erlang',
          'binary_to_existing_atom',
          [Buffer.from('beamscope_no_such_atom_zz'), atom('utf8')],
        ],
        ['erlang', 'system_info', [atom('beamscope_no_such_item')]],
      ] as const) {
        const error = await rpc(module, fn, [...args]).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error).toBeInstanceOf(BadRpcError);
        out.push(formatTerm((error as BadRpcError).reason));
      }
      return out;
    };
    const [real, simulated] = both();
    const fromReal = await reasons(real.nodes[0]!);
    expect(fromReal[0]).toBe("{'EXIT',{undef,[{beamscope_no_such_module,f,[1,x],[]}]}}");
    expect(await reasons(simulated.nodes[0]!)).toEqual(fromReal);
  });

  it('answers a batch of catalogue calls as each alone, and raises out of it the same way', async () => {
    // Entries whose answer does not drift between two calls: a batch's reply is theirs, in order.
    const steady: Array<ProbeCall<unknown>> = [
      otpReleaseProbe,
      processLimitProbe,
      schedulersProbe,
      connectionCountProbe,
      globalNamesProbe,
      swarmRegistrySizeProbe,
      // An atom the node has that names no table: `undefined`, not an error.
      tableSizeProbe(atom('init')),
      swarmHostedProbe,
      globalHostedProbe,
      pgGroupCountProbe,
      netTicktimeProbe,
      elixirVersionProbe,
    ];
    // And entries that drift: compared by the kind of term only.
    const drifting: Array<ProbeCall<unknown>> = [
      uptimeProbe,
      processCountProbe,
      memoryProbe,
      runQueueProbe,
    ];
    const kind = (term: Term): unknown =>
      Array.isArray(term)
        ? term.map(kind)
        : term instanceof Tuple
          ? term.elements.map(kind)
          : typeof term;
    const answers = async (node: string) => {
      const rpc = rpcOf(node);
      const batch = batchProbe([...steady, ...drifting]);
      const reply = batch.parse(await rpc(batch.module, batch.fn, [...batch.args]));
      const alone = await Promise.all(
        steady.map((probe) => rpc(probe.module, probe.fn, [...probe.args])),
      );
      expect(reply.slice(0, steady.length).map((term) => formatTerm(term))).toEqual(
        alone.map((term) => formatTerm(term)),
      );
      // Each entry's parser reads its part of the batch.
      [...steady, ...drifting].forEach((probe, index) => probe.parse(reply[index]!));
      // The failing element first and third: its stack differs by position.
      const raise = async (calls: Array<ProbeCall<unknown>>) => {
        const failing = batchProbe(calls);
        const error = await rpc(failing.module, failing.fn, [...failing.args]).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error).toBeInstanceOf(BadRpcError);
        return formatTerm((error as BadRpcError).reason);
      };
      const missing = hostedRowsProbe(atom('init'), [2]);
      const raised = [
        await raise([missing, runQueueProbe]),
        await raise([runQueueProbe, uptimeProbe, missing]),
      ];
      return {
        steady: reply.slice(0, steady.length).map((term) => formatTerm(term)),
        drifting: reply.slice(steady.length).map(kind),
        raised,
      };
    };
    const [real, simulated] = both();
    const fromReal = await answers(real.nodes[0]!);
    for (const reason of fromReal.raised)
      expect(reason).toMatch(/^\{'EXIT',\{badarg,\[\{ets,select_count,\[init,/);
    const fromSimulated = await answers(simulated.nodes[0]!);
    expect(fromSimulated.drifting).toEqual(fromReal.drifting);
    expect(fromSimulated.raised).toEqual(fromReal.raised);
    // The fixtures hold the same registries: the steady answers are the same terms.
    expect(fromSimulated.steady).toEqual(fromReal.steady);
  });

  it('refuses a wrong cookie the same way: auth_failed after the challenge reply', async () => {
    const refusal = async (target: Target) => {
      const error = await connectNode(target.nodes[0]!, {
        localName: `parity_bad_${process.pid}@127.0.0.1`,
        cookie: `${COOKIE}-wrong`,
        port: target.port,
      }).then(
        (connection) => {
          connection.close();
          return undefined;
        },
        (caught: unknown) => caught as { code: string; message: string },
      );
      return { code: error?.code, message: error?.message.replace(target.nodes[0]!, 'NODE') };
    };
    const [real, simulated] = both();
    const fromReal = await refusal(real);
    expect(fromReal.code).toBe('auth_failed');
    expect(await refusal(simulated)).toEqual(fromReal);
  });
});

describe('simulated nodes on their own', () => {
  it('see each other per partition, and tick', async () => {
    const port = await freePort();
    const addresses = [1, 2, 3].map((last) => `127.5.${process.pid % 250}.${last}`);
    const cluster = await startSimulatedCluster({
      addresses,
      port,
      cookie: COOKIE,
      basename: 'solo',
      partitions: [[addresses[0]!, addresses[1]!], [addresses[2]!]],
      tickIntervalMs: 100,
    });
    try {
      const ticking = await connectNode(cluster.nodes[0]!, {
        localName: LOCAL,
        cookie: COOKIE,
        port,
        tickIntervalMs: 100,
      });
      const visible = async () =>
        (await runProbes(ticking.rpc.bind(ticking))).connectedNodes?.nodes;
      expect(await visible()).toEqual([cluster.nodes[1]]);
      cluster.setPartitions([addresses]);
      expect(await visible()).toEqual([cluster.nodes[1], cluster.nodes[2]]);

      // Idle for many tick intervals: both sides tick, the connection stays up.
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect(ticking.connected).toBe(true);

      // A peer that never ticks is dropped after four silent intervals, as net_ticktime does.
      const silent = await connectNode(cluster.nodes[2]!, {
        localName: `parity_silent_${process.pid}@127.0.0.1`,
        cookie: COOKIE,
        port,
        tickIntervalMs: 60_000,
      });
      const down = new Promise((resolve) => silent.once('down', resolve));
      await expect(down).resolves.toMatchObject({ code: 'node_down' });
      ticking.close();
    } finally {
      await cluster.stop();
    }
  });
});

describe.each(['real', 'simulated'] as const)('a link made again, on %s nodes', (kind) => {
  it('keeps its controller while it stays up and gets another one when made again', async () => {
    const target = targets.get(kind)!;
    const [a, b] = target.nodes as [string, string];
    const read = () => probeLinks(rpcOf(a), { timeoutMs: 5000, cap: 100 });
    const controllerOf = (report: Awaited<ReturnType<typeof read>>, node: string) =>
      report.controllers?.find((entry) => entry.node === node)?.controller;
    const detector = new FlapDetector();
    const first = await read();
    expect(controllerOf(first, b)).toBeDefined();
    // beamscope's own connection is listed too (hidden), and left out of the counters.
    expect(controllerOf(first, LOCAL)).toBeDefined();
    expect(first.counters.map((counter) => counter.node)).toEqual([b]);
    detector.observe(a, first, 1000);
    const second = await read();
    expect(controllerOf(second, b)).toEqual(controllerOf(first, b));
    expect(detector.observe(a, second, 2000)).toEqual([]);

    await target.reconnect();
    await waitFor(async () => controllerOf(await read(), b) !== undefined);
    const third = await read();
    expect(controllerOf(third, b)).not.toEqual(controllerOf(first, b));
    expect(detector.observe(a, third, 3000)).toEqual([
      { node: a, peer: b, from: 2000, to: 3000, evidence: 'controller' },
    ]);
  });
});
