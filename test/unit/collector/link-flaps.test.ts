import { afterEach, describe, expect, it, vi } from 'vitest';

import type { TimelineEvent, TimelineEventDraft } from '@/lib/cluster-state';
import { linkList, linksOf, type TimelineChange } from '@/lib/timeline-summary';
import { DownCauses } from '@/server/collector/down-causes';
import { EventStream } from '@/server/collector/event-stream';
import { FlapBatch, flapChange } from '@/server/collector/flap-batch';
import { FlapDetector, LinkFlaps, type LinkFlap } from '@/server/collector/link-flaps';
import { atom, Pid, Port } from '@/server/erlang/codec';
import { LinkFollower } from '@/server/collector/link-follower';
import type { LinkReport, NodeProbeReport } from '@/server/erlang/probes';

import { ip, n, pod, side, stateOf } from '../lib/fixtures';

afterEach(() => {
  vi.useRealTimers();
});

const CREATION = 7;
const port = (node: string, id: number, creation = CREATION) =>
  new Port(atom(node), BigInt(id), creation);

/**
 * A reading of `node`'s links: each visible peer with its controller port (null: not in
 * `dist_ctrl`) and its counters; `controllers: false` as when the `dist_ctrl` call failed.
 */
function reading(
  node: string,
  peers: Array<[peer: string, port: number | null, inPackets?: number, outPackets?: number]>,
  options: { creation?: number; controllers?: false; hidden?: Array<[string, number]> } = {},
): LinkReport {
  const creation = options.creation ?? CREATION;
  return {
    counters: peers.map(([peer, , inPackets = 100, outPackets = 100]) => ({
      node: peer,
      hidden: false,
      inPackets,
      outPackets,
    })),
    truncated: false,
    busyLimitBytes: 1_048_576,
    queues: [],
    controllers:
      options.controllers === false
        ? null
        : [
            ...peers
              .filter(([, id]) => id !== null)
              .map(([peer, id]) => ({ node: peer, controller: port(node, id!, creation) })),
            ...(options.hidden ?? []).map(([peer, id]) => ({
              node: peer,
              controller: port(node, id, creation),
            })),
          ],
  };
}

