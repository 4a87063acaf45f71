'use client';

import type { HistoryStatusResponse, RetainedRange } from '@/lib/api';
import type { TimelineEvent } from '@/lib/cluster-state';
import {
  formatMoment,
  rangeText,
  selectTicks,
  viewingText,
  type ScrubRange,
} from '@/lib/time-travel';

import { TimeScrubber } from './TimeScrubber';
import type { ApiRequestError } from './use-api';

const STORE_NAME: Record<HistoryStatusResponse['store'], string> = {
  memory: 'in memory',
  sqlite: 'SQLite',
  postgres: 'PostgreSQL',
};

/**
 * The history store's state in a few words: recorded where, lost on restart (memory), or failing
 * — in which case the live view carries on and says so.
 */
export function HistoryBadge({
  status,
  error,
}: {
  status: HistoryStatusResponse | undefined;
  error: ApiRequestError | undefined;
}) {
  const [tone, text, state] = !status
    ? error
      ? [
          'bg-slate-100 text-slate-700 dark:bg-slate-800 dark:text-slate-300',
          `history: unavailable (${error.message}) — live view continues`,
          'unavailable',
        ]
      : ['bg-slate-100 text-slate-500 dark:bg-slate-800', 'history: …', 'loading']
    : status.status.state === 'error'
      ? [
          'bg-red-100 text-red-900 dark:bg-red-950 dark:text-red-200',
          `history: ${status.status.reason} — live view continues`,
          'error',
        ]
      : status.store === 'memory'
        ? [
            'bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-200',
            'history: in memory — lasts only while this server runs',
            'memory',
          ]
        : [
            'bg-slate-100 text-slate-700 dark:bg-slate-800 dark:text-slate-200',
            `history: recorded (${STORE_NAME[status.store]})`,
            'ok',
          ];
  return (
    <span
      role="status"
      data-testid="history-status"
      data-state={state}
      data-store={status?.store ?? ''}
      className={`inline-flex items-center gap-1.5 rounded px-2 py-0.5 text-xs ${tone}`}
    >
      <span aria-hidden>{state === 'error' ? '⚠' : '●'}</span>
      {text}
    </span>
  );
}

/** Props of {@link TimeTravelBar}. */
export interface TimeTravelBarProps {
  status: HistoryStatusResponse | undefined;
  statusError: ApiRequestError | undefined;
  /** The scrubber's track, or null when nothing is retained (no scrubber then). */
  range: ScrubRange | null;
  at: number | null;
  now: number;
  /** The recorded events the track marks. */
  tickEvents: TimelineEvent[];
  onChange(at: number | null): void;
  onStep(from: number, direction: 'previous' | 'next'): Promise<number | null>;
}

/** The strip under the top bar: the history store's state and the time scrubber. */
export function TimeTravelBar(props: TimeTravelBarProps) {
  const { status, statusError, range, at, now, tickEvents, onChange, onStep } = props;
  return (
    <section
      aria-label="Time"
      data-testid="time-travel"
      data-mode={at === null ? 'live' : 'past'}
      className="rounded-lg border border-slate-200 bg-white px-3 py-2 dark:border-slate-800 dark:bg-slate-900"
    >
      <div className="mb-1 flex flex-wrap items-center gap-2 text-xs text-slate-500">
        <h2 className="font-semibold text-slate-700 dark:text-slate-200">Time</h2>
        <HistoryBadge status={status} error={statusError} />
        {status?.retained ? (
          <span data-testid="history-range">
            retained {rangeText(status.retained, now)} · drag, use ← → (Shift ×10), Page Up/Down for
            events, End for live
          </span>
        ) : null}
      </div>
      {range ? (
        <TimeScrubber
          range={range}
          at={at}
          now={now}
          ticks={selectTicks(tickEvents, range)}
          onChange={onChange}
          onStep={onStep}
        />
      ) : (
        <p className="text-xs text-slate-500">Nothing recorded yet: the live view only.</p>
      )}
    </section>
  );
}

/**
 * The banner while the page shows a past moment: which moment, and the way back to live (the
 * live stream kept running underneath, so it is immediate).
 */
export function ViewingBanner({
  at,
  now,
  loading,
  onLive,
}: {
  at: number;
  now: number;
  loading: boolean;
  onLive(): void;
}) {
  return (
    <div
      role="status"
      data-testid="viewing-banner"
      data-at={at}
      className="flex flex-wrap items-center gap-2 border-t border-sky-300 bg-sky-100 px-4 py-2 text-sm text-sky-950 dark:border-sky-900 dark:bg-sky-950 dark:text-sky-100"
    >
      <span aria-hidden>◀</span>
      <span className="font-semibold" data-testid="viewing-text">
        {viewingText(at, now)}
      </span>
      <span aria-hidden>—</span>
      <button
        type="button"
        onClick={onLive}
        className="font-semibold underline underline-offset-2 hover:no-underline"
        data-testid="back-to-live"
      >
        back to live
      </button>
      <span className="text-xs text-sky-800 dark:text-sky-300">
        {loading
          ? 'loading this moment…'
          : 'the page shows the recorded state at this moment; the live view keeps updating underneath'}
      </span>
    </div>
  );
}

/** Why a past moment cannot be shown: the reason, the range that can, and the way back to live. */
export function PastProblem({
  at,
  now,
  reason,
  retained,
  statusKnown,
  statusError,
  onLive,
}: {
  /** The moment asked for, or null when `?at=` could not be read. */
  at: number | null;
  now: number;
  reason: string;
  retained: RetainedRange | null;
  /** Whether the history status has been read: until then `retained` is null for no reason. */
  statusKnown: boolean;
  statusError: ApiRequestError | undefined;
  onLive(): void;
}) {
  // The box can show before the status arrives (the past moment fails first): "nothing
  // recorded" would then be a claim the page has not checked.
  const rangeLine = retained
    ? `History covers ${rangeText(retained, now)}.`
    : statusKnown
      ? 'Nothing of this cluster is recorded yet.'
      : statusError
        ? `The recorded range cannot be read: ${statusError.message}`
        : 'Reading the recorded range…';
  return (
    <div
      role="alert"
      data-testid="past-problem"
      className="rounded-lg border border-amber-300 bg-amber-50 px-4 py-3 text-sm text-amber-950 dark:border-amber-900 dark:bg-amber-950/60 dark:text-amber-100"
    >
      <p className="font-semibold">
        <span aria-hidden>⚠ </span>
        {at === null
          ? 'Cannot read the moment in the link'
          : `Cannot show ${formatMoment(at, now)}`}
      </p>
      <p className="mt-1">{reason}</p>
      <p className="mt-1" data-testid="past-problem-range">
        {rangeLine}
      </p>
      <button
        type="button"
        onClick={onLive}
        className="mt-2 rounded border border-amber-400 px-2 py-0.5 font-semibold hover:bg-amber-100 dark:hover:bg-amber-900"
        data-testid="problem-live"
      >
        ● show live
      </button>
    </div>
  );
}
