import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { compareNames } from '@/lib/names';
import { linkList, linksOf, type TimelineChange } from '@/lib/timeline-summary';
import { LinkChangeBatch } from '@/server/collector/link-batch';

import { n } from '../lib/fixtures';

/**
 * The batch reads held links from packed lists and releases them as one, without a name pair per
 * link: what it releases must be the definition — every distinct link held, each once, in name
 * order, whether it came as a summary's list or as one event's link.
 */
const NAMES = Array.from({ length: 12 }, (_, index) => n(index + 1));
const pair = fc
  .tuple(fc.constantFrom(...NAMES), fc.constantFrom(...NAMES))
  .filter(([a, b]) => a !== b);

/** A change as the timeline diff makes it: one link, or a summary with its list. */
function changeOf(kind: 'link_up' | 'link_down', links: Array<[string, string]>): TimelineChange {
  if (links.length === 1) {
    return { event: { kind, severity: 'info', message: 'one link', link: links[0]! } };
  }
  const nodes = [...new Set(links.flat())].sort(compareNames);
  const packed = new Float64Array(
    links.map(([a, b]) => {
      const x = nodes.indexOf(a);
      const y = nodes.indexOf(b);
      return Math.min(x, y) * nodes.length + Math.max(x, y);
    }),
  );
  return {
    event: { kind, severity: 'info', message: 'links', expandable: true },
    details: { links: linkList(nodes, packed) },
  };
}

const key = ([a, b]: readonly string[]) => (compareNames(a!, b!) <= 0 ? `${a}|${b}` : `${b}|${a}`);

describe('LinkChangeBatch (held links released from their packed ids)', () => {
  it('releases every distinct held link of each kind once', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.constantFrom('link_up' as const, 'link_down' as const),
            links: fc.array(pair, { minLength: 1, maxLength: 30 }),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        (changes) => {
          const released: TimelineChange[] = [];
          const batch = new LinkChangeBatch(60_000, 60_000, (out) => released.push(...out));
          const now = batch.take(changes.map((change) => changeOf(change.kind, change.links)));
          expect(now).toEqual([]);
          batch.flush();
          for (const kind of ['link_up', 'link_down'] as const) {
            const expected = [
              ...new Set(
                changes
                  .filter((change) => change.kind === kind)
                  .flatMap((change) => change.links.map(key)),
              ),
            ].sort();
            const got = released
              .filter((change) => change.event.kind === kind)
              .flatMap((change) =>
                change.details?.links ? linksOf(change.details.links) : [change.event.link!],
              );
            // Each once, each in name order, the list in name order.
            expect(got.map(key).sort()).toEqual(expected);
            for (const [a, b] of got) expect(compareNames(a, b)).toBeLessThan(0);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
