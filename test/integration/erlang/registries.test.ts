/**
 * Every registry backend counted on real BEAM nodes: each node's copy and what it hosts, counted
 * on the node. The tables have the layouts the real libraries keep (Swarm 3.4, Horde 0.9, syn
 * 3.4: see test/support/fixtures/erlang/beamscope_fixture.erl); the Elixir Registry, `:global`
 * and `:pg` are the real ones. The Horde and Registry names come from a YAML configuration, as
 * the dashboard reads them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClusterMember } from '@/lib/cluster-state';
import { registrySummaries } from '@/lib/registries';
import { probeRegistries } from '@/server/collector';
import { registryCounts } from '@/server/collector/report';
import { loadConfig } from '@/server/config';
import { connectNode } from '@/server/erlang/connect';
import type { NodeConnection } from '@/server/erlang/connection';
import { runProbes } from '@/server/erlang/probes';

import { startBeamNode, type BeamNode } from '../../support/beam';

const COOKIE = `registries_${process.pid}`;
const LOCAL = `beamscope_maint_reg${process.pid}@127.0.0.1`;

describe('registry counts per node, on real nodes', () => {
  let a: BeamNode;
  let b: BeamNode;
  let dir: string;
  const connections: NodeConnection[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beamscope-registries-'));
    a = await startBeamNode({ name: `reg_a_${process.pid}@127.0.0.1`, cookie: COOKIE });
    b = await startBeamNode({
      name: `reg_b_${process.pid}@127.0.0.1`,
      cookie: COOKIE,
      elixir: true,
      connectTo: [a.name],
    });
    const both = `['${a.name}', '${b.name}']`;
    for (const node of [a, b]) {
      await node.eval('beamscope_fixture:swarm_table()');
      await node.eval(`beamscope_fixture:table('keys_Elixir.Beamscope.Devices', [set])`);
      await node.eval('beamscope_fixture:syn_scope(devices)');
    }
    // Swarm: 7 names over two nodes (4 on a, 3 on b).
    await a.eval(`beamscope_fixture:swarm_register([${names('s', 7)}], ${both})`);
    // Horde: 5 keys, tuples as Elixir code registers them ({:device, N}).
    await a.eval(
      `beamscope_fixture:horde_register('Elixir.Beamscope.Devices', [${[1, 2, 3, 4, 5]
        .map((index) => `{device, ${index}}`)
        .join(', ')}], ${both})`,
    );
    // syn: 6 names, and 3 + 2 group members on a and b.
    await a.eval(`beamscope_fixture:syn_register(devices, [${names('y', 6)}], ${both})`);
    await a.eval(`beamscope_fixture:syn_join(devices, tenant_1, {'${a.name}', 3}, ${both})`);
    await a.eval(`beamscope_fixture:syn_join(devices, tenant_2, {'${b.name}', 2}, ${both})`);
    // :global: 2 names held on a, 1 on b. :pg: 2 groups of 2 on a, 3 more members on b.
    await a.eval('beamscope_fixture:global_names("reg_a", 2)');
    await b.eval('beamscope_fixture:global_names("reg_b", 1)');
    await a.eval('beamscope_fixture:pg_groups("reg_grp", 2, 2)');
    await b.eval("beamscope_fixture:pg_join('reg_grp_1', 3)");
    // A Horde supervisor's children: 3 on a, 2 on b. An Elixir Registry on b only.
    await a.eval(`beamscope_fixture:processes_supervisor('Elixir.Beamscope.DeviceSup', 3)`);
    await b.eval(`beamscope_fixture:processes_supervisor('Elixir.Beamscope.DeviceSup', 2)`);
    await b.eval(`beamscope_fixture:elixir_registry('Elixir.Beamscope.Sessions', 4)`);
    // :global and :pg merge between nodes asynchronously.
    await waitFor(async () => (await a.eval('length(global:registered_names())')) === '3');
    await waitFor(async () => (await a.eval("length(pg:get_members('reg_grp_1'))")) === '5');
  });

  afterAll(async () => {
    for (const connection of connections) connection.close();
    await Promise.all([a, b].filter(Boolean).map((node) => node.stop()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function names(prefix: string, count: number): string {
    return Array.from({ length: count }, (_, index) => `<<"${prefix}-${index}">>`).join(', ');
  }

  async function countsOn(node: BeamNode, config: Awaited<ReturnType<typeof loadConfig>>) {
    const connection = await connectNode(node.name, { localName: LOCAL, cookie: COOKIE });
    connections.push(connection);
    const report = await runProbes(connection.rpc.bind(connection), {
      ...probeRegistries(config.clusters[0]!),
    });
    return Object.fromEntries(
      registryCounts(report.registries).map((entry) => [entry.registry, entry]),
    );
  }

  it('counts every backend per node, from registries named in the YAML', async () => {
    const file = join(dir, 'beamscope.yaml');
    await writeFile(
      file,
      [
        'clusters:',
        '  - id: reg',
        '    discovery: { mode: endpointSlices, service: myapp }',
        '    nodeNaming: { mode: ip, basename: myapp }',
        '    distribution: { cookieEnv: RELEASE_COOKIE }',
        '    registries:',
        '      elixir: [Beamscope.Sessions]',
        '      horde:',
        '        registries: [Beamscope.Devices]',
        '        supervisors: [Beamscope.DeviceSup]',
        '',
      ].join('\n'),
    );
    const config = await loadConfig(file, { RELEASE_COOKIE: COOKIE });
    const onA = await countsOn(a, config);
    const onB = await countsOn(b, config);

    const pick = (entry: { count: number; hosted: number | null } | undefined) =>
      entry && [entry.count, entry.hosted];
    expect(pick(onA.swarm)).toEqual([7, 4]);
    expect(pick(onB.swarm)).toEqual([7, 3]);
    expect(pick(onA['horde:Beamscope.Devices'])).toEqual([5, 3]);
    expect(pick(onB['horde:Beamscope.Devices'])).toEqual([5, 2]);
    expect(pick(onA['syn:devices'])).toEqual([6, 3]);
    expect(pick(onB['syn:devices'])).toEqual([6, 3]);
    expect(pick(onA['syn_groups:devices'])).toEqual([5, 3]);
    expect(pick(onB['syn_groups:devices'])).toEqual([5, 2]);
    expect(pick(onA.global)).toEqual([3, 2]);
    expect(pick(onB.global)).toEqual([3, 1]);
    expect(onA.pg).toMatchObject({ count: 7, hosted: 4, groups: 2 });
    expect(onB.pg).toMatchObject({ count: 7, hosted: 3, groups: 2 });
    expect(pick(onA['horde_supervisor:Beamscope.DeviceSup'])).toEqual([3, 3]);
    expect(pick(onB['horde_supervisor:Beamscope.DeviceSup'])).toEqual([2, 2]);
    // Node-local: the Registry runs on b only (a has no Elixir).
    expect(onA['registry:Beamscope.Sessions']).toBeUndefined();
    expect(pick(onB['registry:Beamscope.Sessions'])).toEqual([4, 4]);

    // Across the cluster: each entry counted once, and what the nodes host adds up.
    const members = [a, b].map((node, index): ClusterMember => ({
      key: node.name,
      node: node.name,
      kubernetes: null,
      partition: 0,
      beam: {
        node: node.name,
        connection: { status: 'connected', since: 1 },
        otpRelease: '25',
        elixirVersion: null,
        processCount: null,
        memoryBytes: null,
        runQueue: null,
        uptimeMs: null,
        sees: [],
        registries: Object.values(index === 0 ? onA : onB),
        netTicktimeSeconds: 60,
        links: null,
        distBufBusyLimitBytes: null,
        probedAt: 1,
        probeMs: 1,
        probeError: null,
        applications: null,
        codeScan: null,
      },
    }));
    const summaries = registrySummaries(members, 0);
    for (const summary of summaries.filter((entry) => entry.replicated)) {
      expect(summary.invariant, summary.registry).toMatchObject({ holds: true });
    }
    const byKey = Object.fromEntries(summaries.map((summary) => [summary.registry, summary]));
    expect(byKey['horde_supervisor:Beamscope.DeviceSup']).toMatchObject({ total: 5 });
    expect(byKey.swarm).toMatchObject({ total: 7, hostedTotal: 7 });
  });

  it('reports syn absent where it has not started, and Horde names no node has', async () => {
    const fresh = await startBeamNode({ name: `reg_c_${process.pid}@127.0.0.1`, cookie: COOKIE });
    try {
      const connection = await connectNode(fresh.name, { localName: LOCAL, cookie: COOKIE });
      connections.push(connection);
      const report = await runProbes(connection.rpc.bind(connection), {
        hordeRegistries: ['Nobody.Has.This'],
        hordeSupervisors: ['Nobody.Has.This'],
      });
      expect(report.registries.syn).toEqual({ status: 'absent' });
      expect(report.registries.horde).toEqual([{ name: 'Nobody.Has.This', status: 'absent' }]);
      expect(report.registries.hordeSupervisors).toEqual([
        { name: 'Nobody.Has.This', status: 'absent' },
      ]);
    } finally {
      await fresh.stop();
    }
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
