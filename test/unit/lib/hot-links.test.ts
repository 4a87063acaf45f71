import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import type { ClusterMember, PeerLink } from '@/lib/cluster-state';
import { HotLinksBuilder } from '@/lib/hot-links';
import { hotLinks, linkTraffic } from '@/lib/links';

import { n, side } from './fixtures';

const NODES = [1, 2, 3, 4, 5, 6, 7, 8];

/** A member with only what the hot links read: its BEAM side and that side's links. */
function memberOf(node: number, links: PeerLink[] | null): ClusterMember {
  return {
    key: n(node),
    node: n(node),
    kubernetes: null,
    beam: { ...side(n(node), []), links },
    partition: 0,
  } as unknown as ClusterMember;
}

const rate = fc.option(fc.constantFrom(0, 0.5, 3, 40, 1200), { nil: null });
const view = (peer: number) =>
  fc.record({
    peer: fc.constant(n(peer)),
    inRate: rate,
    outRate: rate,
    queueBytes: fc.option(fc.constantFrom(0, 100, 8192, 20_000), { nil: null }),
    since: fc.integer({ min: 0, max: 5 }),
  });
/** A node's links: a random subset of the others, or none reported. */
const linksOf = (node: number) =>
  fc.option(
    fc
      .subarray(NODES.filter((other) => other !== node))
      .chain((peers) => fc.tuple(...peers.map(view)).map((views) => views as PeerLink[])),
    { nil: null },
  );
/** One state: each node absent, or present with its links. */
const stateArb = fc.tuple(
  ...NODES.map((node) =>
    fc.option(
      linksOf(node).map((links) => ({ node, links })),
      { nil: null },
    ),
  ),
);

describe('HotLinksBuilder', () => {
  it('lists what hotLinks(linkTraffic(members)) lists, state after state', () => {
    fc.assert(
      fc.property(
        fc.array(stateArb, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 6 }),
        (states, limit) => {
          const builder = new HotLinksBuilder();
          let previous: ClusterMember[] = [];
          for (const state of states) {
            // A delta keeps the member objects whose links are the same, as the page's does.
            const members = state.flatMap((entry) => {
              if (!entry) return [];
              const kept = previous.find((member) => member.node === n(entry.node));
              return kept && JSON.stringify(kept.beam!.links) === JSON.stringify(entry.links)
                ? [kept]
                : [memberOf(entry.node, entry.links)];
            });
            expect(builder.hot(members, limit)).toEqual(hotLinks(linkTraffic(members), limit));
            previous = members;
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('joins the same list at 300 nodes with 32 links each, rates and busy queues mixed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 8 }),
        (seed, limit) => {
          // A deterministic pseudo-random mesh: most views idle, a few busy, some one-sided.
          let state = seed;
          const next = () => {
            state = (state * 48271) % 2147483647;
            return state / 2147483647;
          };
          const members = Array.from({ length: 300 }, (_, index) => {
            const node = index + 1;
            const links: PeerLink[] = [];
            for (let step = 1; step <= 32; step += 1) {
              const peer = ((index + step * 7) % 300) + 1;
              if (peer === node || links.some((link) => link.peer === n(peer))) continue;
              links.push({
                peer: n(peer),
                inRate: next() < 0.1 ? null : Math.floor(next() * 50),
                outRate: next() < 0.1 ? null : Math.floor(next() * 50),
                queueBytes: next() < 0.02 ? 9000 : next() < 0.5 ? 0 : null,
                since: Math.floor(next() * 4),
              });
            }
            return memberOf(node, next() < 0.05 ? null : links);
          });
          expect(new HotLinksBuilder().hot(members, limit)).toEqual(
            hotLinks(linkTraffic(members), limit),
          );
        },
      ),
      { numRuns: 40 },
    );
  });

  it('gives back the last list when no side with links changed (a delta of pods only)', () => {
    const builder = new HotLinksBuilder();
    const link = (peer: number, outRate: number): PeerLink => ({
      peer: n(peer),
      inRate: 1,
      outRate,
      queueBytes: null,
      since: 0,
    });
    const first = [memberOf(1, [link(2, 5)]), memberOf(2, [link(1, 7)]), memberOf(3, [])];
    const hot = builder.hot(first);
    expect(hot).toEqual([expect.objectContaining({ a: n(1), b: n(2), aToB: 5, bToA: 7, rate: 8 })]);
    // New member objects (a pod's field moved) around the same BEAM sides: the same list.
    const again = first.map((member) => ({ ...member }));
    expect(builder.hot(again)).toBe(hot);
    // Node 3's side is replaced: the list is made again, and takes in its link.
    const third = [first[0]!, first[1]!, memberOf(3, [link(1, 1)])];
    const next = builder.hot(third, 2);
    expect(next).not.toBe(hot);
    expect(next[1]).toMatchObject({ a: n(1), b: n(3), rate: 2 });
    // Another limit is another list, even over the same sides.
    expect(builder.hot(third, 1)).toHaveLength(1);
  });
});