describe('FlapDetector', () => {
  it('finds a link whose controller changed between two readings, and only that link', () => {
    const detector = new FlapDetector();
    expect(
      detector.observe(
        n(1),
        reading(n(1), [
          [n(2), 10],
          [n(3), 11],
        ]),
        1000,
      ),
    ).toEqual([]);
    const flaps = detector.observe(
      n(1),
      reading(n(1), [
        [n(2), 14, 500, 500],
        [n(3), 11],
      ]),
      3000,
    );
    // The new connection counted past the old one's totals: the controller still tells.
    expect(flaps).toEqual([
      { node: n(1), peer: n(2), from: 1000, to: 3000, evidence: 'controller' },
    ]);
    expect(
      detector.observe(
        n(1),
        reading(n(1), [
          [n(2), 14],
          [n(3), 11],
        ]),
        5000,
      ),
    ).toEqual([]);
  });

  it('tells a TLS link made again by its controller process', () => {
    const detector = new FlapDetector();
    const tls = (serial: number): LinkReport => ({
      ...reading(n(1), [[n(2), null]]),
      controllers: [{ node: n(2), controller: new Pid(atom(n(1)), 90, serial, CREATION) }],
    });
    detector.observe(n(1), tls(0), 1000);
    expect(detector.observe(n(1), tls(0), 3000)).toEqual([]);
    expect(detector.observe(n(1), tls(1), 5000)).toHaveLength(1);
  });

  it('falls back to counters that went back when the controllers are not known', () => {
    const detector = new FlapDetector();
    const without = { controllers: false as const };
    detector.observe(n(1), reading(n(1), [[n(2), null, 100, 120]], without), 1000);
    expect(detector.observe(n(1), reading(n(1), [[n(2), null, 140, 150]], without), 3000)).toEqual(
      [],
    );
    expect(detector.observe(n(1), reading(n(1), [[n(2), null, 5, 5]], without), 5000)).toEqual([
      { node: n(1), peer: n(2), from: 3000, to: 5000, evidence: 'counters' },
    ]);
    // A connection still being set up is not in `dist_ctrl` yet and counts 0 and 0.
    detector.observe(n(1), reading(n(1), [[n(2), 30, 50, 50]]), 7000);
    expect(detector.observe(n(1), reading(n(1), [[n(2), null, 0, 0]]), 9000)).toHaveLength(1);
  });

  it('leaves a peer that was missing from a reading to the mesh’s own link events', () => {
    const detector = new FlapDetector();
    detector.observe(
      n(1),
      reading(n(1), [
        [n(2), 10],
        [n(3), 11],
      ]),
      1000,
    );
    detector.observe(n(1), reading(n(1), [[n(3), 11]]), 3000);
    expect(
      detector.observe(
        n(1),
        reading(n(1), [
          [n(2), 15],
          [n(3), 11],
        ]),
        5000,
      ),
    ).toEqual([]);
  });

  it('takes a node with another creation as a restart (its node_down), not as flaps', () => {
    const detector = new FlapDetector();
    detector.observe(
      n(1),
      reading(n(1), [
        [n(2), 10],
        [n(3), 11],
      ]),
      1000,
    );
    const restarted = reading(
      n(1),
      [
        [n(2), 10],
        [n(3), 12],
      ],
      { creation: CREATION + 1 },
    );
    expect(detector.observe(n(1), restarted, 3000)).toEqual([]);
    const again = reading(
      n(1),
      [
        [n(2), 10],
        [n(3), 13],
      ],
      { creation: CREATION + 1 },
    );
    expect(detector.observe(n(1), again, 5000)).toHaveLength(1);
  });

  it('ignores hidden connections such as beamscope’s own', () => {
    const detector = new FlapDetector();
    detector.observe(n(1), reading(n(1), [[n(2), 10]], { hidden: [['beamscope@h', 3]] }), 1000);
    const after = reading(n(1), [[n(2), 10]], { hidden: [['beamscope@h', 40]] });
    expect(detector.observe(n(1), after, 3000)).toEqual([]);
  });

  it('starts afresh for a forgotten node', () => {
    const detector = new FlapDetector();
    detector.observe(n(1), reading(n(1), [[n(2), 10]]), 1000);
    detector.forget(n(1));
    expect(detector.observe(n(1), reading(n(1), [[n(2), 99]]), 3000)).toEqual([]);
  });
});

const flap = (node: string, peer: string, from: number, to: number): LinkFlap => ({
  node,
  peer,
  from,
  to,
  evidence: 'controller',
});

/** A batch on fake timers whose released events land in `released`. */
function batchHarness(roundMs = 2500) {
  vi.useFakeTimers({ now: 100_000 });
  const released: TimelineChange[] = [];
  const batch = new FlapBatch({
    now: () => Date.now(),
    roundMs: () => roundMs,
    release: (changes) => released.push(...changes),
  });
  let seq = 0;
  const told = (draft: TimelineEventDraft, details?: Parameters<FlapBatch['published']>[1]) =>
    batch.published({ ...draft, seq: ++seq, at: Date.now() } as TimelineEvent, details);
  return { batch, released, told };
}

