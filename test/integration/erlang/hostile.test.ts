/**
 * Hostile peers (test/support/hostile-peer.ts) complete the handshake and then misbehave: each
 * must close only its own connection, while a connection to a real node keeps working.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { memberFinding } from '@/lib/diagnosis';
import { buildClusterState, blankSide } from '@/lib/state-builder';
import { atom } from '@/server/erlang/codec';
import { connectNode } from '@/server/erlang/connect';
import type { NodeConnection } from '@/server/erlang/connection';
import { ConnectionManager } from '@/server/erlang/manager';
import { BeamscopeError } from '@/server/errors';

import { startBeamNode, type BeamNode } from '../../support/beam';
import {
  otp22Challenge,
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

  it('a node on OTP 22 or older: otp_too_old, and a verdict of its own', async () => {
    const name = 'old_otp@127.0.0.1';
    const peer = await startHostilePeer({
      name,
      cookie: COOKIE,
      behaviour: 'silent',
      challengeBody: otp22Challenge(name),
    });
    peers.push(peer);
    const manager = new ConnectionManager({ localName: LOCAL, cookie: COOKIE, port: peer.port });
    try {
      manager.track([name]);
      const deadline = Date.now() + 10_000;
      while (manager.state(name).status === 'connecting' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const connection = manager.state(name);
      expect(connection).toMatchObject({ status: 'unreachable', code: 'otp_too_old' });

      // What the dashboard and the doctor make of it: not a name mismatch, not "unreachable".
      const state = buildClusterState({
        clusterId: 'old',
        at: 1,
        localNode: LOCAL,
        kubernetes: { state: 'ok', since: 1 },
        distribution: { state: 'ok' },
        kubernetesMembers: [
          {
            ip: '127.0.0.1',
            podName: 'old-otp-0',
            podUid: null,
            k8sNode: null,
            zone: null,
            hostname: null,
            ready: true,
            serving: true,
            terminating: false,
            phase: 'Running',
            restarts: 0,
            startTime: null,
            beamNode: name,
            source: { kind: 'EndpointSlice', name: 'old' },
          },
        ],
        beam: new Map([[name, blankSide(name, { ...connection })]]),
      });
      expect(state.unclustered.map((entry) => entry.reason)).toEqual(['otp_too_old']);
      const finding = memberFinding(state.members[0]!, state);
      expect(finding).toMatchObject({ verdict: 'fail', code: 'otp_too_old' });
      expect(finding.reason).toContain('OTP older than 23 — beamscope needs 23 or newer');
    } finally {
      await manager.close();
    }
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
