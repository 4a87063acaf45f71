'use client';

import { useRef, useState } from 'react';

import type { TimelinePageResponse } from '@/lib/api';
import type { TimelineEvent } from '@/lib/cluster-state';
import { timelineUrl } from '@/lib/time-travel';

import { fetchJson } from './use-api';

/** Events asked for per "load earlier". */
const PAGE = 100;

/** Older recorded events paged in by the operator, and the way to ask for more. */
export interface EarlierEventsState {
  events: TimelineEvent[];
  /** `idle` until asked; `end` once the record has nothing older. */
  status: 'idle' | 'loading' | 'more' | 'end' | 'error';
  error: string | null;
  loadMore(): void;
}

/**
 * Pages back through the recorded timeline (`/timeline`, newest first) from `before`, the
 * oldest event on screen — which the stream's bounded ring, or the page opening, cut off.
 */
export function useEarlierEvents(clusterId: string, before: number): EarlierEventsState {
  const [events, setEvents] = useState<TimelineEvent[]>([]);
  const [status, setStatus] = useState<EarlierEventsState['status']>('idle');
  const [error, setError] = useState<string | null>(null);
  // Fixed at the first page: the live ring moves on, the record's cursor does not.
  const query = useRef<{ to: number; cursor: string | null } | null>(null);
  const loadMore = () => {
    if (status === 'loading' || status === 'end') return;
    query.current ??= { to: before, cursor: null };
    const { to, cursor } = query.current;
    setStatus('loading');
    fetchJson<TimelinePageResponse>(
      timelineUrl(clusterId, { to, limit: PAGE, ...(cursor ? { cursor } : {}) }),
    ).then(
      (page) => {
        query.current = { to, cursor: page.next };
        setEvents((current) => [...[...page.events].reverse(), ...current]);
        setError(null);
        setStatus(page.next === null ? 'end' : 'more');
      },
      (failure: unknown) => {
        setError(failure instanceof Error ? failure.message : String(failure));
        setStatus('error');
      },
    );
  };
  return { events, status, error, loadMore };
}

/** The foot of the timeline: "load earlier", or why it cannot, or that the record ends here. */
export function EarlierEvents({ earlier }: { earlier: EarlierEventsState }) {
  return (
    <li className="py-2 text-center text-xs text-slate-500" data-testid="timeline-earlier">
      {earlier.status === 'end' ? (
        <span data-testid="timeline-earlier-end">No earlier recorded events.</span>
      ) : (
        <>
          {earlier.error ? (
            <span className="mr-2 text-red-700 dark:text-red-400">{earlier.error}</span>
          ) : null}
          <button
            type="button"
            onClick={earlier.loadMore}
            disabled={earlier.status === 'loading'}
            className="rounded border border-slate-300 px-2 py-0.5 hover:bg-slate-100 disabled:opacity-60 dark:border-slate-700 dark:hover:bg-slate-800"
            data-testid="timeline-load-earlier"
          >
            {earlier.status === 'loading' ? 'loading…' : 'load earlier'}
          </button>
        </>
      )}
    </li>
  );
}