describe('FlapBatch', () => {
  it('tells a node reconnected to its peers as one event, whichever end saw each link', () => {
    const { batch, released } = batchHarness();
    const peers = [2, 3, 4, 5].map(n);
    // The node's own reading sees all four; each peer's own, at its probe, sees one.
    batch.hold([flap(n(2), n(1), 98_500, 100_500)]);
    vi.advanceTimersByTime(400);
    batch.hold(peers.map((peer) => flap(n(1), peer, 99_000, 101_000)));
    for (const peer of peers.slice(1)) {
      vi.advanceTimersByTime(400);
      batch.hold([flap(peer, n(1), 99_800, 101_800)]);
    }
    expect(released).toEqual([]);
    vi.advanceTimersByTime(2500);
    expect(released).toHaveLength(1);
    const [{ event, details }] = released as [TimelineChange];
    expect(event).toMatchObject({
      kind: 'link_flap',
      severity: 'warning',
      node: n(1),
      message: `${n(1)} reconnected to 4 peers between probes: ${peers.join(', ')}`,
      links: { count: 4 },
      // Each link's drop lies where its two ends' windows meet; the event spans them all.
      between: { from: 99_000, to: 101_000 },
    });
    expect(linksOf(details!.links!)).toHaveLength(4);
    let between: TimelineEventDraft['between'];
    const only = new FlapBatch({
      now: () => Date.now(),
      roundMs: () => 1000,
      release: ([change]) => (between = change!.event.between),
    });
    only.hold([flap(n(1), n(2), 99_000, 101_000), flap(n(2), n(1), 99_800, 101_800)]);
    vi.advanceTimersByTime(1000);
    expect(between).toEqual({ from: 99_800, to: 101_000 });
  });

  it('tells one link by name, and does not tell it again when its other end reports late', () => {
    const { batch, released } = batchHarness();
    batch.hold([flap(n(1), n(2), 99_000, 101_000)]);
    vi.advanceTimersByTime(5000);
    expect(released.map(({ event }) => event)).toEqual([
      {
        kind: 'link_flap',
        severity: 'warning',
        message: `link ${n(1)} — ${n(2)} dropped and was made again between probes`,
        link: [n(1), n(2)],
        between: { from: 99_000, to: 101_000 },
      },
    ]);
    batch.hold([flap(n(2), n(1), 100_000, 102_000)]);
    vi.advanceTimersByTime(5000);
    expect(released).toHaveLength(1);
    // A later drop of the same link is news again.
    batch.hold([flap(n(2), n(1), 108_000, 110_000)]);
    vi.advanceTimersByTime(5000);
    expect(released).toHaveLength(2);
  });

  it('does not tell again a drop the timeline already told as a down', () => {
    const { batch, released, told } = batchHarness();
    told({ kind: 'node_down', severity: 'error', message: 'down', key: n(1), node: n(1) });
    told({ kind: 'link_down', severity: 'warning', message: 'down', link: [n(3), n(4)] });
    told(
      { kind: 'partition_detected', severity: 'error', message: 'split' },
      { sides: [[n(5)], [n(6), n(7)]] },
    );
    const now = Date.now();
    batch.hold([
      flap(n(2), n(1), now - 2000, now),
      flap(n(4), n(3), now - 2000, now),
      flap(n(5), n(6), now - 2000, now),
      flap(n(8), n(9), now - 2000, now),
      // Within one side of the partition (a heal told as the flap happened): not its links.
      flap(n(6), n(7), now - 2000, now),
    ]);
    vi.advanceTimersByTime(5000);
    expect(released[0]!.event.links?.sample).toEqual([
      [n(6), n(7)],
      [n(8), n(9)],
    ]);
  });

  it('never holds back a flap for long: two rounds after the first at most', () => {
    const { batch, released } = batchHarness(2000);
    for (let step = 0; step < 6; step += 1) {
      batch.hold([flap(n(1), n(10 + step), Date.now() - 2000, Date.now())]);
      vi.advanceTimersByTime(1000);
    }
    // Released at 4 s with the four held by then, the rest in the next batch.
    expect(released).toHaveLength(1);
    expect(released[0]!.event.links?.count).toBe(4);
  });

  it('tells a mesh-wide storm at 1,000 nodes as one bounded event', () => {
    const { batch, released } = batchHarness(40_000);
    const size = 1000;
    // Node 1 reconnected to all 999 peers: its own reading and each peer's, over a 40 s round.
    batch.hold(Array.from({ length: size - 1 }, (_, i) => flap(n(1), n(i + 2), 60_000, 100_000)));
    for (let i = 2; i <= size; i += 1) {
      if (i % 25 === 0) vi.advanceTimersByTime(1000);
      batch.hold([flap(n(i), n(1), 70_000 + i, 110_000 + i)]);
    }
    vi.advanceTimersByTime(80_000);
    expect(released).toHaveLength(1);
    const { event, details } = released[0]!;
    expect(event.node).toBe(n(1));
    expect(event.links?.count).toBe(999);
    expect(event.links?.sample).toHaveLength(5);
    expect(JSON.stringify(event).length).toBeLessThan(1500);
    expect(details!.links!.packed).toHaveLength(999);
  });

  it('summarises flaps among several nodes, naming the node with the most', () => {
    const change = flapChange([
      { a: n(1), b: n(2), from: 1, to: 5 },
      { a: n(1), b: n(3), from: 2, to: 6 },
      { a: n(4), b: n(5), from: 3, to: 7 },
    ])!;
    expect(change.event).toMatchObject({
      kind: 'link_flap',
      links: { count: 3 },
      between: { from: 1, to: 7 },
      expandable: true,
    });
    expect(change.event.node).toBeUndefined();
    expect(change.event.message).toContain(`3 links dropped and were made again between probes`);
    expect(change.event.message).toContain(`most: ${n(1)}, 2`);
    expect(flapChange([])).toBeNull();
  });
});

