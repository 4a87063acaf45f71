import { EventEmitter } from 'node:events';

import { afterEach, describe, expect, it } from 'vitest';

import type { ClusterState, TimelineEvent } from '@/lib/cluster-state';
import type { KubernetesMember, KubernetesSourceStatus } from '@/lib/members';
import { Collector, type CollectorMessage } from '@/server/collector/collector';
import { NodeHistory } from '@/server/collector/history';
import { Ring, WeightedRing } from '@/server/collector/ring';
import { atom, Charlist, encodeTerm, type Term } from '@/server/erlang/codec';
import { erlangError } from '@/server/erlang/errors';
import type { NodeConnectionState } from '@/server/erlang/manager';
import { renderMetrics } from '@/server/http/cluster-api';
import type { KubernetesSourceEvents } from '@/server/kubernetes/source';

import { pod } from '../lib/fixtures';

class FakeSource extends EventEmitter<KubernetesSourceEvents> {
  current: KubernetesMember[] = [];
  members(): KubernetesMember[] {
    return this.current;
  }
  status(): KubernetesSourceStatus {
    return { state: 'ok', since: 0 };
  }
  set(members: KubernetesMember[]): void {
    this.current = members;
    this.emit('members', members);
  }
}

/**
 * A connection manager driven by the test: nodes connect when told, and answer
 * `erlang:nodes(visible)` with the peers the test gives them (every other call fails remotely).
 */
class FakeManager extends EventEmitter<{ state: [node: string, state: NodeConnectionState] }> {
  readonly states = new Map<string, NodeConnectionState>();
  readonly peers = new Map<string, string[]>();
  readonly globalNames = new Map<string, number>();
  /** Nodes that answer no call at all (every call times out), as a SIGSTOPped node. */
  readonly frozen = new Set<string>();
  /** Nodes that answer each call this many ms late. */
  readonly slow = new Map<string, number>();
  readonly dropped: Array<{ node: string; code: string; reason: string }> = [];
  tracked: string[] = [];
  rpcCalls = 0;
  /** Every call asked, as `node module:fn`. */
  readonly asked: string[] = [];

  drop(node: string, reason: { code: string; message: string }): void {
    this.dropped.push({ node, code: reason.code, reason: reason.message });
    // The manager drops with an erlang error, whose code a connection state can carry.
    const code = reason.code as Extract<NodeConnectionState, { reason: string }>['code'];
    this.set(node, { status: 'timeout', since: 3, code, reason: reason.message });
  }

  track(nodes: string[]): void {
    this.tracked = nodes;
    for (const node of nodes) {
      if (!this.states.has(node)) this.set(node, { status: 'connecting', since: 1 });
    }
  }
  state(node: string): NodeConnectionState {
    return this.states.get(node) ?? { status: 'connecting', since: 1 };
  }
  set(node: string, state: NodeConnectionState): void {
    this.states.set(node, state);
    this.emit('state', node, state);
  }
  async rpc(
    node: string,
    module: string,
    fn: string,
    args: Term[],
    options?: { encodedReply?: boolean },
  ): Promise<Term> {
    const reply = await this.answer(node, module, fn, args);
    // As the connection does for a call that asks for `encodedReply`: term_to_binary's bytes.
    return options?.encodedReply ? encodeTerm(reply) : reply;
  }
  private async answer(node: string, module: string, fn: string, args: Term[]): Promise<Term> {
    this.rpcCalls += 1;
    this.asked.push(`${node} ${module}:${fn}`);
    const late = this.slow.get(node);
    if (late) await new Promise((resolve) => setTimeout(resolve, late));
    if (this.states.get(node)?.status !== 'connected') throw erlangError('node_down', 'down');
    if (this.frozen.has(node)) throw erlangError('timeout', `${module}:${fn} timed out`);
    if (module === 'erlang' && fn === 'nodes') return (this.peers.get(node) ?? []).map(atom);
    if (
      module === 'erlang' &&
      fn === 'system_info' &&
      String(args[0]) === String(atom('otp_release'))
    )
      return new Charlist('25');
    if (
      module === 'ets' &&
      fn === 'info' &&
      String(args[0]) === String(atom('global_names')) &&
      this.globalNames.has(node)
    )
      return this.globalNames.get(node)!;
    throw erlangError('badrpc', `no ${module}:${fn} in this fake`);
  }
}

const collectors: Collector[] = [];

