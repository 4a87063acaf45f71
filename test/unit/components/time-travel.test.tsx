import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';

import { Timeline } from '@/components/Timeline';
import { HistoryBadge, PastProblem, TimeTravelBar, ViewingBanner } from '@/components/TimeTravel';
import { ApiRequestError } from '@/components/use-api';
import type { HistoryStatusResponse } from '@/lib/api';
import type { TimelineEvent } from '@/lib/cluster-state';
import { formatMoment } from '@/lib/time-travel';

const now = Date.UTC(2026, 11, 6, 12, 0, 0);
const minute = 60_000;

const status = (extra: Partial<HistoryStatusResponse> = {}): HistoryStatusResponse => ({
  clusterId: 'myapp',
  store: 'sqlite',
  status: { state: 'ok' },
  retained: { from: now - 60 * minute, to: now - 1000 },
  ...extra,
});

const event = (
  kind: TimelineEvent['kind'],
  at: number,
  extra: Partial<TimelineEvent> = {},
): TimelineEvent => ({ kind, at, seq: at / 1000, severity: 'warning', message: kind, ...extra });

/** The values of `attribute` on elements of `testId`, in document order. */
function attributes(html: string, testId: string, attribute: string): string[] {
  const found: string[] = [];
  const pattern = new RegExp(`<[^>]*data-testid="${testId}"[^>]*>`, 'g');
  for (const tag of html.match(pattern) ?? []) {
    const value = new RegExp(`${attribute}="([^"]*)"`).exec(tag);
    if (value) found.push(value[1]!);
  }
  return found;
}

describe('the history store on the page', () => {
  it('names where history is kept, that memory ends with the server, and a failing store', () => {
    const ok = renderToStaticMarkup(<HistoryBadge status={status()} error={undefined} />);
    expect(ok).toContain('history: recorded (SQLite)');
    const memory = renderToStaticMarkup(
      <HistoryBadge status={status({ store: 'memory' })} error={undefined} />,
    );
    expect(memory).toContain('lasts only while this server runs');
    const failing = renderToStaticMarkup(
      <HistoryBadge
        status={status({
          store: 'postgres',
          status: { state: 'error', reason: 'database unreachable' },
        })}
        error={undefined}
      />,
    );
    expect(failing).toContain('data-state="error"');
    expect(failing).toContain('history: database unreachable — live view continues');
    const absent = renderToStaticMarkup(
      <HistoryBadge
        status={undefined}
        error={new ApiRequestError(404, 'not_found', 'no history here')}
      />,
    );
    expect(absent).toContain('history: unavailable (no history here) — live view continues');
  });
});

describe('the time bar', () => {
  const ticks = [
    event('partition_detected', now - 30 * minute),
    event('partition_healed', now - 25 * minute),
    event('observation_gap', now - 10 * minute, {
      gap: { from: now - 12 * minute, to: now - 10 * minute },
    }),
    event('member_joined', now - 5 * minute),
  ];
  const render = (at: number | null) =>
    renderToStaticMarkup(
      <TimeTravelBar
        status={status()}
        statusError={undefined}
        range={{ from: now - 60 * minute, to: now }}
        at={at}
        now={now}
        tickEvents={ticks}
        onChange={() => undefined}
        onStep={() => Promise.resolve(null)}
      />,
    );

  it('draws a tick per split, heal and gap on a track from the oldest moment to now', () => {
    const html = render(null);
    expect(attributes(html, 'scrub-tick', 'data-kind')).toEqual(['partition', 'heal', 'gap']);
    expect(attributes(html, 'scrub-track', 'min')).toEqual([String(now - 60 * minute)]);
    expect(attributes(html, 'scrub-track', 'max')).toEqual([String(now)]);
    // Live: the thumb at the right end, the live button pressed.
    expect(attributes(html, 'scrub-track', 'value')).toEqual([String(now)]);
    expect(attributes(html, 'scrub-track', 'aria-valuetext')).toEqual(['live']);
    expect(html).toMatch(/<button[^>]*disabled=""[^>]*data-testid="scrub-live"/);
    expect(html).toContain('data-mode="live"');
  });

  it('puts the thumb on a past moment and names it for screen readers', () => {
    const at = now - 28 * minute;
    const html = render(at);
    expect(attributes(html, 'scrub-track', 'value')).toEqual([String(at)]);
    expect(attributes(html, 'scrub-track', 'aria-valuetext')).toEqual([formatMoment(at, now)]);
    expect(html).toContain('data-mode="past"');
  });

  it('says there is nothing to scrub before anything is recorded', () => {
    const html = renderToStaticMarkup(
      <TimeTravelBar
        status={status({ retained: null })}
        statusError={undefined}
        range={null}
        at={null}
        now={now}
        tickEvents={[]}
        onChange={() => undefined}
        onStep={() => Promise.resolve(null)}
      />,
    );
    expect(html).not.toContain('scrub-track');
    expect(html).toContain('Nothing recorded yet');
  });
});

