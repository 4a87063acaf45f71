/**
 * The collector in a cluster past `FULL_PEER_LISTS_UP_TO` nodes (issue 16, a collector that
 * scales): there a probe reads each node's connection count and its whole peer list only when the
 * count moved (or a peer's change involves it, or now and then). Against simulated nodes over
 * real distribution connections and a real connection manager: the mesh still follows a
 * partition and its heal exactly, while quiet polls read few peer lists; a node whose links
 * dropped and came back between probes is one `link_flap`, and the partition's are not.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClusterState } from '@/lib/cluster-state';
import type { KubernetesMember, KubernetesSourceStatus } from '@/lib/members';
import { compareNames } from '@/lib/names';
import { Collector } from '@/server/collector/collector';
import { DOWN_SLACK_MS } from '@/server/collector/flap-batch';
import { FULL_PEER_LISTS_UP_TO } from '@/server/collector/probe-cadence';
import { ConnectionManager, connectNode } from '@/server/erlang';
import { atom } from '@/server/erlang/codec';
import { PreEncoded } from '@/server/erlang/codec/terms';
import type { KubernetesSourceEvents } from '@/server/kubernetes/source';

import { freePort } from '../../support/ports';
import {
  simulatedAddresses,
  startSimulatedCluster,
  type SimulatedCluster,
} from '../../support/sim-node';
import { pod } from '../../unit/lib/fixtures';

const NODES = FULL_PEER_LISTS_UP_TO + 50;
const COOKIE = randomBytes(12).toString('hex');
const LOCAL = `beamscope_large${process.pid}@127.0.0.1`;
const POLL_MS = 500;
const SYS_DIST = String(atom('sys_dist'));

/** The pods, as a Kubernetes source that never changes lists them. */
class StaticSource extends EventEmitter<KubernetesSourceEvents> {
  constructor(private readonly pods: KubernetesMember[]) {
    super();
  }
  members(): KubernetesMember[] {
    return this.pods;
  }
  status(): KubernetesSourceStatus {
    return { state: 'ok', since: 0 };
  }
}