describe('link_flap causes', () => {
  it('joins the readiness failure of the node that reconnected, as a link_down would', () => {
    let now = Date.parse('2026-06-01T12:00:00Z');
    const causes = new DownCauses(
      () => now,
      () => undefined,
    );
    const stream = new EventStream({
      maxMessages: 100,
      maxMessageWeight: 1000,
      maxTimeline: 50,
      now: () => now,
      timelineHooks: causes,
    });
    causes.observe(
      stateOf(
        [pod(ip(1)), pod(ip(2), { ready: false, serving: false }), pod(ip(3))],
        [side(n(1), [n(2), n(3)]), side(n(2), [n(1), n(3)]), side(n(3), [n(1), n(2)])],
      ),
    );
    now += 1000;
    const whole = flapChange([
      { a: n(1), b: n(2), from: now - 3000, to: now - 1000 },
      { a: n(2), b: n(3), from: now - 3000, to: now - 1000 },
    ])!;
    const single = flapChange([{ a: n(1), b: n(3), from: now - 3000, to: now - 1000 }])!;
    stream.publishChanges([whole, single]);
    const [grouped, alone] = stream.recentTimeline();
    expect(grouped).toMatchObject({
      node: n(2),
      cause: { code: 'readiness_failed' },
      causes: [{ code: 'readiness_failed', count: 2 }],
    });
    // Both ends healthy: the nodes lost each other.
    expect(alone!.cause?.code).toBe('peers_disconnected');
  });
});

/** A probe's report as the links' follower reads it: its links alone. */
const probeReport = (links: LinkReport) => ({ links, errors: {} }) as unknown as NodeProbeReport;

describe('LinkFlaps', () => {
  it('holds what the links followed found, tells it, and forgets a node that left', () => {
    vi.useFakeTimers({ now: 100_000 });
    const released: TimelineChange[] = [];
    const flaps = new LinkFlaps({
      now: () => Date.now(),
      roundMs: () => 2000,
      release: (changes) => released.push(...changes),
    });
    const follower = new LinkFollower();
    const follow = (report: LinkReport, at: number) =>
      flaps.hold(follower.follow(n(1), probeReport(report), { links: true }, at).flaps);
    follow(reading(n(1), [[n(2), 10]]), 98_000);
    follow(reading(n(1), [[n(2), 11]]), 100_000);
    vi.advanceTimersByTime(2000);
    expect(released.map(({ event }) => event.link)).toEqual([[n(1), n(2)]]);
    // A node forgotten starts afresh: its next reading has nothing to compare with.
    follower.forget(n(1));
    follow(reading(n(1), [[n(2), 12]]), 102_000);
    vi.advanceTimersByTime(2000);
    expect(released).toHaveLength(1);
    follow(reading(n(1), [[n(2), 13]]), 104_000);
    flaps.stop();
    vi.advanceTimersByTime(10_000);
    expect(released).toHaveLength(1);
    // linkList is what the details carry: kept sorted by name.
    expect(linkList([n(1), n(2)], new Float64Array([1])).nodes).toEqual([n(1), n(2)]);
  });
});
