import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { BUSY_QUEUE_BYTES } from '@/lib/links';
import { LINKS_PER_NODE, LinkTracker, RATE_WINDOW_MS } from '@/server/collector/links';
import type { LinkCounter, LinkReport } from '@/server/erlang/probes';

import { n } from '../lib/fixtures';
import { ReferenceLinkTracker } from './links-reference';

/**
 * The link tracker keeps each node's links as packed columns of numbers (link-columns.ts)
 * instead of a reading and a PeerLink object per link; what it answers must not change. Every
 * call is checked against the tracker as it was (links-reference.ts), over random readings:
 * peers that come, go, move in `nodes_info`'s order or appear twice, counters that go backwards
 * (a new connection), readings sooner and later than the rate window, queues read or not.
 */
const NODES = [n(1), n(2)];
const PEERS = Array.from({ length: 7 }, (_, index) => n(10 + index));

// Mostly small, now and then past 2³² (a busy link's counter after days): the packed columns
// (link-columns.ts) then fall back to Float64 for that reading.
const packets = fc.oneof(
  { weight: 9, arbitrary: fc.integer({ min: 0, max: 400 }) },
  { weight: 1, arbitrary: fc.integer({ min: 2 ** 32 - 200, max: 2 ** 32 + 200 }) },
);

const counter = fc.record({
  node: fc.constantFrom(...PEERS),
  hidden: fc.constant(false),
  inPackets: packets,
  outPackets: packets,
});

const queue = fc.record({
  node: fc.constantFrom(...PEERS),
  queueBytes: fc.oneof(
    fc.constant(0),
    fc.integer({ min: 1, max: 10_000 }),
    fc.constant(BUSY_QUEUE_BYTES),
    fc.integer({ min: BUSY_QUEUE_BYTES, max: BUSY_QUEUE_BYTES * 4 }),
  ),
});

type Step =
  | {
      kind: 'observe';
      node: string;
      elapsed: number;
      counters: LinkCounter[];
      queues: LinkReport['queues'];
    }
  | { kind: 'choose'; node: string; counters: LinkCounter[] }
  | { kind: 'forget'; node: string };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('observe' as const),
      node: fc.constantFrom(...NODES),
      elapsed: fc.oneof(
        fc.constantFrom(0, RATE_WINDOW_MS - 1, RATE_WINDOW_MS, 2000),
        fc.integer({ min: 0, max: 30_000 }),
      ),
      counters: fc.array(counter, { maxLength: 9 }),
      queues: fc.array(queue, { maxLength: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('choose' as const),
      node: fc.constantFrom(...NODES),
      counters: fc.array(counter, { maxLength: 9 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('forget' as const), node: fc.constantFrom(...NODES) }),
  },
);

describe('LinkTracker (links as columns)', () => {
  it('answers every call as the tracker with one object per link did', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
        const tracker = new LinkTracker();
        const reference = new ReferenceLinkTracker();
        let at = 1_700_000_000_000;
        for (const next of steps) {
          if (next.kind === 'observe') {
            at += next.elapsed;
            const report: LinkReport = {
              counters: next.counters,
              truncated: false,
              busyLimitBytes: null,
              queues: next.queues,
              controllers: null,
            };
            expect(tracker.observe(next.node, report, at)).toEqual(
              reference.observe(next.node, report, at),
            );
          } else if (next.kind === 'choose') {
            expect(tracker.chooser(next.node)(next.counters)).toEqual(
              reference.chooser(next.node)(next.counters),
            );
          } else {
            tracker.forget(next.node);
            reference.forget(next.node);
          }
          for (const node of NODES) expect(tracker.last(node)).toEqual(reference.last(node));
        }
      }),
      { numRuns: 400 },
    );
  });

  it('shows the same first links of a node with more peers than it shows, busy and tied ones too', () => {
    const many = Array.from({ length: 90 }, (_, index) => n(100 + index));
    // Few distinct packet counts, so that rates tie and the names decide.
    const few = fc.integer({ min: 0, max: 3 }).map((value) => value * 100);
    const reading = fc.record({
      elapsed: fc.constantFrom(RATE_WINDOW_MS, RATE_WINDOW_MS * 2),
      present: fc.subarray(many, { minLength: 20 }),
      inPackets: fc.array(few, { minLength: many.length, maxLength: many.length }),
      busy: fc.subarray(many, { maxLength: 40 }),
    });
    fc.assert(
      fc.property(fc.array(reading, { minLength: 1, maxLength: 4 }), (readings) => {
        const tracker = new LinkTracker();
        const reference = new ReferenceLinkTracker();
        let at = 1_700_000_000_000;
        let total = 0;
        for (const next of readings) {
          at += next.elapsed;
          total += 1000;
          const report: LinkReport = {
            counters: next.present.map((node) => ({
              node,
              hidden: false,
              inPackets: total + next.inPackets[many.indexOf(node)]!,
              outPackets: total,
            })),
            truncated: false,
            busyLimitBytes: null,
            queues: next.busy.map((node) => ({ node, queueBytes: BUSY_QUEUE_BYTES })),
            controllers: null,
          };
          const shown = tracker.observe(n(1), report, at);
          expect(shown).toHaveLength(Math.min(LINKS_PER_NODE, next.present.length));
          expect(shown).toEqual(reference.observe(n(1), report, at));
          expect(tracker.chooser(n(1))(report.counters)).toEqual(
            reference.chooser(n(1))(report.counters),
          );
        }
      }),
      { numRuns: 200 },
    );
  });

  it('keeps a whole mesh of 1,000 nodes in columns: a reading of 999 links, then rates', () => {
    const tracker = new LinkTracker();
    const reference = new ReferenceLinkTracker();
    const peers = Array.from({ length: 999 }, (_, index) => n(index + 2));
    const reading = (packets: (index: number) => number): LinkReport => ({
      counters: peers.map((node, index) => ({
        node,
        hidden: false,
        inPackets: packets(index),
        outPackets: packets(index) * 2,
      })),
      truncated: false,
      busyLimitBytes: null,
      queues: [{ node: peers[5]!, queueBytes: BUSY_QUEUE_BYTES }],
      controllers: null,
    });
    const at = 1_700_000_000_000;
    for (const [offset, packets] of [
      [0, (index: number) => index],
      [20_000, (index: number) => index * 3],
      [40_000, (index: number) => index * 3 + (index % 7)],
    ] as const) {
      expect(tracker.observe(n(1), reading(packets), at + offset)).toEqual(
        reference.observe(n(1), reading(packets), at + offset),
      );
    }
  });
});