async function until(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not in time`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const partitionSizes = (state: ClusterState) =>
  state.partitions.map((partition) => partition.length).sort((x, y) => x - y);

describe(`the collector over ${NODES} simulated nodes`, () => {
  let cluster: SimulatedCluster;
  let manager: ConnectionManager;
  let collector: Collector;
  const calls = { nodes: 0, connectionCounts: 0 };
  const addresses = simulatedAddresses(NODES, 34);

  beforeAll(async () => {
    const port = await freePort();
    cluster = await startSimulatedCluster({ addresses, port, cookie: COOKIE, basename: 'myapp' });
    manager = new ConnectionManager({
      localName: LOCAL,
      cookie: COOKIE,
      port,
      // Every peer-list read and connection count the collector asks, counted at the connection.
      connect: async (target, options) => {
        const connection = await connectNode(target, options);
        const rpc = connection.rpc.bind(connection);
        connection.rpc = (module, fn, args, callOptions) => {
          if (module === 'erlang' && fn === 'nodes') calls.nodes += 1;
          if (module === 'ets' && fn === 'info' && String(args[0]) === SYS_DIST)
            calls.connectionCounts += 1;
          // The count travels with the probe's other calls of its moment, in one (`batchProbe`):
          // each element's arguments are encoded once and read back here from their term.
          const [, modules, fns, argLists] = args;
          if (
            module === 'lists' &&
            fn === 'zipwith3' &&
            Array.isArray(modules) &&
            Array.isArray(fns) &&
            Array.isArray(argLists)
          ) {
            calls.connectionCounts += modules.filter((element, index) => {
              const elementArgs = argLists[index];
              return (
                String(element) === 'ets' &&
                String(fns[index]) === 'info' &&
                elementArgs instanceof PreEncoded &&
                Array.isArray(elementArgs.term) &&
                String(elementArgs.term[0]) === SYS_DIST
              );
            }).length;
          }
          return rpc(module, fn, args, callOptions);
        };
        return connection;
      },
    });
    collector = new Collector({
      clusterId: 'large',
      localNode: LOCAL,
      source: new StaticSource(addresses.map((address) => pod(address))),
      manager,
      pollIntervalMs: POLL_MS,
    }).start();
    await until(
      () => {
        const state = collector.snapshot().state;
        return state.partitions.length === 1 && state.partitions[0]!.length === NODES;
      },
      'one partition of every node',
      90_000,
    );
  }, 120_000);

  afterAll(async () => {
    collector?.stop();
    await manager?.close();
    await cluster?.stop();
  });

  it('reads few peer lists while the mesh is quiet, and the connection count at every probe', async () => {
    const before = { ...calls };
    // Four probes of every node, on average.
    await until(() => calls.connectionCounts - before.connectionCounts >= 4 * NODES, 'polls');
    const counts = calls.connectionCounts - before.connectionCounts;
    const lists = calls.nodes - before.nodes;
    // 149 peers: a node's list is read every second probe at the latest when its count holds.
    expect(lists).toBeLessThanOrEqual(counts / 2 + NODES);
    expect(lists).toBeLessThan(counts);
    const state = collector.snapshot().state;
    expect(state.asymmetricLinks).toEqual([]);
    // Registries and versions read every few probes only: what the last read found stands.
    for (const member of state.members) {
      expect(member.beam?.otpRelease).toBe('25');
      expect(member.beam?.registries.map((entry) => entry.registry).sort()).toEqual([
        'global',
        'pg',
        'swarm',
      ]);
    }
  }, 30_000);

  it('follows a partition and its heal exactly, both sides of every link', async () => {
    const [left, right] = [cluster.nodes.slice(0, 60), cluster.nodes.slice(60)];
    cluster.setPartitions([addresses.slice(0, 60), addresses.slice(60)]);
    await until(() => {
      const state = collector.snapshot().state;
      return (
        partitionSizes(state).join() === `60,${NODES - 60}` && state.asymmetricLinks.length === 0
      );
    }, 'two partitions');
    const split = collector.snapshot().state;
    const leftSet = new Set(left);
    for (const member of split.members) {
      if (member.node === null || !member.beam) continue;
      const side = leftSet.has(member.node) ? left : right;
      expect(member.beam.sees).toEqual(
        side.filter((node) => node !== member.node).sort(compareNames),
      );
    }

    cluster.setPartitions([addresses]);
    await until(() => {
      const state = collector.snapshot().state;
      return partitionSizes(state).join() === `${NODES}` && state.asymmetricLinks.length === 0;
    }, 'one partition again');
    for (const member of collector.snapshot().state.members) {
      if (member.beam?.connection.status === 'connected')
        expect(member.beam.sees).toHaveLength(NODES - 1);
    }
    // Links are read every second probe here: some crossed the split and the heal unread, and
    // came back as new connections. The partition told of them: no flap tells them again.
    await new Promise((resolve) => setTimeout(resolve, 4 * POLL_MS));
    expect(flapsAfter(0)).toEqual([]);
  }, 90_000);

  it('tells a node whose links dropped and came back between probes once, as link_flap', async () => {
    // Past the heal above: a drop of its links within DOWN_SLACK_MS of it is taken as the heal's.
    await new Promise((resolve) => setTimeout(resolve, DOWN_SLACK_MS + 2 * POLL_MS));
    const fromSeq = collector.lastSeq;
    const [node] = cluster.nodes;
    // Apart and back before any probe looks: the mesh never shows it, the controllers do.
    cluster.setPartitions([addresses.slice(0, 1), addresses.slice(1)]);
    cluster.setPartitions([addresses]);
    await until(() => flapsAfter(fromSeq).length > 0, 'a link_flap', 30_000);
    // Every peer's reading comes within a round; the batch waits for it to pass quietly.
    await new Promise((resolve) => setTimeout(resolve, 6 * POLL_MS));
    const flaps = flapsAfter(fromSeq);
    expect(flaps).toHaveLength(1);
    expect(flaps[0]).toMatchObject({
      node,
      links: { count: NODES - 1 },
      message: expect.stringContaining(`${node} reconnected to ${NODES - 1} peers`),
    });
    expect(flaps[0]!.cause?.code).toBe('peers_disconnected');
  }, 60_000);

  function flapsAfter(seq: number) {
    return collector
      .snapshot()
      .timeline.filter((event) => event.kind === 'link_flap' && event.seq > seq);
  }
});
