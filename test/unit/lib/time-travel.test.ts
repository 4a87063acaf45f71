import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import type { TimelineEvent, TimelineEventKind } from '@/lib/cluster-state';
import {
  formatAtParam,
  formatMoment,
  gapText,
  isLiveEnd,
  mergeTimeline,
  parseAtParam,
  positionOfTime,
  rangeText,
  sampleMoments,
  scrubRange,
  scrubStep,
  selectTicks,
  stepParams,
  timeAtPosition,
  timelineUrl,
  viewingText,
} from '@/lib/time-travel';

const at = Date.UTC(2026, 11, 6, 3, 12, 5);
const event = (
  kind: TimelineEventKind,
  when: number,
  extra: Partial<TimelineEvent> = {},
): TimelineEvent => ({
  kind,
  at: when,
  seq: when % 1000,
  severity: 'info',
  message: kind,
  ...extra,
});

describe('?at= in the page URL', () => {
  it('reads milliseconds and ISO 8601, and leaves the live view for nothing or `live`', () => {
    expect(parseAtParam(String(at))).toEqual({ kind: 'at', at });
    expect(parseAtParam('2026-12-06T03:12:05Z')).toEqual({ kind: 'at', at });
    expect(parseAtParam('2026-12-06T03:12:05.000Z')).toEqual({ kind: 'at', at });
    expect(parseAtParam('2026-12-06T04:12:05+01:00')).toEqual({ kind: 'at', at });
    for (const live of [null, undefined, '', '  ', 'live']) {
      expect(parseAtParam(live)).toEqual({ kind: 'live' });
    }
  });

  it('names what it expected when the value is no time', () => {
    for (const bad of ['yesterday', '12:00', '2026-13-45T99:99Z', '-5', '1e12', 'March 7']) {
      const parsed = parseAtParam(bad);
      expect(parsed.kind, bad).toBe('invalid');
      if (parsed.kind === 'invalid') {
        expect(parsed.reason).toContain(`?at=${bad}`);
        expect(parsed.reason).toContain('milliseconds since the epoch or an ISO 8601 time');
      }
    }
  });

  it('writes a value that reads back as the same moment', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), (ms) => {
        expect(parseAtParam(formatAtParam(ms))).toEqual({ kind: 'at', at: ms });
      }),
    );
  });
});

describe('the scrubber’s track', () => {
  const range = { from: at - 3_600_000, to: at };

  it('spans the retained range up to now, and nothing before anything is retained', () => {
    expect(scrubRange(null, at)).toBeNull();
    expect(scrubRange({ from: 1000, to: 5000 }, 9000)).toEqual({ from: 1000, to: 9000 });
    // The recorder's newest row may be a moment ahead of the browser's clock; whole seconds.
    expect(scrubRange({ from: 1200, to: 9500 }, 9000)).toEqual({ from: 2000, to: 10_000 });
  });

  it('maps a moment to its place and back, to the second, clamped to the range', () => {
    expect(positionOfTime(range.from, range)).toBe(0);
    expect(positionOfTime(range.to, range)).toBe(1);
    expect(positionOfTime(range.from - 10, range)).toBe(0);
    expect(positionOfTime(range.to + 10, range)).toBe(1);
    expect(timeAtPosition(0.5, range)).toBe(at - 1_800_000);
    expect(timeAtPosition(-1, range)).toBe(range.from);
    expect(timeAtPosition(2, range)).toBe(range.to);
    fc.assert(
      fc.property(fc.integer({ min: range.from, max: range.to }), (moment) => {
        const back = timeAtPosition(positionOfTime(moment, range), range);
        expect(Math.abs(back - moment)).toBeLessThanOrEqual(500);
      }),
    );
  });

  it('steps by about a hundredth of the track, in clock units, and calls the right end live', () => {
    expect(scrubStep({ from: 0, to: 60_000 })).toBe(1_000);
    expect(scrubStep(range)).toBe(60_000);
    expect(scrubStep({ from: 0, to: 7 * 86_400_000 })).toBe(21_600_000);
    expect(isLiveEnd(range.to, range)).toBe(true);
    expect(isLiveEnd(range.to - 20_000, range)).toBe(true);
    expect(isLiveEnd(range.to - 60_000, range)).toBe(false);
  });
});

