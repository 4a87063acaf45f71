import { afterEach, describe, expect, it, vi } from 'vitest';

import type { ClusterStateDelta, TimelineEventDraft } from '@/lib/cluster-state';
import { Coalescer } from '@/server/collector/coalesce';
import { EventStream } from '@/server/collector/event-stream';
import { FirstOutcomes } from '@/server/collector/first-outcomes';
import { RegistryChangeBatch } from '@/server/collector/registry-batch';
import {
  answeredNothing,
  onlyGaugesMoved,
  PeerLists,
  withConnection,
} from '@/server/collector/report';
import type { NodeProbeReport } from '@/server/erlang/probes';

import { side, swarm } from '../lib/fixtures';

afterEach(() => {
  vi.useRealTimers();
});

const stream = () =>
  new EventStream({ maxMessages: 3, maxMessageWeight: 1000, maxTimeline: 2, now: () => 7 });
const draft = (message: string): TimelineEventDraft => ({
  kind: 'kubernetes_event',
  severity: 'info',
  message,
});

describe('EventStream', () => {
  it("weighs a delta by the peer names it carries, so the replay ring's names stay within its bound", () => {
    // A 200-node mesh healing in steps: every step gives each node a new peer list of 200 names.
    const nodes = Array.from({ length: 200 }, (_, index) => `app@10.0.0.${index}`);
    const maxMessageWeight = 100_000;
    const events = new EventStream({
      maxMessages: 100,
      maxMessageWeight,
      maxTimeline: 2,
      now: () => 7,
    });
    for (let step = 0; step < 10; step += 1) {
      const delta: ClusterStateDelta = {
        added: [],
        changed: nodes.map((node) => ({
          key: node,
          beam: { sees: nodes.filter((peer) => peer !== node) },
        })),
        removed: [],
        set: {},
      };
      events.publishDelta(delta);
    }
    let oldest = 0;
    while (events.since(oldest) === null) oldest += 1;
    const held = events.since(oldest)!;
    const names = held.reduce(
      (sum, message) =>
        sum +
        (message.type === 'delta'
          ? message.delta.changed.reduce(
              (count, patch) => count + (patch.beam?.sees?.length ?? 0),
              0,
            )
          : 0),
      0,
    );
    expect(held.length).toBeGreaterThan(1);
    expect(names).toBeLessThanOrEqual(maxMessageWeight);
    // The newest steps, in order: a client that fell further behind loads a snapshot instead.
    expect(held.at(-1)?.seq).toBe(10);
  });

  it('hands out what follows a sequence number while it is all still held', () => {
    const events = stream();
    expect(events.since(0)).toEqual([]);
    events.publishEvents([draft('a'), draft('b')]);
    expect(events.since(0)?.map((message) => message.seq)).toEqual([1, 2]);
    expect(events.since(2)).toEqual([]);
    expect(events.since(3)).toBeNull();
    expect(events.since(-1)).toBeNull();
    expect(events.since(0.5)).toBeNull();
    events.publishEvents([draft('c'), draft('d')]);
    // Message 1 fell out of the ring: resuming from 0 needs a snapshot.
    expect(events.since(0)).toBeNull();
    expect(events.since(1)?.map((message) => message.seq)).toEqual([2, 3, 4]);
    expect(events.recentTimeline().map((event) => [event.message, event.at])).toEqual([
      ['c', 7],
      ['d', 7],
    ]);
  });

  it('keeps telling the other subscribers when one throws', () => {
    const events = stream();
    const seen: number[] = [];
    vi.spyOn(console, 'error').mockImplementation(() => {});
    events.subscribe(() => {
      throw new Error('broken tab');
    });
    const stop = events.subscribe((message) => seen.push(message.seq));
    events.publishEvents([draft('a')]);
    stop();
    events.publishEvents([draft('b')]);
    expect(seen).toEqual([1]);
    expect(events.subscriberCount).toBe(1);
  });
});

