import { describe, expect, it } from 'vitest';

import type { RegistrySummary } from '@/lib/cluster-state';
import { RebalanceTracker } from '@/server/collector/rebalance';

/** Listed pods, one per node, each its own pod (`pod-<node>`), or as `pods` says. */
const pods = (nodes: Iterable<string>, uids: Record<string, string> = {}) =>
  new Map([...nodes].map((node) => [node, uids[node] ?? `pod-${node}`]));

/** A Swarm summary with these hosted counts per node (all in the main partition). */
function swarmHosting(hosted: Record<string, number>): RegistrySummary {
  const total = Object.values(hosted).reduce((sum, count) => sum + count, 0);
  return {
    registry: 'swarm',
    replicated: true,
    shares: Object.entries(hosted).map(([node, count]) => ({
      node,
      partition: 0,
      count: total,
      hosted: count,
    })),
    total,
    hostedTotal: total,
    imbalance: null,
    idle: [],
    invariant: { holds: true, size: total, hostedSum: total },
  };
}

const FIVE = { a: 2000, b: 2000, c: 2000, d: 2000, e: 2000 };

describe('RebalanceTracker', () => {
  it('follows a scale-up from 0 to an even spread and tells it once, when it holds still', () => {
    const tracker = new RebalanceTracker();
    const main = (nodes: object) => new Set(Object.keys(nodes));
    expect(tracker.observe([swarmHosting(FIVE)], main(FIVE), pods(main(FIVE)), 0)).toEqual([]);
    expect(tracker.current()).toEqual([]);

    // Two nodes join, hosting nothing yet.
    const joined = { ...FIVE, f: 0, g: 0 };
    expect(tracker.observe([swarmHosting(joined)], main(joined), pods(main(joined)), 1000)).toEqual(
      [],
    );
    expect(tracker.current()).toMatchObject([
      { registry: 'swarm', cause: 'scale_up', nodes: ['f', 'g'], moved: 0, since: 1000 },
    ]);

    // Half way: 1,428 moved in 1 s.
    const half = { a: 1714, b: 1714, c: 1715, d: 1715, e: 1714, f: 714, g: 714 };
    tracker.observe([swarmHosting(half)], main(half), pods(main(half)), 2000);
    const [progress] = tracker.current();
    expect(progress).toMatchObject({ moved: 1428, ratePerSecond: 1428 });
    expect(progress!.etaMs).toBeGreaterThan(0);

    const even = { a: 1428, b: 1428, c: 1429, d: 1429, e: 1428, f: 1429, g: 1429 };
    expect(tracker.observe([swarmHosting(even)], main(even), pods(main(even)), 3200)).toEqual([]);
    expect(tracker.current()[0]).toMatchObject({ moved: 2858, etaMs: 0 });
    // Still for three seconds: done, one event, timed to the last move.
    const events = tracker.observe([swarmHosting(even)], main(even), pods(main(even)), 6300);
    expect(events).toEqual([
      {
        kind: 'registry_rebalanced',
        severity: 'info',
        message: 'Swarm rebalance after scale-up: 2,858 names moved to 2 new nodes in 2.2 s',
      },
    ]);
    expect(tracker.current()).toEqual([]);
    expect(tracker.observe([swarmHosting(even)], main(even), pods(main(even)), 9000)).toEqual([]);
  });

  it('counts the entries that leaving nodes hand to the others after a scale-down', () => {
    const tracker = new RebalanceTracker();
    const seven = { a: 1000, b: 1000, c: 1000, d: 1000, e: 1000, f: 1000, g: 1000 };
    tracker.observe(
      [swarmHosting(seven)],
      new Set(Object.keys(seven)),
      pods(new Set(Object.keys(seven))),
      0,
    );
    const left = { a: 1400, b: 1400, c: 1400, d: 1400, e: 1400 };
    tracker.observe(
      [swarmHosting(left)],
      new Set(Object.keys(left)),
      pods(new Set(Object.keys(left))),
      1000,
    );
    expect(tracker.current()).toMatchObject([{ cause: 'scale_down', nodes: ['f', 'g'] }]);
    const [event] = tracker.observe(
      [swarmHosting(left)],
      new Set(Object.keys(left)),
      pods(new Set(Object.keys(left))),
      4100,
    );
    // The five remaining nodes took 400 each; nothing moved after the first state.
    expect(event?.message).toBe(
      'Swarm rebalance after scale-down: 2,000 names moved off 2 leaving nodes in 0.0 s',
    );
  });

  it('does not take a netsplit for a scale-down: the pods are still listed', () => {
    const tracker = new RebalanceTracker();
    const all = new Set(Object.keys(FIVE));
    tracker.observe([swarmHosting(FIVE)], all, pods(all), 0);
    const side = { a: 3333, b: 3333, c: 3334 };
    tracker.observe([swarmHosting(side)], new Set(Object.keys(side)), pods(all), 1000);
    expect(tracker.current()).toEqual([]);
  });

  it('waits for a joined node to be counted before calling the rebalance done', () => {
    const tracker = new RebalanceTracker();
    const all = new Set(Object.keys(FIVE));
    tracker.observe([swarmHosting(FIVE)], all, pods(all), 0);
    const listed = new Set([...all, 'f']);
    // f is listed ready but not connected yet: five seconds of nothing moving.
    tracker.observe([swarmHosting(FIVE)], all, pods(listed), 1000);
    expect(tracker.observe([swarmHosting(FIVE)], all, pods(listed), 6000)).toEqual([]);
    expect(tracker.current()).toMatchObject([{ nodes: ['f'], moved: 0 }]);
    const six = { a: 1667, b: 1667, c: 1667, d: 1667, e: 1666, f: 1666 };
    tracker.observe([swarmHosting(six)], new Set(Object.keys(six)), pods(listed), 7000);
    const [event] = tracker.observe(
      [swarmHosting(six)],
      new Set(Object.keys(six)),
      pods(listed),
      10_500,
    );
    expect(event?.message).toBe(
      'Swarm rebalance after scale-up: 1,666 names moved to 1 new node in 6.0 s',
    );
  });

  it('takes pods that join one after the other for one scale-up, over both of them', () => {
    const tracker = new RebalanceTracker();
    const all = new Set(Object.keys(FIVE));
    tracker.observe([swarmHosting(FIVE)], all, pods(all), 0);
    const withF = new Set([...all, 'f']);
    tracker.observe([swarmHosting(FIVE)], all, pods(withF), 1000);
    const withG = new Set([...withF, 'g']);
    tracker.observe([swarmHosting(FIVE)], all, pods(withG), 1500);
    expect(tracker.current()).toMatchObject([{ nodes: ['f', 'g'], since: 1000 }]);
  });

  it('does not take a pod that comes back (a restart, a readiness spell) for a scale-up', () => {
    const tracker = new RebalanceTracker();
    const all = new Set(Object.keys(FIVE));
    tracker.observe([swarmHosting(FIVE)], all, pods(all), 0);
    const withoutE = new Set(['a', 'b', 'c', 'd']);
    tracker.observe([swarmHosting(FIVE)], all, pods(withoutE), 1000);
    const [gone] = tracker.current();
    expect(gone).toMatchObject({ cause: 'scale_down', nodes: ['e'] });
    tracker.observe([swarmHosting(FIVE)], all, pods(all), 5000);
    expect(tracker.current().every((entry) => entry.cause !== 'scale_up')).toBe(true);
  });

  it("takes a new pod for a scale-up even when it reuses a gone pod's address (its node name)", () => {
    const tracker = new RebalanceTracker();
    const all = new Set(Object.keys(FIVE));
    tracker.observe([swarmHosting(FIVE)], all, pods(all), 0);
    const four = new Set(['a', 'b', 'c', 'd']);
    tracker.observe([swarmHosting(FIVE)], four, pods(four), 1000);
    tracker.observe([swarmHosting(FIVE)], four, pods(four), 5000);
    // A new pod e (uid e-2) on the old address: a scale-up again.
    tracker.observe([swarmHosting(FIVE)], all, pods(all, { e: 'pod-e-2' }), 9000);
    expect(tracker.current()).toMatchObject([{ cause: 'scale_up', nodes: ['e'], since: 9000 }]);
  });
});
