/**
 * The dashboard in time, its pure parts: the page URL's `?at=`, the scrubber's position against
 * the retained range, the ticks it draws, and the words of the "viewing …" banner. No clock of
 * their own (`now` is passed), no I/O.
 */
import type { RetainedRange } from './api';
import type { TimelineEvent, TimelineEventKind } from './cluster-state';
import { formatDuration } from './format';

/** What the page URL's `?at=` asks for: the live view, a past moment, or something unreadable. */
export type AtParam =
  | { kind: 'live' }
  | { kind: 'at'; at: number }
  | { kind: 'invalid'; value: string; reason: string };

const ISO_DATE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Reads `?at=`: milliseconds since the epoch (`1765000325000`) or an ISO 8601 time
 * (`2026-12-06T03:12:05Z`; without an offset it is the viewer's local time). Absent, empty or
 * `live` is the live view. Anything else is invalid, with the reason the page shows.
 */
export function parseAtParam(value: string | null | undefined): AtParam {
  const text = value?.trim() ?? '';
  if (text === '' || text === 'live') return { kind: 'live' };
  if (/^\d+$/.test(text)) {
    const at = Number(text);
    if (Number.isSafeInteger(at)) return { kind: 'at', at };
  } else if (ISO_DATE.test(text)) {
    const at = Date.parse(text.replace(' ', 'T'));
    if (Number.isFinite(at)) return { kind: 'at', at };
  }
  return {
    kind: 'invalid',
    value: text,
    reason: `?at=${text} is not a time: expected milliseconds since the epoch or an ISO 8601 time such as 2026-12-06T03:12:05Z`,
  };
}

/** The `?at=` value the page writes: ISO 8601 in UTC, readable in a shared link and exact to the ms. */
export function formatAtParam(at: number): string {
  return new Date(at).toISOString();
}

/** The span the scrubber's track covers, oldest retained moment to now. */
export interface ScrubRange {
  from: number;
  to: number;
}

/**
 * The track: from the oldest retained moment to now (the recorder's newest row lags now by up
 * to a second), both on whole seconds so that the track's one-second steps reach either end.
 * Null when nothing is retained yet.
 */
export function scrubRange(retained: RetainedRange | null, now: number): ScrubRange | null {
  if (!retained) return null;
  const to = Math.ceil(Math.max(retained.to, now) / 1000) * 1000;
  return { from: Math.min(Math.ceil(retained.from / 1000) * 1000, to), to };
}

/** Where `at` sits on the track, 0 (oldest) to 1 (now), clamped. */
export function positionOfTime(at: number, range: ScrubRange): number {
  const span = range.to - range.from;
  if (span <= 0) return 1;
  return Math.min(1, Math.max(0, (at - range.from) / span));
}

/** The moment at `position` (0 to 1) of the track, to the whole second, within the range. */
export function timeAtPosition(position: number, range: ScrubRange): number {
  const clamped = Math.min(1, Math.max(0, position));
  const at = Math.round((range.from + clamped * (range.to - range.from)) / 1000) * 1000;
  return Math.min(range.to, Math.max(range.from, at));
}

const STEPS_MS = [
  1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 600_000, 1_800_000, 3_600_000, 21_600_000,
  86_400_000,
];

/** An arrow key's step on the track: about a hundredth of it, rounded to a clock-friendly unit. */
export function scrubStep(range: ScrubRange): number {
  const wanted = (range.to - range.from) / 100;
  return STEPS_MS.find((step) => step >= wanted) ?? STEPS_MS[STEPS_MS.length - 1]!;
}

/**
 * Whether a scrubbed moment means "live": at the track's right end, within one step (a thumb
 * dragged all the way right, or a moment picked in the future).
 */
export function isLiveEnd(at: number, range: ScrubRange): boolean {
  return at >= range.to - scrubStep(range) / 2;
}

/** What a tick on the track stands for. */
export type ScrubTickKind = 'partition' | 'heal' | 'gap' | 'node_down';

/** The timeline kinds the track marks, and what each becomes. */
export const TICK_KINDS: ReadonlyArray<{ kind: TimelineEventKind; tick: ScrubTickKind }> = [
  { kind: 'partition_detected', tick: 'partition' },
  { kind: 'partition_healed', tick: 'heal' },
  { kind: 'observation_gap', tick: 'gap' },
  { kind: 'node_down', tick: 'node_down' },
];

/** When two events would share a place on the track, the one that matters more keeps it. */
const TICK_PRIORITY: Record<ScrubTickKind, number> = {
  gap: 3,
  partition: 2,
  heal: 1,
  node_down: 0,
};

/** One mark on the track: a moment (or, for a gap, a span) and what happened. */
export interface ScrubTick {
  kind: ScrubTickKind;
  at: number;
  /** Left edge, 0 to 1 along the track. */
  position: number;
  /** For a gap: where the unobserved span ends on the track (0 to 1). */
  end?: number;
  message: string;
}

/**
 * The ticks to draw: events of the marked kinds inside the range, at most `maxTicks`. The track
 * is cut into `maxTicks` slots; each slot keeps its most important event (a gap before a split
 * before a heal before a node going down; the newest of equals), so a storm of events cannot
 * flood the track and a partition is never hidden behind node-downs.
 */
export function selectTicks(
  events: readonly TimelineEvent[],
  range: ScrubRange,
  maxTicks = 80,
): ScrubTick[] {
  const tickOf = new Map(TICK_KINDS.map((entry) => [entry.kind, entry.tick]));
  const slots = new Map<number, ScrubTick>();
  for (const event of events) {
    const kind = tickOf.get(event.kind);
    if (!kind) continue;
    const start = kind === 'gap' && event.gap ? event.gap.from : event.at;
    const stop = kind === 'gap' && event.gap ? event.gap.to : event.at;
    if (stop < range.from || start > range.to) continue;
    const position = positionOfTime(start, range);
    const tick: ScrubTick = {
      kind,
      at: start,
      position,
      message: event.message,
      ...(kind === 'gap' ? { end: positionOfTime(stop, range) } : {}),
    };
    const slot = Math.min(maxTicks - 1, Math.floor(position * maxTicks));
    const held = slots.get(slot);
    if (
      !held ||
      TICK_PRIORITY[kind] > TICK_PRIORITY[held.kind] ||
      (TICK_PRIORITY[kind] === TICK_PRIORITY[held.kind] && tick.at > held.at)
    ) {
      slots.set(slot, tick);
    }
  }
  return [...slots.values()].sort((a, b) => a.at - b.at);
}

/** Formats moments in the viewer's zone (or `timeZone`, which the tests fix). */
function formatter(options: Intl.DateTimeFormatOptions, timeZone?: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat('en-GB', { ...options, ...(timeZone ? { timeZone } : {}) });
}

const cache = new Map<string, Intl.DateTimeFormat>();
function cached(key: string, options: Intl.DateTimeFormatOptions, timeZone?: string) {
  const id = `${key}|${timeZone ?? ''}`;
  let found = cache.get(id);
  if (!found) {
    found = formatter(options, timeZone);
    cache.set(id, found);
  }
  return found;
}

const dayOf = (ms: number, timeZone?: string) =>
  cached('day', { year: 'numeric', month: '2-digit', day: '2-digit' }, timeZone).format(ms);

/**
 * A past moment as the banner names it: `03:12:05` on the day of `now`, `5 Dec 03:12:05` on
 * another day of the same year, `5 Dec 2025 03:12:05` in another year. Local time.
 */
export function formatMoment(at: number, now: number, timeZone?: string): string {
  const clock = cached(
    'clock',
    { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' },
    timeZone,
  ).format(at);
  if (dayOf(at, timeZone) === dayOf(now, timeZone)) return clock;
  const sameYear =
    cached('year', { year: 'numeric' }, timeZone).format(at) ===
    cached('year', { year: 'numeric' }, timeZone).format(now);
  const date = cached(
    sameYear ? 'date' : 'date-year',
    sameYear
      ? { day: 'numeric', month: 'short' }
      : { day: 'numeric', month: 'short', year: 'numeric' },
    timeZone,
  ).format(at);
  return `${date} ${clock}`;
}

/** The banner's words while the page shows a past moment: `viewing 03:12:05`. */
export function viewingText(at: number, now: number, timeZone?: string): string {
  return `viewing ${formatMoment(at, now, timeZone)}`;
}

/** The retained range in words: `5 Dec 10:00:00 – 12:38:00`. */
export function rangeText(range: RetainedRange, now: number, timeZone?: string): string {
  return `${formatMoment(range.from, now, timeZone)} – ${formatMoment(range.to, now, timeZone)}`;
}

/** An observation gap in words: `beamscope was not observing 03:10:02–03:11:40 (1m)`. */
export function gapText(gap: { from: number; to: number }, now: number, timeZone?: string): string {
  return `beamscope was not observing ${formatMoment(gap.from, now, timeZone)}–${formatMoment(
    gap.to,
    now,
    timeZone,
  )} (${formatDuration(gap.to - gap.from)})`;
}

/** The query of `GET /api/clusters/{id}/timeline`, as the API documents it. */
export interface TimelineParams {
  from?: number;
  to?: number;
  kind?: TimelineEventKind;
  node?: string;
  cursor?: string;
  limit?: number;
  order?: 'newest' | 'oldest';
}

/** The URL of a page of recorded events. */
export function timelineUrl(clusterId: string, params: TimelineParams): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params) as Array<[string, unknown]>) {
    if (value !== undefined) query.set(name, String(value));
  }
  const text = query.toString();
  return `/api/clusters/${encodeURIComponent(clusterId)}/timeline${text ? `?${text}` : ''}`;
}