describe('RegistryChangeBatch', () => {
  it('merges changes per node and registry, and leaves out a count that came back', () => {
    vi.useFakeTimers();
    const released: TimelineEventDraft[] = [];
    const batch = new RegistryChangeBatch(1000, (event) => released.push(event));
    const change = (node: string, from: number, to: number): TimelineEventDraft => ({
      kind: 'registry_changed',
      severity: 'info',
      message: '',
      registries: [{ node, registry: 'global', from, to }],
    });
    batch.hold(change('a@h', 1, 2));
    batch.hold(change('a@h', 2, 5));
    batch.hold(change('b@h', 3, 4));
    batch.hold(change('b@h', 4, 3));
    expect(released).toEqual([]);
    vi.advanceTimersByTime(1000);
    expect(released.map((event) => event.registries)).toEqual([
      [{ node: 'a@h', registry: 'global', from: 1, to: 5 }],
    ]);
    batch.hold(change('a@h', 5, 6));
    batch.stop();
    vi.advanceTimersByTime(1000);
    expect(released).toHaveLength(1);
  });
});

describe('Coalescer', () => {
  it('runs once for a burst, and at once when flushed', () => {
    vi.useFakeTimers();
    let runs = 0;
    const coalescer = new Coalescer(() => {
      runs += 1;
    });
    coalescer.schedule();
    coalescer.schedule();
    coalescer.schedule();
    vi.advanceTimersByTime(1000);
    expect(runs).toBe(1);
    coalescer.schedule();
    coalescer.flush();
    expect(runs).toBe(2);
    coalescer.flush();
    expect(runs).toBe(2);
    coalescer.runNow();
    expect(runs).toBe(3);
  });

  it("brings a run forward for a change scheduled soon: one run's cost after the last, not five", () => {
    vi.useFakeTimers();
    let runs = 0;
    const coalescer = new Coalescer(() => {
      runs += 1;
      // Each run costs 100 ms of the (fake) clock.
      vi.setSystemTime(Date.now() + 100);
    });
    coalescer.runNow();
    expect(runs).toBe(1);
    // The probes' pause: 5 × 100 ms after the last run began.
    coalescer.schedule();
    vi.advanceTimersByTime(300);
    expect(runs).toBe(1);
    coalescer.schedule(true);
    // The last run has been over for 200 ms, more than its cost: at once.
    vi.advanceTimersByTime(0);
    expect(runs).toBe(2);
    // Right after a run: once it has been over for its cost, and a later `schedule()` does not
    // push that back.
    coalescer.schedule(true);
    coalescer.schedule();
    vi.advanceTimersByTime(99);
    expect(runs).toBe(2);
    vi.advanceTimersByTime(1);
    expect(runs).toBe(3);
    vi.advanceTimersByTime(1000);
    expect(runs).toBe(3);
  });
});

describe('Coalescer, at a start', () => {
  it('holds the usual pause to at least the given one, and leaves the short one alone', () => {
    vi.useFakeTimers();
    let runs = 0;
    const coalescer = new Coalescer(() => {
      runs += 1;
      vi.setSystemTime(Date.now() + 10);
    });
    coalescer.runNow();
    // Five times a 10 ms run would be 50 ms; at a start, 500.
    coalescer.schedule(false, 500);
    vi.advanceTimersByTime(480);
    expect(runs).toBe(1);
    vi.advanceTimersByTime(20);
    expect(runs).toBe(2);
    // A change someone waits on is not held behind it.
    coalescer.schedule(true, 500);
    vi.advanceTimersByTime(20);
    expect(runs).toBe(3);
  });
});

