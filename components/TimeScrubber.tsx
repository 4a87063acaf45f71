'use client';

import { useEffect, useRef, useState, type KeyboardEvent } from 'react';

import {
  formatMoment,
  isLiveEnd,
  positionOfTime,
  scrubStep,
  type ScrubRange,
  type ScrubTick,
} from '@/lib/time-travel';

/** How long a drag or a held arrow key rests before the page fetches the moment under the thumb. */
const SETTLE_MS = 250;

const TICK_STYLE: Record<ScrubTick['kind'], { className: string; label: string }> = {
  partition: { className: 'bg-red-600 dark:bg-red-500', label: 'partition' },
  heal: { className: 'bg-green-600 dark:bg-green-500', label: 'healed' },
  node_down: { className: 'bg-amber-500 dark:bg-amber-400', label: 'node down' },
  gap: { className: '', label: 'not observed' },
};

// Thumb centres run from half a thumb in from each end of the track; ticks are placed the same
// way so a tick and the thumb dragged onto it line up (Chromium's default thumb is 16 px).
const along = (position: number) => `calc(8px + ${position} * (100% - 16px))`;

/** `YYYY-MM-DDTHH:MM:SS` in the viewer's zone: what `<input type="datetime-local">` holds. */
function localInputValue(ms: number): string {
  const date = new Date(ms);
  const two = (value: number) => String(value).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}T${two(
    date.getHours(),
  )}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/** Props of {@link TimeScrubber}. */
export interface TimeScrubberProps {
  range: ScrubRange;
  /** The moment viewed, or null for live. */
  at: number | null;
  now: number;
  ticks: ScrubTick[];
  /** A moment was chosen (null: back to live). */
  onChange(at: number | null): void;
  /** Steps to the recorded event before or after `from`; resolves with its moment or null. */
  onStep(from: number, direction: 'previous' | 'next'): Promise<number | null>;
}

/**
 * The time scrubber: a track over the retained range with ticks for splits, heals, nodes going
 * down and spans not observed; drag the thumb or use the keyboard (arrows step, Shift for ten
 * steps, Page Up / Page Down for the previous / next event, Home for the oldest moment, End for
 * live), step event by event, or pick a date and time. The right end is live.
 */
