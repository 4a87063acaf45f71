/**
 * ConnectionManager with its `connect` seam: connections are real NodeConnections over in-memory
 * stream pairs whose far side answers rex calls, so sharing, coalescing, state and reconnects are
 * exercised without sockets.
 */
import { duplexPair, type Duplex } from 'node:stream';

import { afterEach, describe, expect, it } from 'vitest';

import { atom, Pid, Tuple, tuple } from '@/server/erlang/codec';
import type { ConnectOptions } from '@/server/erlang/connect';
import { NodeConnection } from '@/server/erlang/connection';
import { erlangError } from '@/server/erlang/errors';
import { encodeDistMessage, FrameReader, parseDistMessage } from '@/server/erlang/frames';
import {
  connectConcurrency,
  ConnectionManager,
  type NodeConnectionState,
} from '@/server/erlang/manager';
import { BeamscopeError } from '@/server/errors';

const COOKIE = 'unit_cookie';

interface FakeCluster {
  connect: (target: string, options: ConnectOptions) => Promise<NodeConnection>;
  calls: Array<{ target: string; options: ConnectOptions }>;
  /** The far side of each node's latest connection. */
  sides: Map<string, Duplex>;
  /** Make the next attempts to `node` fail with this error (undefined = succeed). */
  failures: Map<string, BeamscopeError>;
  /** Attempts in flight now, and the most seen at once. */
  inFlight: number;
  maxInFlight: number;
  /** Delay of each attempt. */
  delayMs: number;
}

function fakeCluster(): FakeCluster {
  const cluster: FakeCluster = {
    calls: [],
    sides: new Map(),
    failures: new Map(),
    inFlight: 0,
    maxInFlight: 0,
    delayMs: 5,
    connect: async (target, options) => {
      cluster.calls.push({ target, options });
      cluster.inFlight += 1;
      cluster.maxInFlight = Math.max(cluster.maxInFlight, cluster.inFlight);
      try {
        await new Promise((resolve) => setTimeout(resolve, cluster.delayMs));
        const failure = cluster.failures.get(target);
        if (failure) throw failure;
        const [ours, side] = duplexPair();
        cluster.sides.set(target, side);
        answerRex(side, target);
        return new NodeConnection(ours, {
          node: target,
          localName: options.localName,
          localCreation: 1,
          peerFlags: 0n,
          peerCreation: 1,
        });
      } finally {
        cluster.inFlight -= 1;
      }
    },
  };
  return cluster;
}

/** The far side: every rex call is answered with the node's own name. */
function answerRex(side: Duplex, node: string): void {
  const reader = new FrameReader({ headerBytes: 4, maxFrameBytes: 1 << 20 });
  side.on('error', () => undefined);
  side.on('data', (chunk: Buffer) => {
    reader.push(chunk);
    for (let frame = reader.next(); frame !== undefined; frame = reader.next()) {
      if (frame.length === 0) continue;
      const { payload } = parseDistMessage(frame);
      const from = (payload as Tuple).at(0) as Pid;
      side.write(encodeDistMessage(tuple(2, atom(''), from), tuple(atom('rex'), atom(node))));
    }
  });
}

async function until(condition: () => boolean, what = 'condition'): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within 3 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const managers: ConnectionManager[] = [];

function manager(
  cluster: FakeCluster,
  options: Partial<ConstructorParameters<typeof ConnectionManager>[0]> = {},
) {
  const created = new ConnectionManager({
    cookie: COOKIE,
    localName: 'beamscope_unit01@127.0.0.1',
    connect: cluster.connect,
    backoff: { initialMs: 10, maxMs: 40 },
    ...options,
  });
  managers.push(created);
  return created;
}

afterEach(async () => {
  await Promise.all(managers.splice(0).map((created) => created.close()));
});