describe('FirstOutcomes', () => {
  it('says when the last node waiting has its first outcome, once', () => {
    const outcomes = new FirstOutcomes();
    expect(outcomes.waiting).toBe(false);
    outcomes.add('a@h');
    outcomes.add('b@h');
    outcomes.add('c@h');
    expect(outcomes.settle('a@h')).toBe(false);
    expect(outcomes.forget('b@h')).toBe(false);
    expect(outcomes.waiting).toBe(true);
    expect(outcomes.settle('c@h')).toBe(true);
    expect(outcomes.waiting).toBe(false);
    // Later outcomes of the same nodes (every probe) are not news.
    expect(outcomes.settle('c@h')).toBe(false);
  });
});

describe('report mapping', () => {
  it('reuses the previous peer list while the peers are the same', () => {
    const peers = new PeerLists();
    const first = peers.sees('a@h', null, ['c@h', 'b@h']);
    expect(first).toEqual(['b@h', 'c@h']);
    expect(peers.sees('a@h', first, ['c@h', 'b@h'])).toBe(first);
    // Same peers in another order: still the same list.
    expect(peers.sees('a@h', first, ['b@h', 'c@h'])).toBe(first);
    expect(peers.sees('a@h', first, ['b@h'])).toEqual(['b@h']);
  });

  it('keeps showing a failure while the manager retries, and forgets the peers of a lost node', () => {
    const failed = withConnection(side('a@h', ['b@h']), {
      status: 'unreachable',
      since: 3,
      code: 'node_down',
      reason: 'gone',
    });
    expect(failed.connection).toEqual({
      status: 'unreachable',
      since: 3,
      code: 'node_down',
      reason: 'gone',
    });
    expect(failed.sees).toBeNull();
    expect(withConnection(failed, { status: 'connecting', since: 4 })).toBe(failed);
    const connected = side('a@h', ['b@h']);
    expect(withConnection(connected, { status: 'connected', since: 1 })).toBe(connected);
  });

  it('tells a probe that moved only gauges from one that moved the mesh, the registries or an error', () => {
    const before = side('a@h', ['b@h'], { registries: [swarm(4, 2)] });
    const gauges = {
      processCount: 101,
      memoryBytes: 2000,
      runQueue: 3,
      uptimeMs: 7000,
      probedAt: 12,
      probeMs: 4,
      links: [{ peer: 'b@h', inRate: 5, outRate: 6, queueBytes: 0, since: 1 }],
    };
    expect(onlyGaugesMoved(before, { ...before, ...gauges })).toBe(true);
    // Equal values in new arrays are no change.
    expect(
      onlyGaugesMoved(before, { ...before, ...gauges, sees: ['b@h'], registries: [swarm(4, 2)] }),
    ).toBe(true);
    for (const moved of [
      { sees: ['b@h', 'c@h'] },
      { sees: null },
      { registries: [swarm(5, 2)] },
      { registries: [swarm(4, 3)] },
      { probeError: 'ets:info timed out' },
      {
        connection: {
          status: 'unreachable' as const,
          since: 3,
          code: 'node_down' as const,
          reason: 'gone',
        },
      },
      { otpRelease: '26' },
      { netTicktimeSeconds: 30 },
    ]) {
      expect(onlyGaugesMoved(before, { ...before, ...gauges, ...moved })).toBe(false);
    }
    // A node's first probe is news whatever it found.
    const unprobed = side('a@h', null, { probedAt: null, processCount: null });
    expect(onlyGaugesMoved(unprobed, { ...unprobed, ...gauges })).toBe(false);
  });

  it('calls a node silent only when every cheap probe timed out', () => {
    const timeout = { code: 'timeout' as const, message: 'timed out' };
    const errors = {
      otpRelease: timeout,
      uptimeMs: timeout,
      processCount: timeout,
      connectedNodes: timeout,
    };
    expect(answeredNothing({ errors } as NodeProbeReport)).toBe(true);
    expect(
      answeredNothing({
        errors: { ...errors, uptimeMs: { code: 'badrpc', message: 'undef' } },
      } as NodeProbeReport),
    ).toBe(false);
  });
});
