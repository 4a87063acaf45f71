'use client';

import { useState } from 'react';

import type { ListPage, TimelineEventDetailsResponse } from '@/lib/api';
import type { MemberRef } from '@/lib/cluster-state';
import { formatCount } from '@/lib/format';

import { useApi } from './use-api';

/** Items fetched when a summary event is first opened; each "show more" asks for four times as many. */
const FIRST_PAGE = 200;
/** The most the API hands out in one page. */
const MAX_PAGE = 10_000;

/** Props of {@link TimelineDetails}. */
export interface TimelineDetailsProps {
  clusterId: string;
  /** The summary event's sequence number. */
  seq: number;
}

/**
 * A summary event's full lists (a partition's sides and links, a mass join's members), fetched
 * when the operator opens the event and not before: the stream carries counts and samples only.
 */
export function TimelineDetails({ clusterId, seq }: TimelineDetailsProps) {
  const [limit, setLimit] = useState(FIRST_PAGE);
  const { data, error } = useApi<TimelineEventDetailsResponse>(
    `/api/clusters/${encodeURIComponent(clusterId)}/events/${seq}?limit=${limit}`,
    // The lists of a past event do not change: fetched once, never refreshed.
    { refreshInterval: 0, revalidateOnFocus: false, keepPreviousData: true },
  );
  if (error) {
    return (
      <p className="text-xs text-slate-500" data-testid="event-details-error">
        {error.message}
      </p>
    );
  }
  if (!data) return <p className="text-xs text-slate-500">Loading the list…</p>;
  return (
    <TimelineDetailsView
      details={data}
      onMore={limit < MAX_PAGE ? () => setLimit(Math.min(MAX_PAGE, limit * 4)) : undefined}
    />
  );
}

/** Props of {@link TimelineDetailsView}. */
export interface TimelineDetailsViewProps {
  details: TimelineEventDetailsResponse;
  /** Asks for a longer page; absent when the page is as long as the API serves. */
  onMore?: () => void;
}

const memberLabel = (member: MemberRef) =>
  member.pod && member.node
    ? `${member.pod} (${member.node})`
    : (member.pod ?? member.node ?? member.key);

/** What {@link TimelineDetails} shows once the lists are in: every side, then a page of items. */
export function TimelineDetailsView({ details, onMore }: TimelineDetailsViewProps) {
  return (
    <div className="mt-1 space-y-2 text-xs" data-testid="event-details">
      {details.sides ? (
        <ol className="space-y-1">
          {details.sides.map((side, index) => (
            <li key={side[0] ?? index} data-testid="event-side" data-size={side.length}>
              <span className="font-medium">
                Side {index + 1} ({formatCount(side.length)} {side.length === 1 ? 'node' : 'nodes'}
                ):
              </span>{' '}
              <span className="break-words text-slate-600 dark:text-slate-400">
                {side.join(', ')}
              </span>
            </li>
          ))}
        </ol>
      ) : null}
      {details.links ? (
        <PageList
          label={
            details.event.kind === 'partition_healed' || details.event.kind === 'link_up'
              ? 'Links up'
              : 'Links down'
          }
          page={details.links}
          render={([a, b]) => `${a} — ${b}`}
          testId="event-link"
          onMore={onMore}
        />
      ) : null}
      {details.members ? (
        <PageList
          label="Members"
          page={details.members}
          render={memberLabel}
          testId="event-member"
          onMore={onMore}
        />
      ) : null}
    </div>
  );
}

function PageList<T>({
  label,
  page,
  render,
  testId,
  onMore,
}: {
  label: string;
  page: ListPage<T>;
  render: (item: T) => string;
  testId: string;
  onMore: (() => void) | undefined;
}) {
  const shown = page.items.length;
  return (
    <div>
      <p className="font-medium">
        {label}: {formatCount(page.total)}
        {shown < page.total ? ` (the first ${formatCount(shown)} shown)` : ''}
      </p>
      <ul className="max-h-48 overflow-auto font-mono text-slate-600 dark:text-slate-400">
        {page.items.map((item) => {
          const text = render(item);
          return (
            <li key={text} data-testid={testId}>
              {text}
            </li>
          );
        })}
      </ul>
      {shown < page.total && onMore ? (
        <button
          type="button"
          onClick={onMore}
          className="mt-1 text-sky-700 hover:underline dark:text-sky-400"
        >
          show more
        </button>
      ) : null}
    </div>
  );
}
