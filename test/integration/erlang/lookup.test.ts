/**
 * The name lookup on real BEAM nodes, through a real collector (what GET /api/clusters/<id>/registry
 * and `beamscope lookup` run): every backend's copy (Horde-, syn- and Swarm-shaped tables with the
 * libraries' layouts, see test/support/fixtures/erlang/beamscope_fixture.erl), names typed as
 * plain text and as Elixir/Erlang terms, and copies that disagree, grouped into views.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { KubernetesMember } from '@/lib/members';
import { Collector } from '@/server/collector';
import { ConnectionManager } from '@/server/erlang/manager';

import { startBeamNode, type BeamNode } from '../../support/beam';
import { FixedSource } from '../../support/fixed-source';
import { pod } from '../../unit/lib/fixtures';

const COOKIE = `lookup-${randomBytes(6).toString('hex')}`;

function member(node: string, index: number): KubernetesMember {
  return pod('127.0.0.1', { beamNode: node, podName: `lookup-${index}`, podUid: `uid-${index}` });
}

describe('the name lookup across real nodes, grouped into views', () => {
  let a: BeamNode;
  let b: BeamNode;
  let c: BeamNode;
  let ghost: BeamNode;
  let manager: ConnectionManager;
  let collector: Collector;

  /** An Erlang list of the member nodes. */
  const all = () => `['${a.name}', '${b.name}', '${c.name}']`;
  /** Inserts a Swarm record `{entry, Name, Pid, …}` into the copies of `nodes`, on `owner`. */
  const swarmRow = (name: string, pidExpr: string) =>
    `{entry, ${name}, ${pidExpr}, make_ref(), #{}, {1, 0}}`;

  beforeAll(async () => {
    a = await startBeamNode({ name: `lk_a_${process.pid}@127.0.0.1`, cookie: COOKIE });
    const joining = (letter: string) =>
      startBeamNode({
        name: `lk_${letter}_${process.pid}@127.0.0.1`,
        cookie: COOKIE,
        connectTo: [a.name],
      });
    [b, c] = await Promise.all([joining('b'), joining('c')]);
    // Not a member of the cluster: a process there is on a node beamscope does not watch.
    ghost = await joining('ghost');
    for (const node of [a, b, c]) {
      await node.eval('beamscope_fixture:swarm_table()');
      await node.eval(`beamscope_fixture:table('keys_Elixir.Beamscope.Devices', [set])`);
      await node.eval('beamscope_fixture:syn_scope(devices)');
    }
    await a.eval(
      `beamscope_fixture:horde_register('Elixir.Beamscope.Devices', [{device, 42}, {device, 7}], ${all()})`,
    );
    await a.eval(`beamscope_fixture:syn_register(devices, [<<"sensor-7">>], ${all()})`);
    await a.eval(`beamscope_fixture:swarm_register([12345], ${all()})`);
    // Copies that disagree (what a heal can leave): a and b hold one process, c another.
    await a.eval(
      `begin P = beamscope_fixture:sleeper(), [true = rpc:call(N, ets, insert, [swarm_registry, ${swarmRow('<<"split-1">>', 'P')}]) || N <- ['${a.name}', '${b.name}']], ok end`,
    );
    await c.eval(
      `ets:insert(swarm_registry, ${swarmRow('<<"split-1">>', 'beamscope_fixture:sleeper()')})`,
    );
    // A name only a's copy holds, and one whose process lives on the non-member node.
    await a.eval(
      `ets:insert(swarm_registry, ${swarmRow('<<"only-a">>', 'beamscope_fixture:sleeper()')})`,
    );
    await a.eval(
      `begin P = spawn('${ghost.name}', timer, sleep, [infinity]), [true = rpc:call(N, ets, insert, [swarm_registry, ${swarmRow('<<"ghost-1">>', 'P')}]) || N <- ${all()}], ok end`,
    );

    manager = new ConnectionManager({
      localName: `lk_maint_${process.pid}@127.0.0.1`,
      cookie: COOKIE,
    });
    collector = new Collector({
      clusterId: 'lookup',
      localNode: manager.localName,
      source: new FixedSource([a, b, c].map((node, index) => member(node.name, index))),
      manager,
      pollIntervalMs: 60_000,
      probe: { timeoutMs: 5000, hordeRegistries: ['Beamscope.Devices'] },
    }).start();
    expect(await collector.settled(20_000)).toBe(true);
  });

  afterAll(async () => {
    collector?.stop();
    await manager?.close();
    await Promise.all([a, b, c, ghost].filter(Boolean).map((node) => node.stop()));
  });

  const members = () => [a.name, b.name, c.name];

  it('finds a tuple key in Horde, typed in Elixir or Erlang syntax, one view held by every copy', async () => {
    for (const typed of ['{:device, 42}', '{device, 42}']) {
      const result = await collector.lookup(typed);
      expect(result).toMatchObject({ found: true, readAs: 'term' });
      expect(result.keys).toEqual([{ keyType: 'tuple', key: '{device,42}' }]);
      expect(result.entries).toHaveLength(1);
      const [entry] = result.entries;
      expect(entry).toMatchObject({
        registry: 'horde',
        registryName: 'Beamscope.Devices',
        label: 'Horde Beamscope.Devices',
        keyType: 'tuple',
        key: '{device,42}',
        replicated: true,
        disagree: false,
        missingOn: [],
      });
      expect(entry!.views).toHaveLength(1);
      expect(entry!.views[0]!.nodes).toEqual(members());
      // horde_register puts the first key's process on the first node.
      expect(entry!.views[0]!.host).toEqual({ node: a.name, status: 'connected' });
      expect(entry!.summary).toMatch(
        new RegExp(`^all 3 copies agree: <0\\.\\d+\\.\\d+> on ${a.name.replace(/\./g, '\\.')}$`),
      );
      for (const node of result.nodes) expect(node.errors).toEqual([]);
    }
  });

  it('finds a binary in a syn scope (started on the node, not configured) and an integer in Swarm', async () => {
    for (const typed of ['"sensor-7"', 'sensor-7', '<<"sensor-7">>']) {
      const result = await collector.lookup(typed);
      expect(result.entries.map((entry) => [entry.label, entry.keyType, entry.key])).toEqual([
        ['syn devices', 'binary', '<<"sensor-7">>'],
      ]);
      expect(result.entries[0]!.views[0]!.nodes).toEqual(members());
    }
    const integer = await collector.lookup('12345');
    expect(integer.entries.map((entry) => [entry.label, entry.keyType, entry.key])).toEqual([
      ['Swarm', 'integer', '12345'],
    ]);
    expect(integer.entries[0]!.disagree).toBe(false);
  });

  it('reports copies that disagree as two views with their node counts, in one sentence', async () => {
    const result = await collector.lookup('split-1');
    expect(result.entries).toHaveLength(1);
    const [entry] = result.entries;
    expect(entry!.disagree).toBe(true);
    expect(entry!.views.map((view) => [view.host?.node, view.nodes])).toEqual([
      [a.name, [a.name, b.name]],
      [c.name, [c.name]],
    ]);
    const node = (name: string) => name.replace(/\./g, '\\.');
    expect(entry!.summary).toMatch(
      new RegExp(
        `^the copies disagree: 2 nodes say <0\\.\\d+\\.0> on ${node(a.name)}, 1 says <0\\.\\d+\\.0> on ${node(c.name)}$`,
      ),
    );

    const onlyA = (await collector.lookup('only-a')).entries[0]!;
    expect(onlyA.missingOn).toEqual([b.name, c.name]);
    expect(onlyA.summary).toMatch(
      /^the copies disagree: 1 node says <0\.\d+\.0> on .*, 2 have no such name$/,
    );
  });

  it("says when a process's node is not a member of the cluster", async () => {
    const [entry] = (await collector.lookup('ghost-1')).entries;
    expect(entry!.views).toEqual([
      expect.objectContaining({
        host: { node: ghost.name, status: 'not_a_member' },
        nodes: members(),
      }),
    ]);
    expect(entry!.summary).toContain(`on ${ghost.name} (not a member)`);
  });

  it('answers "not found" for a term holding an atom no node has, without sending it', async () => {
    const unknown = `never_${randomBytes(6).toString('hex')}`;
    const atomCount = 'erlang:system_info(atom_count)';
    const before = await Promise.all([a, b, c].map((node) => node.eval(atomCount)));
    const result = await collector.lookup(`{:${unknown}, [1, "x"]}`);
    expect(result.found).toBe(false);
    for (const node of result.nodes) {
      expect(node).toMatchObject({ atomExists: false, matches: [], errors: [] });
    }
    for (const node of [a, b, c]) {
      await expect(node.eval(`binary_to_existing_atom(<<"${unknown}">>, utf8)`)).rejects.toThrow(
        /badarg/,
      );
    }
    // Other activity may add atoms, but not this one (checked above).
    const after = await Promise.all([a, b, c].map((node) => node.eval(atomCount)));
    after.forEach((count, index) =>
      expect(Number(count)).toBeGreaterThanOrEqual(Number(before[index])),
    );
  });
});
