/**
 * Hostile peers (test/support/hostile-peer.ts) complete the handshake and then misbehave: each
 * must close only its own connection, while a connection to a real node keeps working.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { atom } from '@/server/erlang/codec';
import { connectNode, type NodeConnection } from '@/server/erlang/connection';
import { BeamscopeError } from '@/server/errors';

import { startBeamNode, type BeamNode } from '../../support/beam';
import {
  startHostilePeer,
  type HostileBehaviour,
  type HostilePeer,
} from '../../support/hostile-peer';

const COOKIE = `hostile_cookie_${process.pid}`;
const LOCAL = `beamscope_ho${process.pid.toString(16).slice(-4)}@127.0.0.1`;

describe('hostile peers', () => {
  let node: BeamNode | undefined;
  let real: NodeConnection;
  const peers: HostilePeer[] = [];
  const connections: NodeConnection[] = [];

  beforeAll(async () => {
    node = await startBeamNode({ name: `ch_${process.pid}@127.0.0.1`, cookie: COOKIE });
    real = await connectNode(node.name, { localName: LOCAL, cookie: COOKIE });
    connections.push(real);
  });

  afterAll(async () => {
    for (const connection of connections) connection.close();
    await Promise.all(peers.map((peer) => peer.stop()));
    await node?.stop();
  });

  async function connectToHostile(behaviour: HostileBehaviour, tickIntervalMs = 15_000) {
    const name = `evil_${behaviour.replace(/-/g, '_')}@127.0.0.1`;
    const peer = await startHostilePeer({ name, cookie: COOKIE, behaviour });
    peers.push(peer);
    const connection = await connectNode(name, {
      localName: LOCAL,
      cookie: COOKIE,
      port: peer.port,
      tickIntervalMs,
      maxFrameBytes: 4 * 1024 * 1024,
    });
    connections.push(connection);
    return connection;
  }

  function downReason(connection: NodeConnection): Promise<BeamscopeError> {
    return new Promise((resolve) => connection.once('down', resolve));
  }

  const cases: Array<[HostileBehaviour, string, number?]> = [
    ['garbage', 'protocol'],
    ['huge-length', 'frame_too_large'],
    // A frame that never completes is silence: no whole frame within four tick intervals.
    ['never-ending-frame', 'node_down', 100],
    ['silent', 'node_down', 100],
  ];

  for (const [behaviour, code, tickIntervalMs] of cases) {
    it(`${behaviour}: closes that connection (${code}); the real node keeps working`, async () => {
      const pendingOnReal = real.rpc('timer', 'sleep', [200], { timeoutMs: 10_000 });
      const connection = await connectToHostile(behaviour, tickIntervalMs);
      const pendingOnHostile = connection.rpc('erlang', 'node', [], { timeoutMs: 10_000 });
      const reason = await downReason(connection);
      expect(reason.code).toBe(code);
      await expect(pendingOnHostile).rejects.toMatchObject({ code: 'node_down' });
      expect(connection.connected).toBe(false);
      expect(await pendingOnReal).toBe(atom('ok'));
      expect(await real.rpc('erlang', 'node', [])).toBe(atom(node!.name));
      expect(real.connected).toBe(true);
    });
  }

  it('a peer that only ticks stays connected, and its calls time out', async () => {
    const connection = await connectToHostile('ticking', 100);
    await expect(connection.rpc('erlang', 'node', [], { timeoutMs: 600 })).rejects.toMatchObject({
      code: 'timeout',
    });
    expect(connection.connected).toBe(true);
  });

  it('the hostile peer checks the cookie like a node: a wrong one is auth_failed', async () => {
    const peer = await startHostilePeer({
      name: 'evil_auth@127.0.0.1',
      cookie: COOKIE,
      behaviour: 'silent',
    });
    peers.push(peer);
    const error = await connectNode(peer.name, {
      localName: LOCAL,
      cookie: 'wrong',
      port: peer.port,
    }).catch((caught: unknown) => caught);
    expect((error as BeamscopeError).code).toBe('auth_failed');
    expect(peer.outcomes).toEqual(['bad_digest']);
  });
});
