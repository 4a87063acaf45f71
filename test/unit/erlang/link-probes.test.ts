import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { LinkTracker, LINKS_PER_NODE, LINK_PEERS_PER_PROBE } from '@/server/collector/links';
import { encodeTerm } from '@/server/erlang/codec';
import { Atom, Charlist, Pid, Port, atom, tuple, type Term } from '@/server/erlang/codec/terms';
import { erlangError } from '@/server/erlang/errors';
import {
  distBufBusyLimitProbe,
  distControllersProbe,
  MAX_QUEUE_READS,
  nodesInfoProbe,
  portQueueSizeProbe,
  probeLinks,
  type LinkReport,
  type RpcFunction,
} from '@/server/erlang/probes';
import {
  distControllersOf,
  nodesInfoOf,
  skimDistControllers,
  skimNodesInfo,
} from '@/server/erlang/probes/catalogue-links';

import { termArbitrary } from './codec-arbitraries';

const A = atom('a@127.0.0.1');
const port = (id: number) => new Port(A, BigInt(id), 1);

/** One `nodes_info` entry as OTP 25.2 answers it (seen on a real node). */
const info = (node: string, inPackets: number, outPackets: number, type = 'normal'): Term =>
  tuple(atom(node), [
    tuple(atom('owner'), new Pid(A, 91, 0, 1)),
    tuple(atom('state'), atom('up')),
    tuple(
      atom('address'),
      tuple(
        atom('net_address'),
        tuple(tuple(127, 0, 0, 1), 40613),
        new Charlist('127.0.0.1'),
        atom('tcp'),
        atom('inet'),
      ),
    ),
    tuple(atom('type'), atom(type)),
    tuple(atom('in'), inPackets),
    tuple(atom('out'), outPackets),
  ]);

/** What a reader returns, or the message it fails with: two readers compared on both. */
function read(readReply: () => unknown): unknown {
  try {
    return readReply();
  } catch (error) {
    return { error: (error as Error).message };
  }
}

