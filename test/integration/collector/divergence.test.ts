/**
 * Comparing registry copies on real nodes: three nodes whose Swarm-shaped copies were made to
 * disagree the way a netsplit leaves them — names only one side registered, and names each side
 * registered to a process of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { compareCopies, DivergenceMonitor } from '@/server/collector/divergence';
import { connectNode } from '@/server/erlang/connect';
import type { NodeConnection } from '@/server/erlang/connection';

import { startBeamNode, type BeamNode } from '../../support/beam';

const COOKIE = `divergence_${process.pid}`;
const LOCAL = `beamscope_maint_div${process.pid}@127.0.0.1`;

describe('comparing the copies of a registry', () => {
  let a: BeamNode;
  let b: BeamNode;
  let c: BeamNode;
  const connections = new Map<string, NodeConnection>();

  const rpcOf = (node: string) => {
    const connection = connections.get(node)!;
    return connection.rpc.bind(connection);
  };

  beforeAll(async () => {
    a = await startBeamNode({ name: `div_a_${process.pid}@127.0.0.1`, cookie: COOKIE });
    b = await startBeamNode({
      name: `div_b_${process.pid}@127.0.0.1`,
      cookie: COOKIE,
      connectTo: [a.name],
    });
    c = await startBeamNode({
      name: `div_c_${process.pid}@127.0.0.1`,
      cookie: COOKIE,
      connectTo: [a.name, b.name],
    });
    for (const node of [a, b, c]) {
      await node.eval('beamscope_fixture:swarm_table()');
      connections.set(
        node.name,
        await connectNode(node.name, { localName: LOCAL, cookie: COOKIE }),
      );
    }
    // 300 names every copy agrees on, spread over the three nodes.
    const agreed = Array.from({ length: 300 }, (_, index) => `<<"d-${index}">>`).join(', ');
    await a.eval(`beamscope_fixture:swarm_register([${agreed}], ${all()})`);
  });

  afterAll(async () => {
    for (const connection of connections.values()) connection.close();
    await Promise.all([a, b, c].filter(Boolean).map((node) => node.stop()));
  });

  const all = () => `['${a.name}', '${b.name}', '${c.name}']`;
  const names = () => [a.name, b.name, c.name];

  /** Inserts `{entry, Name, Pid, ...}` into `on`'s copy only, the process living on `host`. */
  async function registerOnly(on: BeamNode, name: string, host: BeamNode): Promise<void> {
    await on.eval(
      `ets:insert(swarm_registry, {entry, <<"${name}">>, spawn('${host.name}', timer, sleep, [infinity]), make_ref(), #{}, {1, 0}})`,
    );
  }

  /**
   * Compares both ways — hosts counted on the node one by one, and listed per row in one reply —
   * and holds them to the same findings; returns the listed way's result and both call counts.
   */
  async function compareBothWays() {
    const counted = (await compareCopies(rpcOf, 'swarm', names(), {
      timeoutMs: 5000,
      callWorthInRows: 0,
    }))!;
    const listed = (await compareCopies(rpcOf, 'swarm', names(), {
      timeoutMs: 5000,
      callWorthInRows: Number.POSITIVE_INFINITY,
    }))!;
    expect({ ...listed, calls: 0 }).toEqual({ ...counted, calls: 0 });
    return { result: listed, calls: { counted: counted.calls, listed: listed.calls } };
  }

  it('agreeing copies ship no names: one count per copy and host', async () => {
    const { result, calls } = await compareBothWays();
    expect(result).toMatchObject({
      missing: { count: 0 },
      duplicates: { count: 0 },
      keysFetched: 0,
      groups: 1,
      hostsCompared: 0,
    });
    // 3 table checks and sizes, then 3 × 3 counts, or one list of hosts per copy.
    expect(calls).toEqual({ counted: 6 + 9, listed: 6 + 3 });
    // 300 rows on 3 hosts: above the one-reply bound, so by default counted on the nodes.
    const byDefault = await compareCopies(rpcOf, 'swarm', names(), { timeoutMs: 5000 });
    expect(byDefault!.calls).toBe(calls.counted);
  });

  it('finds names one copy lacks and names that point at two processes, and says when they clear', async () => {
    // During a split of a | b, c each side started the devices it could not see.
    await registerOnly(a, 'only-on-a', a);
    await registerOnly(a, 'twice', a);
    await registerOnly(b, 'twice', b);
    await c.eval(
      `ets:insert(swarm_registry, hd(rpc:call('${b.name}', ets, lookup, [swarm_registry, <<"twice">>])))`,
    );
    const monitor = new DivergenceMonitor(0);
    const { result } = await compareBothWays();
    expect(result.missing).toEqual({
      count: 1,
      sample: [{ name: '<<"only-on-a">>', heldBy: [a.name], missingOn: [b.name, c.name].sort() }],
    });
    expect(result.duplicates.count).toBe(1);
    const [duplicate] = result.duplicates.sample;
    expect(duplicate!.name).toBe('<<"twice">>');
    expect(duplicate!.views.map((view) => [view.pidNode, view.heldBy])).toEqual(
      expect.arrayContaining([
        [a.name, [a.name]],
        [b.name, [b.name, c.name].sort()],
      ]),
    );
    // b and c agree: two groups, one copy speaking for each. Only the keys of the hosts whose
    // counts differ (a and b) travelled, never c's 100.
    expect(result).toMatchObject({ groups: 2, hostsCompared: 2 });
    expect(result.keysFetched).toBe(2 * 200 + 3);
    const [diverged] = monitor.record(result, 1000);
    expect(diverged).toMatchObject({ kind: 'registry_diverged', severity: 'warning' });
    expect(diverged!.message).toBe(
      'Swarm copies disagree on 3 nodes: 1 names missing on some, 1 pointing at two processes',
    );

    // The heal resolves them: one process per name, on every copy.
    monitor.healed(2000);
    for (const node of [b, c]) {
      for (const name of ['twice', 'only-on-a']) {
        await node.eval(
          `ets:insert(swarm_registry, hd(rpc:call('${a.name}', ets, lookup, [swarm_registry, <<"${name}">>])))`,
        );
      }
    }
    const { result: healed } = await compareBothWays();
    expect(healed.missing.count + healed.duplicates.count).toBe(0);
    const [converged] = monitor.record(healed, 14_400);
    expect(converged).toMatchObject({ kind: 'registry_converged' });
    expect(converged!.message).toBe(
      'Swarm copies agree again on 3 nodes, 12.4 s after the heal (1 duplicates, 1 missing at the last look)',
    );
  });
});