describe('ticks on the track', () => {
  const range = { from: 0, to: 100_000 };

  it('marks partitions, heals, gaps (as spans) and nodes going down; nothing else', () => {
    const ticks = selectTicks(
      [
        event('partition_detected', 10_000),
        event('partition_healed', 30_000),
        event('observation_gap', 50_000, { gap: { from: 40_000, to: 50_000 } }),
        event('node_down', 70_000),
        event('member_joined', 80_000),
        event('partition_detected', 200_000),
      ],
      range,
    );
    expect(ticks.map((tick) => [tick.kind, tick.at])).toEqual([
      ['partition', 10_000],
      ['heal', 30_000],
      ['gap', 40_000],
      ['node_down', 70_000],
    ]);
    expect(ticks[2]).toMatchObject({ position: 0.4, end: 0.5 });
  });

  it('keeps at most maxTicks, the partition before the node-downs around it', () => {
    const storm = Array.from({ length: 5000 }, (_, index) => event('node_down', index * 20));
    const ticks = selectTicks([...storm, event('partition_detected', 50_010)], range, 40);
    expect(ticks.length).toBeLessThanOrEqual(40);
    expect(ticks.filter((tick) => tick.kind === 'partition').map((tick) => tick.at)).toEqual([
      50_010,
    ]);
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.constantFrom<TimelineEventKind>(
              'partition_detected',
              'partition_healed',
              'node_down',
              'link_down',
            ),
            at: fc.integer({ min: -1000, max: 101_000 }),
          }),
        ),
        fc.integer({ min: 1, max: 100 }),
        (drafts, max) => {
          const chosen = selectTicks(
            drafts.map((draft) => event(draft.kind, draft.at)),
            range,
            max,
          );
          expect(chosen.length).toBeLessThanOrEqual(max);
          for (const tick of chosen) expect(tick.position).toBeGreaterThanOrEqual(0);
          expect(chosen.map((tick) => tick.at)).toEqual(
            [...chosen.map((tick) => tick.at)].sort((a, b) => a - b),
          );
        },
      ),
    );
  });
});

describe('the words of the banner', () => {
  it('says the time alone today, the date on another day, the year in another year', () => {
    expect(formatMoment(at, at + 3_600_000, 'UTC')).toBe('03:12:05');
    expect(viewingText(at, at + 3_600_000, 'UTC')).toBe('viewing 03:12:05');
    expect(formatMoment(at, at + 86_400_000, 'UTC')).toBe('6 Dec 03:12:05');
    expect(formatMoment(at, Date.UTC(2027, 0, 2), 'UTC')).toBe('6 Dec 2026 03:12:05');
    // Local time: the same moment is another clock reading in another zone.
    expect(formatMoment(at, at, 'Europe/Berlin')).toBe('04:12:05');
  });

  it('names a retained range and an unobserved span', () => {
    expect(rangeText({ from: at - 86_400_000, to: at }, at, 'UTC')).toBe(
      '5 Dec 03:12:05 – 03:12:05',
    );
    expect(gapText({ from: at - 98_000, to: at }, at, 'UTC')).toBe(
      'beamscope was not observing 03:10:27–03:12:05 (1m)',
    );
  });
});

describe('asking the history', () => {
  it('builds the timeline URL with only the parameters given', () => {
    expect(timelineUrl('my app', { kind: 'partition_detected', from: 5, limit: 200 })).toBe(
      '/api/clusters/my%20app/timeline?kind=partition_detected&from=5&limit=200',
    );
    expect(timelineUrl('c', {})).toBe('/api/clusters/c/timeline');
  });

  it('steps to the newest event before a moment, or the oldest after it', () => {
    expect(stepParams(1000, 'previous')).toEqual({ to: 999, limit: 1, order: 'newest' });
    expect(stepParams(1000, 'next')).toEqual({ from: 1001, limit: 1, order: 'oldest' });
  });

  it('joins older pages to the events on screen, each once, oldest first', () => {
    const shown = [event('node_up', 5000), event('node_down', 6000)];
    const older = [event('member_joined', 1000), event('node_up', 5000)];
    // A restarted server numbers from 0 again: same seq, another moment, another event.
    const otherRun = { ...event('node_down', 2000), seq: shown[1]!.seq };
    const merged = mergeTimeline([...older, otherRun], shown);
    expect(merged.map((entry) => entry.at)).toEqual([1000, 2000, 5000, 6000]);
  });

  it('samples the strip chart’s hour on fixed boundaries, the same ones as time passes', () => {
    const first = sampleMoments(at + 1234);
    expect(first).toHaveLength(12);
    expect(first.every((moment) => moment % 300_000 === 0)).toBe(true);
    expect(first[11]).toBeLessThanOrEqual(at + 1234);
    expect(first[0]).toBeGreaterThan(at + 1234 - 3_600_000);
    const later = sampleMoments(at + 60_000);
    expect(later.slice(0, 11)).toEqual(first.slice(0, 11));
  });

  it('samples only what is recorded, finer when the record is short', () => {
    const since = at - 100_000;
    const moments = sampleMoments(at + 1234, since);
    expect(moments.length).toBeGreaterThan(3);
    expect(moments.length).toBeLessThanOrEqual(12);
    expect(moments.every((moment) => moment >= since && moment % 10_000 === 0)).toBe(true);
    expect(sampleMoments(at, at + 1)).toEqual([]);
  });
});