describe('link probes: parsers', () => {
  it('reads nodes_info counters, hidden connections marked, the list capped', () => {
    const reply = tuple(atom('ok'), [
      info('b@127.0.0.1', 8, 9),
      info('beamscope_maint_@127.0.0.1', 40, 41, 'hidden'),
      info('c@127.0.0.1', 2n as unknown as number, 3),
    ]);
    expect(nodesInfoProbe(10).parse(encodeTerm(reply))).toEqual({
      links: [
        { node: 'b@127.0.0.1', hidden: false, inPackets: 8, outPackets: 9 },
        { node: 'beamscope_maint_@127.0.0.1', hidden: true, inPackets: 40, outPackets: 41 },
        { node: 'c@127.0.0.1', hidden: false, inPackets: 2, outPackets: 3 },
      ],
      truncated: false,
    });
    expect(nodesInfoProbe(1).parse(encodeTerm(reply)).truncated).toBe(true);
    expect(() => nodesInfoProbe(10).parse(encodeTerm(tuple(atom('error'), atom('x'))))).toThrow(
      /expected \{ok, NodesInfo\}/,
    );
    expect(() =>
      nodesInfoProbe(10).parse(encodeTerm(tuple(atom('ok'), [tuple(atom('b@h'), [])]))),
    ).toThrow(/node_info 'in'/);
  });

  it('reads nodes_info from its bytes as from the decoded reply, skimming the usual form', () => {
    const usual = tuple(
      atom('ok'),
      Array.from({ length: 50 }, (_, index) =>
        info(`n${index}@127.0.0.1`, index, 2 ** 33 + index, index % 7 ? 'normal' : 'hidden'),
      ),
    );
    const bytes = encodeTerm(usual);
    expect(skimNodesInfo(bytes)).toEqual(nodesInfoOf(usual));
    expect(nodesInfoProbe(20).parse(bytes)).toEqual({
      links: nodesInfoOf(usual).slice(0, 20),
      truncated: true,
    });

    // Replies of every form, usual or not: read from the bytes (skimmed, or decoded when the
    // skim declines), they give what the decoded reply gives, or fail with the same error.
    const value = termArbitrary({ maxDepth: 2 });
    const key = fc.constantFrom('owner', 'state', 'address', 'type', 'in', 'out', 'other');
    const pair = fc.oneof(
      { weight: 8, arbitrary: fc.tuple(key, value).map(([name, term]) => tuple(atom(name), term)) },
      {
        weight: 4,
        arbitrary: fc
          .tuple(
            fc.constantFrom('in', 'out'),
            fc.oneof(fc.nat(), fc.bigInt({ min: 0n, max: 1n << 70n })),
          )
          .map(([name, count]) => tuple(atom(name), count)),
      },
      {
        weight: 2,
        arbitrary: fc
          .constantFrom('hidden', 'normal')
          .map((type) => tuple(atom('type'), atom(type))),
      },
      { weight: 1, arbitrary: value },
    );
    const entry = fc.oneof(
      {
        weight: 8,
        arbitrary: fc
          .tuple(fc.constantFrom('a@h', 'b@h'), fc.array(pair, { maxLength: 8 }))
          .map(([node, pairs]) => tuple(atom(node), pairs)),
      },
      { weight: 1, arbitrary: value },
    );
    const reply = fc.oneof(
      {
        weight: 8,
        arbitrary: fc.array(entry, { maxLength: 4 }).map((entries) => tuple(atom('ok'), entries)),
      },
      { weight: 1, arbitrary: value },
    );
    let skimmed = 0;
    fc.assert(
      fc.property(reply, (term) => {
        const encoded = encodeTerm(term);
        if (skimNodesInfo(encoded)) skimmed++;
        expect(read(() => nodesInfoProbe(1000).parse(encoded).links)).toEqual(
          read(() => nodesInfoOf(term)),
        );
      }),
      { numRuns: 3000 },
    );
    expect(skimmed).toBeGreaterThan(300);
  });

  it('reads dist_ctrl as ports or processes, refusing anything else', () => {
    const pid = new Pid(A, 7, 0, 1);
    expect(
      distControllersProbe(10).parse(
        encodeTerm([tuple(atom('b@h'), port(13)), tuple(atom('c@h'), pid)]),
      ),
    ).toEqual([
      { node: 'b@h', controller: port(13) },
      { node: 'c@h', controller: pid },
    ]);
    expect(() => distControllersProbe(10).parse(encodeTerm([tuple(atom('b@h'), 13)]))).toThrow(
      /a port or pid/,
    );
    // Entries past the cap are not read, as before they were cut.
    expect(
      distControllersProbe(1).parse(encodeTerm([tuple(atom('b@h'), pid), tuple(atom('c@h'), 13)])),
    ).toEqual([{ node: 'b@h', controller: pid }]);

    // Replies of every form read from the bytes (skimmed, or decoded when the skim declines)
    // give what the decoded reply gives, or fail with the same error.
    const value = termArbitrary({ maxDepth: 2 });
    const controller = fc.oneof(
      fc.nat(50).map((id) => port(id)),
      fc.nat(50).map((id) => new Pid(A, id, 0, 1)),
    );
    const entry = fc.oneof(
      {
        weight: 8,
        arbitrary: fc
          .tuple(fc.constantFrom('a@h', 'b@h'), controller)
          .map(([node, owner]) => tuple(atom(node), owner)),
      },
      { weight: 1, arbitrary: value },
    );
    const reply = fc.oneof(
      { weight: 8, arbitrary: fc.array(entry, { maxLength: 5 }) },
      { weight: 1, arbitrary: value },
    );
    let skimmed = 0;
    fc.assert(
      fc.property(reply, fc.nat(6), (term, cap) => {
        const encoded = encodeTerm(term);
        if (skimDistControllers(encoded, cap)) skimmed++;
        expect(read(() => distControllersProbe(cap).parse(encoded))).toEqual(
          read(() => distControllersOf(term, cap)),
        );
      }),
      { numRuns: 3000 },
    );
    expect(skimmed).toBeGreaterThan(300);
    expect(distControllersProbe(10).args).toEqual([atom('dist_ctrl')]);
  });

  it('reads the busy limit and a port queue, a closed port being null', () => {
    expect(distBufBusyLimitProbe.parse(1_048_576)).toBe(1_048_576);
    expect(distBufBusyLimitProbe.args).toEqual([atom('dist_buf_busy_limit')]);
    const queue = portQueueSizeProbe(port(13));
    expect([queue.module, queue.fn]).toEqual(['erlang', 'port_info']);
    // The port goes back as the node sent it: no atom but the node's own name and queue_size.
    expect(queue.args).toEqual([port(13), atom('queue_size')]);
    expect(queue.parse(tuple(atom('queue_size'), 114_389))).toBe(114_389);
    expect(queue.parse(atom('undefined'))).toBeNull();
  });
});