export function TimeScrubber({ range, at, now, ticks, onChange, onStep }: TimeScrubberProps) {
  const [pending, setPending] = useState<number | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  const value = pending ?? at ?? range.to;
  const step = scrubStep(range);

  const commit = (moment: number) => {
    clearTimeout(timer.current);
    setPending(null);
    onChange(isLiveEnd(moment, range) ? null : moment);
  };
  const settle = (moment: number) => {
    setPending(moment);
    setNote(null);
    clearTimeout(timer.current);
    timer.current = setTimeout(() => commit(moment), SETTLE_MS);
  };
  const stepTo = async (direction: 'previous' | 'next') => {
    setNote(null);
    try {
      const found = await onStep(value, direction);
      if (found === null) {
        if (direction === 'next') onChange(null);
        else setNote('No earlier recorded event.');
      } else {
        onChange(found);
      }
    } catch (error) {
      setNote(`Cannot step: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  const onKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    const by = event.shiftKey ? step * 10 : step;
    const clamp = (moment: number) => Math.min(range.to, Math.max(range.from, moment));
    const actions: Record<string, () => void> = {
      ArrowLeft: () => settle(clamp(value - by)),
      ArrowDown: () => settle(clamp(value - by)),
      ArrowRight: () => settle(clamp(value + by)),
      ArrowUp: () => settle(clamp(value + by)),
      PageUp: () => void stepTo('previous'),
      PageDown: () => void stepTo('next'),
      Home: () => commit(range.from),
      End: () => commit(range.to),
    };
    const action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  };
  const label = at === null && pending === null ? 'live' : formatMoment(value, now);

  return (
    <div className="flex flex-wrap items-center gap-2" data-testid="time-scrubber">
      <button
        type="button"
        onClick={() => void stepTo('previous')}
        className="rounded border border-slate-300 px-2 py-0.5 text-xs hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800"
        data-testid="scrub-previous"
        title="The recorded event before this moment (Page Up)"
      >
        ◀ previous event
      </button>
      <div className="relative min-w-[16rem] flex-1 py-2">
        <div className="pointer-events-none absolute inset-x-0 top-1/2 h-3 -translate-y-1/2">
          {ticks.map((tick) =>
            tick.kind === 'gap' ? (
              <span
                key={`gap-${tick.at}`}
                data-testid="scrub-tick"
                data-kind="gap"
                data-at={tick.at}
                title={tick.message}
                className="absolute top-0 h-3 min-w-[3px] rounded-sm border border-slate-400 bg-[repeating-linear-gradient(135deg,var(--color-slate-400)_0_2px,transparent_2px_5px)] dark:border-slate-500"
                style={{
                  left: along(tick.position),
                  width: `calc(${(tick.end ?? tick.position) - tick.position} * (100% - 16px))`,
                }}
              />
            ) : (
              <span
                key={`${tick.kind}-${tick.at}`}
                data-testid="scrub-tick"
                data-kind={tick.kind}
                data-at={tick.at}
                title={`${TICK_STYLE[tick.kind].label}: ${tick.message}`}
                className={`absolute top-0 h-3 w-[2px] -translate-x-1/2 ${TICK_STYLE[tick.kind].className}`}
                style={{ left: along(tick.position) }}
              />
            ),
          )}
        </div>
        <input
          type="range"
          min={range.from}
          max={range.to}
          step={1000}
          value={value}
          aria-label="Moment shown"
          aria-valuetext={label}
          aria-keyshortcuts="ArrowLeft ArrowRight PageUp PageDown Home End"
          data-testid="scrub-track"
          data-from={range.from}
          data-to={range.to}
          onChange={(event) => settle(Number(event.target.value))}
          onPointerUp={(event) => commit(Number((event.target as HTMLInputElement).value))}
          onKeyDown={onKeyDown}
          className="relative w-full accent-sky-600"
        />
        <span
          aria-hidden
          className="pointer-events-none absolute -top-2 text-[10px] tabular-nums text-slate-500"
          style={{ left: along(positionOfTime(value, range)), transform: 'translateX(-50%)' }}
        >
          {pending !== null ? label : null}
        </span>
      </div>
      <button
        type="button"
        onClick={() => void stepTo('next')}
        className="rounded border border-slate-300 px-2 py-0.5 text-xs hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800"
        data-testid="scrub-next"
        title="The recorded event after this moment (Page Down); live after the last"
      >
        next event ▶
      </button>
      <button
        type="button"
        onClick={() => commit(range.to)}
        disabled={at === null}
        aria-pressed={at === null}
        className="rounded border border-green-300 bg-green-50 px-2 py-0.5 text-xs font-semibold text-green-900 disabled:opacity-60 dark:border-green-900 dark:bg-green-950 dark:text-green-200"
        data-testid="scrub-live"
      >
        ● live
      </button>
      <form
        className="flex items-center gap-1 text-xs"
        onSubmit={(event) => {
          event.preventDefault();
          const input = new FormData(event.currentTarget).get('moment');
          const moment = typeof input === 'string' ? new Date(input).getTime() : Number.NaN;
          if (Number.isFinite(moment)) commit(Math.min(range.to, Math.max(range.from, moment)));
          else setNote('Pick a date and time first.');
        }}
      >
        <label className="sr-only" htmlFor="scrub-moment">
          Date and time to view
        </label>
        <input
          id="scrub-moment"
          name="moment"
          type="datetime-local"
          step={1}
          // A new default whenever the moment shown changes; typing edits it freely.
          key={at ?? 'live'}
          defaultValue={localInputValue(at ?? now)}
          min={localInputValue(range.from)}
          max={localInputValue(range.to)}
          data-testid="scrub-picker"
          className="rounded border border-slate-300 bg-white px-1 py-0.5 dark:border-slate-700 dark:bg-slate-900"
        />
        <button
          type="submit"
          className="rounded border border-slate-300 px-2 py-0.5 hover:bg-slate-100 dark:border-slate-700 dark:hover:bg-slate-800"
        >
          go
        </button>
      </form>
      {note ? (
        <p className="w-full text-xs text-slate-500" role="status" data-testid="scrub-note">
          {note}
        </p>
      ) : null}
    </div>
  );
}