/** The one event to step to from `at`: the newest before it, or the oldest after it. */
export function stepParams(at: number, direction: 'previous' | 'next'): TimelineParams {
  return direction === 'previous'
    ? { to: at - 1, limit: 1, order: 'newest' }
    : { from: at + 1, limit: 1, order: 'oldest' };
}

/** A timeline event's identity across runs (a restarted server numbers from 0 again). */
export function timelineEventId(event: TimelineEvent): string {
  return `${event.at}:${event.seq}:${event.kind}`;
}

/** Older recorded events joined to those on screen: each once, oldest first. */
export function mergeTimeline(
  older: readonly TimelineEvent[],
  current: readonly TimelineEvent[],
): TimelineEvent[] {
  const seen = new Set<string>();
  const merged: TimelineEvent[] = [];
  for (const event of [...older, ...current]) {
    const id = timelineEventId(event);
    if (seen.has(id)) continue;
    seen.add(id);
    merged.push(event);
  }
  // A stable sort: events of one millisecond keep the order they were recorded in.
  return merged.sort((a, b) => a.at - b.at);
}

const SAMPLE_STEPS_MS = [10_000, 30_000, 60_000, 120_000, 300_000];

/**
 * The moments the strip chart asks the history for: at most `count` points over the part of the
 * `windowMs` before `end` that is recorded (from `since`), on fixed boundaries (multiples of a
 * step from 10 s to 5 min, the finest that keeps within `count`) so that a page that stays open
 * asks for the same moments again and a cache answers.
 */
export function sampleMoments(
  end: number,
  since = Number.NEGATIVE_INFINITY,
  windowMs = 3_600_000,
  count = 12,
): number[] {
  const start = Math.max(end - windowMs, since);
  const span = end - start;
  const step =
    SAMPLE_STEPS_MS.find((candidate) => span / candidate <= count) ??
    SAMPLE_STEPS_MS[SAMPLE_STEPS_MS.length - 1]!;
  const moments: number[] = [];
  for (
    let at = Math.floor(end / step) * step;
    at >= start && at > end - windowMs && moments.length < count;
    at -= step
  ) {
    moments.unshift(at);
  }
  return moments;
}