describe('the banners of a past moment', () => {
  it('says which moment is shown, with the way back to live', () => {
    const at = now - 3 * 3_600_000;
    const html = renderToStaticMarkup(
      <ViewingBanner at={at} now={now} loading={false} onLive={() => undefined} />,
    );
    expect(html).toContain(`viewing ${formatMoment(at, now)}`);
    expect(html).toMatch(/data-testid="back-to-live"[^>]*>back to live</);
  });

  it('gives the reason and the retained range when a moment cannot be shown', () => {
    const retained = { from: now - 60 * minute, to: now };
    const html = renderToStaticMarkup(
      <PastProblem
        at={now - 120 * minute}
        now={now}
        reason="That moment is outside the retained history."
        retained={retained}
        statusKnown
        statusError={undefined}
        onLive={() => undefined}
      />,
    );
    expect(html).toContain(`Cannot show ${formatMoment(now - 120 * minute, now)}`);
    expect(html).toContain('That moment is outside the retained history.');
    expect(html).toContain(
      `History covers ${formatMoment(retained.from, now)} – ${formatMoment(retained.to, now)}.`,
    );
    expect(html).toContain('show live');
  });

  it('says the range is being read until the history status is known, nothing recorded after', () => {
    const box = (statusKnown: boolean, statusError?: ApiRequestError) =>
      renderToStaticMarkup(
        <PastProblem
          at={now - 120 * minute}
          now={now}
          reason="That moment is outside the retained history."
          retained={null}
          statusKnown={statusKnown}
          statusError={statusError}
          onLive={() => undefined}
        />,
      );
    expect(box(false)).toContain('Reading the recorded range…');
    expect(box(false)).not.toContain('Nothing of this cluster is recorded yet.');
    expect(box(false, new ApiRequestError(503, 'unavailable', 'the store is down'))).toContain(
      'The recorded range cannot be read: the store is down',
    );
    expect(box(true)).toContain('Nothing of this cluster is recorded yet.');
  });
});

describe('the timeline in time', () => {
  const render = (events: TimelineEvent[], detailsAvailable: boolean) =>
    renderToStaticMarkup(
      <Timeline
        clusterId="myapp"
        events={events}
        detailsAvailable={detailsAvailable}
        samples={[]}
        recorded
        now={now}
        onSelect={() => undefined}
      />,
    );

  it('draws a span not observed apart from the events, with its bounds', () => {
    const gap = { from: now - 98_000, to: now - 2000 };
    const html = render(
      [event('node_up', now - 120_000), event('observation_gap', now - 2000, { gap })],
      true,
    );
    expect(attributes(html, 'timeline-event', 'data-kind')).toEqual(['observation_gap', 'node_up']);
    expect(html).toContain(
      `beamscope was not observing ${formatMoment(gap.from, now)}–${formatMoment(gap.to, now)} (1m)`,
    );
    expect(html).toContain('data-testid="timeline-load-earlier"');
    expect(html).toContain('The hour to this moment, recorded');
  });

  it('opens a summary’s lists only for events of this server run', () => {
    const split = event('partition_detected', now - 60_000, { expandable: true });
    expect(render([split], true)).toContain('timeline-expand');
    expect(render([split], false)).not.toContain('timeline-expand');
  });
});