function setup(options: { pollIntervalMs?: number; registryEventIntervalMs?: number } = {}) {
  const source = new FakeSource();
  const manager = new FakeManager();
  const collector = new Collector({
    clusterId: 'unit',
    localNode: 'beamscope@127.0.0.1',
    source,
    manager,
    // Polls do not fire unless a test asks: probes happen because a node connected.
    pollIntervalMs: 60_000,
    ...options,
  }).start();
  collectors.push(collector);
  const timeline: TimelineEvent[] = [];
  collector.subscribe((message: CollectorMessage) => {
    if (message.type === 'timeline') timeline.push(message.event);
  });
  return { source, manager, collector, timeline };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not in time`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const state = (collector: Collector): ClusterState => collector.snapshot().state;

/** How many probes the collector's latency histogram counted, as `/api/metrics` shows it. */
async function probesTimed(collector: Collector): Promise<number> {
  const text = await renderMetrics([{ collector }]);
  const count = /^beamscope_probe_duration_seconds_count\{cluster="unit"\} (\d+)$/m.exec(text);
  return Number(count?.[1]);
}
const connected = (): NodeConnectionState => ({ status: 'connected', since: 2 });

/** A start of three pods whose first two nodes connected and were probed; the third waits. */
async function startWithOneNodeWaiting() {
  const started = setup();
  const { source, manager, collector } = started;
  source.set([pod('10.0.0.1'), pod('10.0.0.2'), pod('10.0.0.3')]);
  collector.flush();
  manager.set('myapp@10.0.0.1', connected());
  manager.set('myapp@10.0.0.2', connected());
  await until(
    () => collector.nodeHistory('myapp@10.0.0.2').length > 0,
    'the two connected nodes probed',
  );
  return started;
}

afterEach(() => {
  for (const collector of collectors.splice(0)) collector.stop();
});

describe('Collector', () => {
  it('tracks the members’ nodes and probes a node as soon as it connects', async () => {
    const { source, manager, collector } = setup();
    source.set([pod('10.0.0.1'), pod('10.0.0.2')]);
    collector.flush();
    expect(manager.tracked).toEqual(['myapp@10.0.0.1', 'myapp@10.0.0.2']);
    manager.peers.set('myapp@10.0.0.1', ['myapp@10.0.0.2']);
    manager.peers.set('myapp@10.0.0.2', ['myapp@10.0.0.1']);
    manager.set('myapp@10.0.0.1', connected());
    manager.set('myapp@10.0.0.2', connected());
    await until(
      () =>
        state(collector).partitions[0]?.length === 2 &&
        state(collector).members.every((member) => member.beam?.probedAt !== null),
      'both probed',
    );
    const current = state(collector);
    expect(current.partitions).toEqual([['myapp@10.0.0.1', 'myapp@10.0.0.2']]);
    expect(current.members[0]?.beam?.otpRelease).toBe('25');
    expect(collector.nodeHistory('myapp@10.0.0.1')).toHaveLength(1);
    expect(await probesTimed(collector)).toBe(2);
  });

  it("tells the gauges a poll's probes moved in one delta, once its probes are all in", async () => {
    const { source, manager, collector } = setup({ pollIntervalMs: 250 });
    const nodes = ['myapp@10.0.0.1', 'myapp@10.0.0.2', 'myapp@10.0.0.3'];
    source.set([pod('10.0.0.1'), pod('10.0.0.2'), pod('10.0.0.3')]);
    collector.flush();
    for (const node of nodes) manager.set(node, connected());
    await until(() => nodes.every((node) => collector.nodeHistory(node).length >= 2), 'a poll');
    // From here every probe finds what the last one found but the time it was probed: gauges.
    // One node answers late, so that a poll's probes end apart.
    manager.slow.set(nodes[2]!, 60);
    const changedPerDelta: number[] = [];
    collector.subscribe((message: CollectorMessage) => {
      if (message.type !== 'delta') return;
      changedPerDelta.push(
        message.delta.changed.filter((patch) => patch.beam?.probedAt !== undefined).length,
      );
    });
    const polled = collector.nodeHistory(nodes[0]!).length;
    await until(() => collector.nodeHistory(nodes[0]!).length >= polled + 4, 'four more polls');
    // One delta per poll, each with every node's new probe (not one per probe reply)...
    expect(changedPerDelta.length).toBeGreaterThanOrEqual(3);
    expect(changedPerDelta.length).toBeLessThanOrEqual(5);
    expect(changedPerDelta.every((changed) => changed === nodes.length)).toBe(true);
    // ...and the state has them.
    const probedAt = state(collector).members.map((member) => member.beam!.probedAt);
    expect(probedAt).toEqual(nodes.map((node) => collector.nodeHistory(node).at(-1)!.at));
  });

  it('publishes the state of a start as soon as the last node has its first outcome', async () => {
    const { manager, collector } = await startWithOneNodeWaiting();
    const seqBefore = collector.lastSeq;
    // The last node waiting fails to connect: its outcome, and the start's state, at once.
    manager.set('myapp@10.0.0.3', {
      status: 'unreachable',
      since: 3,
      code: 'dist_unreachable',
      reason: 'cannot connect to node myapp@10.0.0.3',
    });
    expect(collector.lastSeq).toBeGreaterThan(seqBefore);
    const current = state(collector);
    expect(current.members.map((member) => member.beam?.connection.status)).toEqual([
      'connected',
      'connected',
      'unreachable',
    ]);
    expect(current.members.filter((member) => member.beam?.probedAt !== null)).toHaveLength(2);
  });

  it('holds the code scans until every node of a start has its first outcome', async () => {
    const { manager } = await startWithOneNodeWaiting();
    const scans = () => manager.asked.filter((call) => call.endsWith(' erlang:loaded'));
    // Both probed, and their scans queued behind the node still connecting.
    expect(scans()).toEqual([]);
    manager.set('myapp@10.0.0.3', connected());
    await until(() => scans().length === 3, 'every node scanned');
    expect(scans().sort()).toEqual([
      'myapp@10.0.0.1 erlang:loaded',
      'myapp@10.0.0.2 erlang:loaded',
      'myapp@10.0.0.3 erlang:loaded',
    ]);
  });

  it('turns a dropped connection into node down at once, and forgets what the node saw', async () => {
    const { source, manager, collector, timeline } = setup();
    source.set([pod('10.0.0.1')]);
    collector.flush();
    manager.set('myapp@10.0.0.1', connected());
    await until(() => state(collector).partitions.length === 1, 'probed');
    const seqBefore = collector.lastSeq;
    manager.set('myapp@10.0.0.1', {
      status: 'unreachable',
      since: 3,
      code: 'node_down',
      reason: 'connection to node myapp@10.0.0.1 closed',
    });
    // No await: the event is published within the state callback itself.
    expect(timeline.at(-1)).toMatchObject({ kind: 'node_down', node: 'myapp@10.0.0.1' });
    expect(timeline.at(-1)!.seq).toBeGreaterThan(seqBefore);
    expect(state(collector).members[0]?.beam?.sees).toBeNull();
    expect(state(collector).partitions).toEqual([]);
  });

  it('drops a node that answers no probe at all, and only such a node', async () => {
    const { source, manager, collector } = setup();
    source.set([pod('10.0.0.1'), pod('10.0.0.2')]);
    collector.flush();
    manager.frozen.add('myapp@10.0.0.1');
    manager.set('myapp@10.0.0.1', connected());
    // The other node answers its cheap calls but fails the rest: slow or partial, not frozen.
    manager.set('myapp@10.0.0.2', connected());
    await until(() => manager.dropped.length > 0, 'the frozen node dropped');
    await until(
      () =>
        state(collector).members.find((m) => m.node === 'myapp@10.0.0.2')?.beam?.probedAt != null,
      'the other node probed',
    );
    collector.flush();
    expect(manager.dropped).toEqual([
      {
        node: 'myapp@10.0.0.1',
        code: 'timeout',
        reason: expect.stringMatching(/answered no probe/),
      },
    ]);
    const members = state(collector).members;
    expect(members.find((m) => m.node === 'myapp@10.0.0.1')?.beam?.connection.status).toBe(
      'timeout',
    );
    expect(members.find((m) => m.node === 'myapp@10.0.0.2')?.beam?.connection.status).toBe(
      'connected',
    );
  });

  it('keeps showing a failure while the manager retries', () => {
    const { source, manager, collector } = setup();
    source.set([pod('10.0.0.1')]);
    collector.flush();
    manager.set('myapp@10.0.0.1', {
      status: 'auth_failed',
      since: 3,
      code: 'auth_failed',
      reason: 'node myapp@10.0.0.1 rejected the cookie',
    });
    manager.set('myapp@10.0.0.1', { status: 'connecting', since: 4 });
    collector.flush();
    expect(state(collector).members[0]?.beam?.connection.status).toBe('auth_failed');
    expect(state(collector).unclustered[0]?.reason).toBe('auth_failed');
  });

  it('stops tracking a member that left, and reports it', () => {
    const { source, manager, collector, timeline } = setup();
    source.set([pod('10.0.0.1'), pod('10.0.0.2')]);
    collector.flush();
    source.set([pod('10.0.0.1')]);
    collector.flush();
    expect(manager.tracked).toEqual(['myapp@10.0.0.1']);
    expect(timeline.map((event) => event.kind)).toEqual([
      'member_joined',
      'member_joined',
      'member_left',
    ]);
    expect(state(collector).members.map((member) => member.key)).toEqual(['myapp@10.0.0.1']);
  });

  it('merges registry count changes into one event per interval', async () => {
    const { source, manager, collector, timeline } = setup({
      pollIntervalMs: 20,
      registryEventIntervalMs: 1500,
    });
    const node = 'myapp@10.0.0.1';
    manager.globalNames.set(node, 1);
    source.set([pod('10.0.0.1')]);
    collector.flush();
    manager.set(node, connected());
    const count = () =>
      state(collector).members[0]?.beam?.registries.find((entry) => entry.registry === 'global')
        ?.count;
    await until(() => count() === 1, 'first count');
    manager.globalNames.set(node, 2);
    await until(() => count() === 2, 'second count');
    manager.globalNames.set(node, 3);
    await until(() => count() === 3, 'third count');
    await until(() => timeline.some((event) => event.kind === 'registry_changed'), 'the event');
    const changes = timeline.filter((event) => event.kind === 'registry_changed');
    expect(changes).toHaveLength(1);
    expect(changes[0]?.registries).toEqual([{ node, registry: 'global', from: 1, to: 3 }]);
  });

  it('adds Kubernetes workload events to the timeline', () => {
    const { source, collector, timeline } = setup();
    source.emit('event', {
      uid: 'e1',
      type: 'Normal',
      reason: 'ScalingReplicaSet',
      message: 'Scaled up replica set myapp-abc to 4',
      involvedObject: { kind: 'Deployment', name: 'myapp' },
      count: 1,
      lastTimestamp: null,
    });
    expect(timeline).toEqual([
      expect.objectContaining({
        kind: 'kubernetes_event',
        message: 'ScalingReplicaSet deployment/myapp: Scaled up replica set myapp-abc to 4',
      }),
    ]);
    expect(collector.snapshot().timeline).toHaveLength(1);
  });

  it('runs without a distribution side and says why', () => {
    const source = new FakeSource();
    source.current = [pod('10.0.0.1')];
    const collector = new Collector({
      clusterId: 'unit',
      localNode: 'beamscope@127.0.0.1',
      source,
      manager: null,
      distributionError: { code: 'cookie_missing', reason: 'the cookie file /x is empty' },
    }).start();
    collectors.push(collector);
    const current = state(collector);
    expect(current.distribution).toEqual({
      state: 'error',
      code: 'cookie_missing',
      reason: 'the cookie file /x is empty',
    });
    expect(current.unclustered[0]).toMatchObject({
      reason: 'unreachable',
      detail: 'the cookie file /x is empty',
    });
  });
});

describe('Ring and NodeHistory', () => {
  it('keeps the newest items up to its capacity', () => {
    const ring = new Ring<number>(3);
    expect(ring.oldest()).toBeUndefined();
    for (let index = 1; index <= 5; index += 1) ring.push(index);
    expect(ring.toArray()).toEqual([3, 4, 5]);
    expect(ring.oldest()).toBe(3);
    expect(ring.size).toBe(3);
    expect(() => new Ring(0)).toThrow(RangeError);
  });

  it('bounds a weighted ring by count and by weight, keeping the newest', () => {
    const ring = new WeightedRing<string>(3, 10);
    ring.push('a', 2);
    ring.push('b', 2);
    ring.push('c', 2);
    ring.push('d', 2);
    expect(ring.toArray()).toEqual(['b', 'c', 'd']);
    ring.push('heavy', 7);
    expect(ring.toArray()).toEqual(['d', 'heavy']);
    expect(ring.weight).toBe(9);
    ring.push('huge', 50);
    expect(ring.toArray()).toEqual(['huge']);
    expect(ring.oldest()).toBe('huge');
  });

  it('holds one window of points per node at poll resolution', () => {
    const history = new NodeHistory(10_000, 2000);
    for (let at = 0; at <= 20_000; at += 2000) {
      history.record('a@h', { at, processCount: at, registeredNames: null, memoryBytes: null });
    }
    const points = history.points('a@h', 20_000);
    expect(points.map((point) => point.at)).toEqual([
      10_000, 12_000, 14_000, 16_000, 18_000, 20_000,
    ]);
    history.forget('a@h');
    expect(history.points('a@h', 20_000)).toEqual([]);
  });
});