describe('ConnectionManager', () => {
  it('shares one connection per node between concurrent calls', async () => {
    const cluster = fakeCluster();
    const subject = manager(cluster);
    const results = await Promise.all(
      [1, 2, 3, 4].map(() => subject.rpc('a@127.0.0.1', 'erlang', 'node', [])),
    );
    expect(results).toEqual([1, 2, 3, 4].map(() => atom('a@127.0.0.1')));
    await subject.rpc('a@127.0.0.1', 'erlang', 'node', []);
    expect(cluster.calls).toHaveLength(1);
    expect(subject.state('a@127.0.0.1').status).toBe('connected');
  });

  it('passes one stable local name, the cookie and the distribution options to every connect', async () => {
    const cluster = fakeCluster();
    const subject = new ConnectionManager({ cookie: COOKIE, connect: cluster.connect, port: 9100 });
    managers.push(subject);
    await subject.rpc('a@127.0.0.2', 'erlang', 'node', []);
    await subject.rpc('a@127.0.0.3', 'erlang', 'node', []);
    expect(subject.localName).toMatch(/^beamscope_maint_server@/);
    expect(cluster.calls.map((call) => call.options.localName)).toEqual([
      subject.localName,
      subject.localName,
    ]);
    expect(cluster.calls[0]?.options).toMatchObject({ cookie: COOKIE, port: 9100 });
    const other = new ConnectionManager({ cookie: COOKIE, connect: cluster.connect });
    managers.push(other);
    expect(other.localName).toBe(subject.localName);
  });

  it('reports connecting then connected through state events', async () => {
    const cluster = fakeCluster();
    const subject = manager(cluster);
    const events: Array<[string, NodeConnectionState['status']]> = [];
    subject.on('state', (node, state) => events.push([node, state.status]));
    subject.track(['a@127.0.0.1']);
    await until(() => subject.state('a@127.0.0.1').status === 'connected');
    expect(events).toEqual([
      ['a@127.0.0.1', 'connecting'],
      ['a@127.0.0.1', 'connected'],
    ]);
  });

  it('maps failures to states with the reason and code', async () => {
    const cluster = fakeCluster();
    cluster.failures.set(
      'a@127.0.0.1',
      erlangError('auth_failed', 'node a@127.0.0.1 rejected the cookie'),
    );
    cluster.failures.set('b@127.0.0.1', erlangError('timeout', 'too slow'));
    cluster.failures.set('c@127.0.0.1', erlangError('epmd_unreachable', 'no epmd'));
    const subject = manager(cluster, { backoff: { initialMs: 60_000, maxMs: 60_000 } });
    subject.track(['a@127.0.0.1', 'b@127.0.0.1', 'c@127.0.0.1']);
    await until(
      () => cluster.calls.length === 3 && subject.state('c@127.0.0.1').status !== 'connecting',
    );
    await until(() =>
      ['a', 'b', 'c'].every((n) => subject.state(`${n}@127.0.0.1`).status !== 'connecting'),
    );
    expect(subject.state('a@127.0.0.1')).toMatchObject({
      status: 'auth_failed',
      code: 'auth_failed',
      reason: 'node a@127.0.0.1 rejected the cookie',
    });
    expect(subject.state('b@127.0.0.1')).toMatchObject({ status: 'timeout', code: 'timeout' });
    expect(subject.state('c@127.0.0.1')).toMatchObject({
      status: 'unreachable',
      code: 'epmd_unreachable',
    });
  });

  it('a tracked node waiting to reconnect fails calls at once with its last error', async () => {
    const cluster = fakeCluster();
    cluster.failures.set('a@127.0.0.1', erlangError('dist_unreachable', 'refused'));
    const subject = manager(cluster, { backoff: { initialMs: 60_000, maxMs: 60_000 } });
    subject.track(['a@127.0.0.1']);
    await until(() => subject.state('a@127.0.0.1').status === 'unreachable');
    await expect(subject.rpc('a@127.0.0.1', 'erlang', 'node', [])).rejects.toMatchObject({
      code: 'dist_unreachable',
    });
    expect(cluster.calls).toHaveLength(1);
  });

  it('reconnects a tracked node with backoff until it succeeds', async () => {
    const cluster = fakeCluster();
    cluster.failures.set('a@127.0.0.1', erlangError('dist_unreachable', 'refused'));
    const subject = manager(cluster);
    subject.track(['a@127.0.0.1']);
    await until(() => cluster.calls.length >= 3, 'three attempts');
    cluster.failures.delete('a@127.0.0.1');
    await until(() => subject.state('a@127.0.0.1').status === 'connected', 'connected');
    expect(await subject.rpc('a@127.0.0.1', 'erlang', 'node', [])).toBe(atom('a@127.0.0.1'));
  });

  it('reconnects a tracked node whose connection went down', async () => {
    const cluster = fakeCluster();
    const subject = manager(cluster);
    const statuses: string[] = [];
    subject.on('state', (_node, state) => statuses.push(state.status));
    subject.track(['a@127.0.0.1']);
    await until(() => subject.state('a@127.0.0.1').status === 'connected');
    cluster.sides.get('a@127.0.0.1')?.end();
    await until(
      () => cluster.calls.length === 2 && subject.state('a@127.0.0.1').status === 'connected',
    );
    expect(statuses).toEqual(['connecting', 'connected', 'unreachable', 'connecting', 'connected']);
  });

  it('an untracked node is not reconnected after it goes down', async () => {
    const cluster = fakeCluster();
    const subject = manager(cluster);
    await subject.rpc('a@127.0.0.1', 'erlang', 'node', []);
    cluster.sides.get('a@127.0.0.1')?.end();
    await until(() => subject.state('a@127.0.0.1').status === 'unreachable');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(cluster.calls).toHaveLength(1);
    // The next call connects again on demand.
    expect(await subject.rpc('a@127.0.0.1', 'erlang', 'node', [])).toBe(atom('a@127.0.0.1'));
    expect(cluster.calls).toHaveLength(2);
  });

  it('track() closes nodes no longer in the list', async () => {
    const cluster = fakeCluster();
    const subject = manager(cluster);
    subject.track(['a@127.0.0.1', 'b@127.0.0.1']);
    await until(() => subject.state('b@127.0.0.1').status === 'connected');
    const closed = new Promise((resolve) => cluster.sides.get('b@127.0.0.1')?.once('end', resolve));
    subject.track(['a@127.0.0.1']);
    await closed;
    expect(subject.state('b@127.0.0.1')).toMatchObject({
      status: 'unreachable',
      code: 'not_connected',
    });
    expect(subject.state('a@127.0.0.1').status).toBe('connected');
  });

  it('bounds concurrent connection attempts', async () => {
    const cluster = fakeCluster();
    cluster.delayMs = 20;
    const subject = manager(cluster, { maxConcurrentConnects: 2 });
    const nodes = [2, 3, 4, 5, 6, 7].map((n) => `a@127.0.0.${n}`);
    subject.track(nodes);
    await until(() => nodes.every((node) => subject.state(node).status === 'connected'));
    expect(cluster.maxInFlight).toBe(2);
  });

  it('by default bounds connection attempts by the tracked nodes: one per 16, 32 to 128', async () => {
    expect([0, 100, 512, 1000, 2000, 10_000].map(connectConcurrency)).toEqual([
      32, 32, 32, 63, 125, 128,
    ]);
    const cluster = fakeCluster();
    cluster.delayMs = 20;
    const subject = manager(cluster);
    const nodes = Array.from({ length: 1000 }, (_, n) => `a@10.0.${n >> 8}.${n & 255}`);
    subject.track(nodes);
    await until(() => nodes.every((node) => subject.state(node).status === 'connected'));
    expect(cluster.maxInFlight).toBe(63);
  });

  it('close() closes every connection and stops reconnecting', async () => {
    const cluster = fakeCluster();
    const subject = manager(cluster);
    subject.track(['a@127.0.0.1']);
    await until(() => subject.state('a@127.0.0.1').status === 'connected');
    const closed = new Promise((resolve) => cluster.sides.get('a@127.0.0.1')?.once('end', resolve));
    await subject.close();
    await closed;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(cluster.calls).toHaveLength(1);
    await expect(subject.rpc('a@127.0.0.1', 'erlang', 'node', [])).rejects.toBeInstanceOf(
      BeamscopeError,
    );
  });

  it('rejects an invalid node name', async () => {
    const subject = manager(fakeCluster());
    await expect(subject.rpc('no-at-sign', 'erlang', 'node', [])).rejects.toMatchObject({
      code: 'invalid_node_name',
    });
  });
});
