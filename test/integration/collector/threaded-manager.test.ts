/**
 * The collector's connection manager on its own thread, against real nodes: what crosses between
 * the threads (states, replies decoded or left encoded, a badrpc's reason, a whole probe's report
 * with its links followed there) arrives as the manager and the collector on the calling thread
 * would have it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BeamscopeError } from '@/server/errors';
import { atom } from '@/server/erlang/codec';
import { BadRpcError, erlangError } from '@/server/erlang/errors';
import { ConnectionManager, type NodeConnectionState } from '@/server/erlang/manager';
import { runProbes, type NodeProbeReport } from '@/server/erlang/probes';
import { compareCopies } from '@/server/collector/divergence';
import { LinkFollower } from '@/server/collector/link-follower';
import { ThreadedConnectionManager } from '@/server/collector/thread/threaded-manager';

import { startBeamNode, type BeamNode } from '../../support/beam';
import { waitForState } from '../../support/connections';

const COOKIE = `thr_cookie_${process.pid}`;
const tag = process.pid;
const LOCAL = `beamscope_th${tag.toString(16).slice(-4)}@127.0.0.1`;

let a: BeamNode;
let b: BeamNode;
let threaded: ThreadedConnectionManager;
let local: ConnectionManager;

beforeAll(async () => {
  a = await startBeamNode({ name: `ta_${tag}@127.0.0.1`, cookie: COOKIE });
  b = await startBeamNode({ name: `tb_${tag}@127.0.0.1`, cookie: COOKIE, connectTo: [a.name] });
  threaded = new ThreadedConnectionManager(
    { localName: LOCAL, cookie: COOKIE, backoff: { initialMs: 100, maxMs: 400 } },
    'threaded-test',
  );
  // Another name: each node holds one connection per name.
  local = new ConnectionManager({ localName: `x${LOCAL}`, cookie: COOKIE });
});

afterAll(async () => {
  await Promise.all([threaded?.close(), local?.close()]);
  await Promise.all([a?.stop(), b?.stop()]);
});

describe('ThreadedConnectionManager with real nodes', () => {
  it('tells states as they change and answers calls as the manager on this thread does', async () => {
    const seen: string[] = [];
    threaded.on('state', (node, state) => {
      if (node === a.name) seen.push(state.status);
    });
    threaded.track([a.name, b.name]);
    // At once, as the manager's own `track` does.
    expect(threaded.state(a.name).status).toBe('connecting');
    await waitForState(threaded, a.name, 'connected');
    await waitForState(threaded, b.name, 'connected');
    expect(seen[0]).toBe('connecting');
    expect(seen.at(-1)).toBe('connected');

    // The same interned atom as a decode on this thread gives.
    const peers = await threaded.rpc(a.name, 'erlang', 'nodes', []);
    expect(peers).toEqual([atom(b.name)]);
    expect((peers as unknown[])[0]).toBe(atom(b.name));
    expect(peers).toEqual(await local.rpc(a.name, 'erlang', 'nodes', []));

    const encoded = await threaded.rpc(a.name, 'erlang', 'node', [], { encodedReply: true });
    expect(Buffer.isBuffer(encoded)).toBe(true);
    expect((encoded as Buffer)[0]).toBe(131);
  });

  it('a remote exception rejects as a badrpc with its reason term', async () => {
    const failure = await threaded
      .rpc(a.name, 'erlang', 'binary_to_integer', [Buffer.from('not a number')])
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BadRpcError);
    expect(failure).toMatchObject({ surface: 'erlang', code: 'badrpc' });
    const inThread = await local
      .rpc(a.name, 'erlang', 'binary_to_integer', [Buffer.from('not a number')])
      .catch((error: unknown) => error);
    expect((failure as BadRpcError).reason).toEqual((inThread as BadRpcError).reason);
  });

  it('a node that cannot be reached fails with its distribution error', async () => {
    const failure = await threaded
      .rpc(`absent_${tag}@127.0.0.1`, 'erlang', 'node', [], { timeoutMs: 2000 })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BeamscopeError);
    expect(failure).toMatchObject({ surface: 'erlang', code: 'node_not_registered' });
  });

  it('runs a whole probe there and follows its links there: the same as here', async () => {
    const options = { timeoutMs: 5000 };
    // A small cluster: every probe reads the links.
    const plan = { knownPeers: 1, clusterSize: 2 };
    const there = await threaded.probe(a.name, options, plan);
    const follower = new LinkFollower();
    const linkOptions = follower.plan(a.name, plan);
    expect(linkOptions.links).toBe(true);
    const report = await runProbes(
      (module, fn, args, callOptions) => local.rpc(a.name, module, fn, args, callOptions),
      { ...options, ...linkOptions },
    );
    const here = follower.follow(a.name, report, linkOptions, Date.now());

    const steady = (probed: NodeProbeReport) => ({
      versions: [probed.otpRelease, probed.ertsVersion, probed.elixirVersion],
      schedulers: probed.schedulers,
      connectedNodes: probed.connectedNodes,
      registries: probed.registries,
      errors: Object.keys(probed.errors),
      busyLimitBytes: probed.links?.busyLimitBytes,
    });
    expect(steady(there.report)).toEqual(steady(report));
    expect(there.report.processCount).toBeGreaterThan(0);
    // What crosses is the links followed, not the thousand counters behind them.
    expect(there.report.links).toMatchObject({ counters: [], controllers: null });
    expect(there.links.links?.map((link) => link.peer)).toEqual([b.name]);
    expect(there.links.links?.map((link) => link.peer)).toEqual(here.links?.map((l) => l.peer));
    expect(there.links.flaps).toEqual([]);
    // The port's queue of the one link was read there, as here.
    expect(there.links.links?.[0]?.queueBytes).toEqual(expect.any(Number));
    expect(here.links?.[0]?.queueBytes).toEqual(expect.any(Number));
  });

  it("compares a registry's copies there as the collector would here", async () => {
    const nodes = [a.name, b.name];
    const there = await threaded.compare('global', nodes, { timeoutMs: 5000 });
    const here = await compareCopies(
      (node) => (module, fn, args, callOptions) => local.rpc(node, module, fn, args, callOptions),
      'global',
      nodes,
      { timeoutMs: 5000 },
    );
    expect(there).not.toBeNull();
    expect(there).toEqual(here);
    expect(there).toMatchObject({
      nodes,
      missing: { count: 0 },
      duplicates: { count: 0 },
    });
  });

  it('drops a connection with the reason given, then connects again', async () => {
    const statuses: string[] = [];
    const listener = (node: string, state: NodeConnectionState) => {
      if (node === b.name) statuses.push(state.status);
    };
    threaded.on('state', listener);
    threaded.drop(b.name, erlangError('timeout', `node ${b.name} answered no probe`));
    await waitForState(threaded, b.name, 'timeout');
    expect(threaded.state(b.name)).toMatchObject({ code: 'timeout' });
    await waitForState(threaded, b.name, 'connected');
    threaded.off('state', listener);
    expect(statuses).toEqual(['timeout', 'connecting', 'connected']);
  });

  it('a node called before it is tracked shows connected once tracked, as the thread holds it', async () => {
    const c = await startBeamNode({ name: `tc_${tag}@127.0.0.1`, cookie: COOKIE });
    try {
      // A lookup or a comparison may reach a node before the collector tracks it.
      expect(await threaded.rpc(c.name, 'erlang', 'node', [])).toBe(atom(c.name));
      threaded.track([a.name, b.name, c.name]);
      // The thread's manager has it connected and tells nothing new: this side must know.
      await waitForState(threaded, c.name, 'connected', 2000);
    } finally {
      threaded.track([a.name, b.name]);
      await c.stop();
    }
  });

  it('forgets the nodes tracked no more, and refuses calls once closed', async () => {
    threaded.track([a.name]);
    expect(threaded.state(b.name)).toMatchObject({ status: 'unreachable', code: 'not_connected' });
    await threaded.close();
    await expect(threaded.rpc(a.name, 'erlang', 'node', [])).rejects.toMatchObject({
      code: 'node_down',
    });
  });
});