/** A node whose links are `peers` (counters and port ids); `queues` by port id. */
function linkNode(
  peers: Array<{ node: string; in: number; out: number; port: number }>,
  queues: Record<number, number> = {},
  failing: string[] = [],
) {
  const calls: string[] = [];
  // Honours `encodedReply` as the connection does: the reply's term_to_binary bytes.
  const rpc: RpcFunction = async (module, fn, args, options) => {
    const reply = answer(module, fn, args);
    return options?.encodedReply ? encodeTerm(reply) : reply;
  };
  const answer = (module: string, fn: string, args: Term[]): Term => {
    const first = args[0];
    const name = `${module}:${fn}${first instanceof Atom ? `(${first.name})` : ''}`;
    calls.push(name);
    if (failing.includes(name)) throw erlangError('timeout', `${name} timed out`);
    if (name === 'net_kernel:nodes_info')
      return tuple(
        atom('ok'),
        peers.map((peer) => info(peer.node, peer.in, peer.out)),
      );
    if (name === 'erlang:system_info(dist_ctrl)')
      return peers.map((peer) => tuple(atom(peer.node), port(peer.port)));
    if (name === 'erlang:system_info(dist_buf_busy_limit)') return 1_048_576;
    if (name === 'erlang:port_info')
      return tuple(atom('queue_size'), queues[Number((first as Port).id)] ?? 0);
    throw erlangError('badrpc', `undef ${name}`);
  };
  return { rpc, calls };
}

const peersOf = (count: number, out = (index: number) => index) =>
  Array.from({ length: count }, (_, index) => ({
    node: `p${String(index).padStart(2, '0')}@h`,
    in: 1,
    out: out(index),
    port: 100 + index,
  }));

describe('probeLinks', () => {
  it('reads counters, the limit, and the queues of at most four links, the busiest', async () => {
    const { rpc, calls } = linkNode(peersOf(10), { 109: 50_000 });
    const report = await probeLinks(rpc, { timeoutMs: 100, cap: 1000 });
    expect(report.counters).toHaveLength(10);
    expect(report.busyLimitBytes).toBe(1_048_576);
    expect(report.queues.map((queue) => queue.node)).toEqual(['p09@h', 'p08@h', 'p07@h', 'p06@h']);
    expect(report.queues[0]).toEqual({ node: 'p09@h', queueBytes: 50_000 });
    expect(calls.filter((call) => call === 'erlang:port_info')).toHaveLength(MAX_QUEUE_READS);
  });

  it('reads the links the chooser names, never more than four', async () => {
    const { rpc, calls } = linkNode(peersOf(10));
    const report = await probeLinks(rpc, {
      timeoutMs: 100,
      cap: 1000,
      choose: () => ['p01@h', 'nobody@h', 'p02@h', 'p03@h', 'p04@h', 'p05@h'],
    });
    expect(report.queues.map((queue) => queue.node)).toEqual(['p01@h', 'p02@h', 'p03@h', 'p04@h']);
    expect(calls.filter((call) => call === 'erlang:port_info')).toHaveLength(4);
  });

  it('keeps the counters when a later call fails, and fails when nodes_info does', async () => {
    const late = linkNode(peersOf(2), {}, ['erlang:system_info(dist_ctrl)']);
    const report = await probeLinks(late.rpc, { timeoutMs: 100, cap: 1000 });
    expect(report.counters).toHaveLength(2);
    expect(report.queues).toEqual([]);
    expect(report.error?.code).toBe('timeout');
    const early = linkNode(peersOf(2), {}, ['net_kernel:nodes_info']);
    await expect(probeLinks(early.rpc, { timeoutMs: 100, cap: 1000 })).rejects.toThrow(/timed out/);
  });
});

