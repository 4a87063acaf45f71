/**
 * Comparing registry copies across many nodes (issue 16, memory proportional to N): the k × k
 * counts of a comparison were all asked at once, and at 1,000 nodes the million pending calls
 * (promise, timer, reply pid and encoded request each) filled the server's 4 GB heap. Against
 * simulated nodes over real distribution connections: the calls pending at once stay within the
 * comparison's bound, and the comparison still asks every count — or, for copies small enough,
 * one list of their rows' hosts per copy.
 */
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { COMPARE_CALLS_IN_FLIGHT, compareCopies } from '@/server/collector/divergence';
import { connectNode, type NodeConnection } from '@/server/erlang';
import type { RpcFunction } from '@/server/erlang/probes';

import { freePort } from '../../support/ports';
import {
  simulatedAddresses,
  startSimulatedCluster,
  type SimulatedCluster,
} from '../../support/sim-node';

const NODES = 150;
const COOKIE = randomBytes(12).toString('hex');
const LOCAL = `beamscope_divscale${process.pid}@127.0.0.1`;

describe(`comparing the Swarm copies of ${NODES} nodes`, () => {
  let cluster: SimulatedCluster;
  const connections = new Map<string, NodeConnection>();
  let pending = 0;
  let mostPending = 0;

  /** Each node's rpc, counting the calls pending across all of them. */
  const rpcOf =
    (node: string): RpcFunction =>
    (module, fn, args, options) => {
      pending += 1;
      mostPending = Math.max(mostPending, pending);
      return connections
        .get(node)!
        .rpc(module, fn, args, options)
        .finally(() => {
          pending -= 1;
        });
    };

  beforeAll(async () => {
    const port = await freePort();
    cluster = await startSimulatedCluster({
      addresses: simulatedAddresses(NODES, 31),
      port,
      cookie: COOKIE,
      basename: 'divscale',
    });
    for (const node of cluster.nodes) {
      connections.set(node, await connectNode(node, { localName: LOCAL, cookie: COOKIE, port }));
    }
  }, 120_000);

  afterAll(async () => {
    for (const connection of connections.values()) connection.close();
    await cluster?.stop();
  });

  it('keeps a bounded number of calls pending, and still counts every copy on every host', async () => {
    mostPending = 0;
    const result = await compareCopies(rpcOf, 'swarm', cluster.nodes, {
      timeoutMs: 10_000,
      callWorthInRows: 0,
    });
    // A table check and size per node, then k × k counts: 22,800 calls, never more than the
    // bound at once.
    expect(result!.calls).toBe(2 * NODES + NODES * NODES);
    expect(mostPending).toBeLessThanOrEqual(COMPARE_CALLS_IN_FLIGHT);
    expect(mostPending).toBeGreaterThan(1);
    // The simulated copies all count alike: one group, no names shipped.
    expect(result).toMatchObject({ groups: 1, hostsCompared: 0, keysFetched: 0 });
    expect(pending).toBe(0);
  }, 120_000);

  it("lists a small copy's hosts in one reply: calls linear in copies, the same finding", async () => {
    mostPending = 0;
    // 1,000 names on 150 hosts: within the one-reply bound.
    const result = await compareCopies(rpcOf, 'swarm', cluster.nodes, { timeoutMs: 10_000 });
    expect(result!.calls).toBe(3 * NODES);
    expect(mostPending).toBeLessThanOrEqual(COMPARE_CALLS_IN_FLIGHT);
    expect(result).toMatchObject({ groups: 1, hostsCompared: 0, keysFetched: 0 });
    expect(pending).toBe(0);
  }, 120_000);

  it('stops asking after the first failure: a node that does not answer costs one timeout', async () => {
    mostPending = 0;
    const silent = cluster.nodes[0]!;
    let asked = 0;
    const failing = (node: string): RpcFunction => {
      const rpc = rpcOf(node);
      return (module, fn, args, options) => {
        asked += 1;
        return node === silent && fn === 'select_count'
          ? Promise.reject(new Error(`${node} did not answer`))
          : rpc(module, fn, args, options);
      };
    };
    await expect(
      compareCopies(failing, 'swarm', cluster.nodes, {
        timeoutMs: 10_000,
        callWorthInRows: 0,
      }),
    ).rejects.toThrow();
    // The silent node is the first copy: the table checks and sizes, the counts already under
    // way when its first count failed, nothing after — not the other 22,000 counts.
    expect(asked).toBeLessThanOrEqual(2 * NODES + 2 * COMPARE_CALLS_IN_FLIGHT);
    expect(mostPending).toBeLessThanOrEqual(COMPARE_CALLS_IN_FLIGHT);
  }, 120_000);
});