const report = (
  counters: Array<[string, number, number]>,
  queues: Array<[string, number]> = [],
): LinkReport => ({
  counters: counters.map(([node, inPackets, outPackets]) => ({
    node,
    hidden: false,
    inPackets,
    outPackets,
  })),
  truncated: false,
  busyLimitBytes: 1_048_576,
  queues: queues.map(([node, queueBytes]) => ({ node, queueBytes })),
  controllers: null,
});

describe('LinkTracker', () => {
  it('turns counters into rates, keeps a link’s first sighting, and restarts it after a reset', () => {
    const tracker = new LinkTracker();
    const first = tracker.observe('a@h', report([['b@h', 10, 20]]), 1000);
    expect(first).toEqual([
      { peer: 'b@h', inRate: null, outRate: null, queueBytes: null, since: 1000 },
    ]);
    // Within the rate window: no rate yet, the window runs on from the first reading.
    const soon = tracker.observe('a@h', report([['b@h', 12, 900]], [['b@h', 0]]), 3000);
    expect(soon[0]).toMatchObject({ inRate: null, outRate: null, queueBytes: 0 });
    const second = tracker.observe('a@h', report([['b@h', 60, 60_020]], [['b@h', 9000]]), 6000);
    expect(second).toEqual([
      { peer: 'b@h', inRate: 10, outRate: 12_000, queueBytes: 9000, since: 1000 },
    ]);
    // Not read this time: the last queue reading stands, and so does the rate until the window.
    const later = tracker.observe('a@h', report([['b@h', 61, 60_021]]), 8000)[0]!;
    expect(later).toMatchObject({ queueBytes: 9000, outRate: 12_000 });
    // Counters went backwards: a new connection, seen from now.
    const reset = tracker.observe('a@h', report([['b@h', 1, 1]]), 12_000);
    expect(reset[0]).toMatchObject({
      inRate: null,
      outRate: null,
      since: 12_000,
      queueBytes: null,
    });
  });

  it('lists busy links first, then the busiest, at most LINKS_PER_NODE', () => {
    const tracker = new LinkTracker();
    const peers = Array.from({ length: 40 }, (_, index) => `p${index}@h`);
    tracker.observe('a@h', report(peers.map((peer) => [peer, 0, 0])), 0);
    const links = tracker.observe(
      'a@h',
      report(
        peers.map((peer, index) => [peer, 0, index]),
        [['p3@h', 20_000]],
      ),
      10_000,
    );
    expect(links).toHaveLength(LINKS_PER_NODE);
    expect(links.slice(0, 3).map((link) => link.peer)).toEqual(['p3@h', 'p39@h', 'p38@h']);
  });

  it('chooses queued links, then the busiest, then one in turn', () => {
    const tracker = new LinkTracker();
    const peers = ['p1@h', 'p2@h', 'p3@h', 'p4@h', 'p5@h', 'p6@h'];
    tracker.observe('a@h', report(peers.map((peer) => [peer, 0, 0])), 0);
    tracker.observe(
      'a@h',
      report(
        peers.map((peer, index) => [peer, 0, index * 100]),
        [['p1@h', 500]],
      ),
      10_000,
    );
    const counters = report(peers.map((peer) => [peer, 0, 0])).counters;
    const chosen = tracker.chooser('a@h')(counters);
    expect(chosen.slice(0, 3)).toEqual(['p1@h', 'p6@h', 'p5@h']);
    expect(chosen).toHaveLength(4);
    // The one in turn moves on, so every link's queue is read now and then.
    const turns = new Set(Array.from({ length: 6 }, () => tracker.chooser('a@h')(counters)[3]));
    expect(turns.size).toBeGreaterThan(1);
  });

  it('reads a large cluster’s links every few probes', () => {
    const tracker = new LinkTracker();
    expect(tracker.due('a@h', LINK_PEERS_PER_PROBE)).toBe(true);
    expect(tracker.due('a@h', 3 * LINK_PEERS_PER_PROBE)).toBe(false);
    tracker.skipped('a@h');
    tracker.skipped('a@h');
    expect(tracker.due('a@h', 3 * LINK_PEERS_PER_PROBE)).toBe(true);
  });
});
