'use client';

import { memo, useCallback, useMemo, useState } from 'react';

import type { TimelineEvent, TimelineEventKind } from '@/lib/cluster-state';
import type { ClusterSample } from '@/lib/dashboard';
import { formatClock } from '@/lib/format';
import { gapText, mergeTimeline, timelineEventId } from '@/lib/time-travel';

import { DownCauseNote } from './DownCauseNote';
import { EarlierEvents, useEarlierEvents } from './EarlierEvents';
import { StripChart } from './StripChart';
import { TimelineDetails } from './TimelineDetails';

const GROUPS: Array<{ id: string; label: string; kinds: TimelineEventKind[] }> = [
  {
    id: 'members',
    label: 'Members',
    kinds: ['member_joined', 'member_left', 'pod_ready', 'pod_unready', 'pod_terminating'],
  },
  { id: 'nodes', label: 'Nodes', kinds: ['node_up', 'node_down', 'down_cause'] },
  {
    id: 'mesh',
    label: 'Mesh',
    kinds: ['link_up', 'link_down', 'link_flap', 'partition_detected', 'partition_healed'],
  },
  {
    id: 'registry',
    label: 'Registry',
    kinds: ['registry_changed', 'registry_rebalanced', 'registry_diverged', 'registry_converged'],
  },
  {
    id: 'code',
    label: 'Code',
    kinds: ['code_skew_detected', 'code_skew_changed', 'code_skew_cleared'],
  },
  { id: 'kubernetes', label: 'Kubernetes', kinds: ['kubernetes_event'] },
  { id: 'gaps', label: 'Not observed', kinds: ['observation_gap'] },
];

const SEVERITY_ICON: Record<TimelineEvent['severity'], string> = {
  info: 'ℹ',
  warning: '⚠',
  error: '✖',
};

const SEVERITY_TONE: Record<TimelineEvent['severity'], string> = {
  info: 'text-slate-500',
  warning: 'text-amber-700 dark:text-amber-400',
  error: 'text-red-700 dark:text-red-400',
};

/** Props of {@link Timeline}. */
export interface TimelineProps {
  /** The cluster, for fetching a summary event's full lists when it is opened. */
  clusterId: string;
  events: TimelineEvent[];
  /**
   * Whether `/events/{seq}` can serve these events' full lists: it holds this server run's only,
   * and a past run's event may share a sequence number with another of this run.
   */
  detailsAvailable?: boolean;
  samples: ClusterSample[];
  /** Some samples come from the recorded history, not only from this page's own watching. */
  recorded?: boolean;
  now: number;
  /** The past moment shown, or null when live. */
  viewing?: number | null;
  /** A member's key was clicked in an event. */
  onSelect(key: string): void;
}

/**
 * The live event list, newest first, filtered by kind and severity, over the strip chart. A
 * summary event (a partition, a storm of links, a mass join) opens to its full lists.
 */
export function Timeline({
  clusterId,
  events,
  detailsAvailable = true,
  samples,
  recorded = false,
  now,
  viewing = null,
  onSelect,
}: TimelineProps) {
  const earlier = useEarlierEvents(clusterId, events[0]?.at ?? viewing ?? now);
  const [hidden, setHidden] = useState<ReadonlySet<string>>(new Set());
  const [opened, setOpened] = useState<ReadonlySet<number>>(new Set());
  const toggleOpened = useCallback(
    (seq: number) =>
      setOpened((current) => {
        const next = new Set(current);
        if (next.has(seq)) next.delete(seq);
        else next.add(seq);
        return next;
      }),
    [],
  );
  const [problemsOnly, setProblemsOnly] = useState(false);
  // Events from the stream (or the moment's snapshot) have their details on this run; those
  // paged in from the record are shown as recorded. Both change with the events and the filters,
  // not with every delta's `now`.
  const withDetails = useMemo(
    () => new Set(detailsAvailable ? events.map(timelineEventId) : []),
    [detailsAvailable, events],
  );
  const shown = useMemo(() => {
    const hiddenKinds = new Set(
      GROUPS.filter((group) => hidden.has(group.id)).flatMap((group) => group.kinds),
    );
    const all = earlier.events.length > 0 ? mergeTimeline(earlier.events, events) : events;
    return all
      .filter((event) => !hiddenKinds.has(event.kind))
      .filter((event) => !problemsOnly || event.severity !== 'info')
      .slice(-(200 + earlier.events.length))
      .reverse();
  }, [earlier.events, events, hidden, problemsOnly]);
  const toggle = (id: string) =>
    setHidden((current) => {
      const next = new Set(current);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  return (
    <section
      aria-label="Timeline"
      className="flex min-h-0 flex-1 flex-col overflow-hidden rounded-lg border border-slate-200 bg-white dark:border-slate-800 dark:bg-slate-900"
    >
      <div className="flex flex-wrap items-center gap-2 border-b border-slate-200 px-3 py-2 dark:border-slate-800">
        <h2 className="mr-2 font-semibold">Timeline</h2>
        {GROUPS.map((group) => (
          <button
            key={group.id}
            type="button"
            aria-pressed={!hidden.has(group.id)}
            onClick={() => toggle(group.id)}
            className={`rounded-full border px-2 py-0.5 text-xs ${
              hidden.has(group.id)
                ? 'border-slate-300 text-slate-400 line-through dark:border-slate-700'
                : 'border-sky-300 bg-sky-50 text-sky-900 dark:border-sky-800 dark:bg-sky-950 dark:text-sky-200'
            }`}
          >
            {group.label}
          </button>
        ))}
        <label className="ml-auto flex items-center gap-1 text-xs">
          <input
            type="checkbox"
            checked={problemsOnly}
            onChange={(event) => setProblemsOnly(event.target.checked)}
          />
          warnings and errors only
        </label>
      </div>
      <StripChart samples={samples} now={now} recorded={recorded} />
      <ol
        className="relative min-h-0 flex-1 overflow-auto px-3 py-1 text-sm"
        data-testid="timeline"
        aria-live="polite"
      >
        {shown.length === 0 ? (
          <li className="py-2 text-slate-500">
            No events{events.length > 0 ? ' match the filters' : ' yet'}.
          </li>
        ) : null}
        {shown.map((event) => {
          const id = timelineEventId(event);
          if (event.kind === 'observation_gap') {
            return <GapRow key={id} event={event} now={now} />;
          }
          return (
            <TimelineRow
              key={id}
              clusterId={clusterId}
              event={event}
              expandable={event.expandable === true && withDetails.has(id)}
              opened={opened.has(event.seq)}
              onToggle={toggleOpened}
              onSelect={onSelect}
            />
          );
        })}
        <EarlierEvents earlier={earlier} />
      </ol>
    </section>
  );
}

/**
 * One event of the list. Memoised: an event keeps its object while it stays in the list, so a
 * delta (a new `now`, a new sample) re-renders none of the 200 lines, and a new event one.
 */
const TimelineRow = memo(function TimelineRow({
  clusterId,
  event,
  expandable,
  opened,
  onToggle,
  onSelect,
}: {
  clusterId: string;
  event: TimelineEvent;
  expandable: boolean;
  opened: boolean;
  onToggle(seq: number): void;
  onSelect(key: string): void;
}) {
  return (
    <li
      className="border-b border-slate-100 py-1 last:border-0 dark:border-slate-800"
      data-testid="timeline-event"
      data-kind={event.kind}
      data-severity={event.severity}
      data-at={event.at}
    >
      <div className="flex gap-2">
        <span className="shrink-0 tabular-nums text-slate-500">{formatClock(event.at)}</span>
        <span className={`shrink-0 ${SEVERITY_TONE[event.severity]}`} title={event.severity}>
          <span aria-hidden>{SEVERITY_ICON[event.severity]}</span>
          <span className="sr-only">{event.severity}</span>
        </span>
        {event.key ? (
          <button
            type="button"
            onClick={() => onSelect(event.key!)}
            className={`text-left hover:underline ${event.severity === 'info' ? '' : SEVERITY_TONE[event.severity]}`}
          >
            {event.message}
          </button>
        ) : (
          <span className={event.severity === 'info' ? '' : SEVERITY_TONE[event.severity]}>
            {event.message}
          </span>
        )}
        {expandable ? (
          <button
            type="button"
            aria-expanded={opened}
            onClick={() => onToggle(event.seq)}
            className="ml-auto shrink-0 text-xs text-sky-700 hover:underline dark:text-sky-400"
            data-testid="timeline-expand"
          >
            {opened ? 'hide list' : 'list'}
          </button>
        ) : null}
      </div>
      {event.between ? (
        // When the links dropped: between two probes, not at the event's own time (told later).
        <div className="pl-24 text-xs text-slate-500" data-testid="timeline-between">
          between {formatClock(event.between.from)} and {formatClock(event.between.to)}
        </div>
      ) : null}
      {event.cause || event.causes ? (
        <div className="pl-24">
          <DownCauseNote cause={event.cause} causes={event.causes} />
        </div>
      ) : null}
      {expandable && opened ? <TimelineDetails clusterId={clusterId} seq={event.seq} /> : null}
    </li>
  );
});

/** A span no beamscope run observed, drawn apart from the events: nothing is known of it. */
function GapRow({ event, now }: { event: TimelineEvent; now: number }) {
  const span = event.gap ?? { from: event.at, to: event.at };
  return (
    <li
      className="my-1 rounded border border-dashed border-slate-400 bg-[repeating-linear-gradient(135deg,transparent_0_6px,var(--color-slate-100)_6px_9px)] px-2 py-1 italic text-slate-600 dark:border-slate-600 dark:bg-[repeating-linear-gradient(135deg,transparent_0_6px,var(--color-slate-800)_6px_9px)] dark:text-slate-300"
      data-testid="timeline-event"
      data-kind={event.kind}
      data-severity={event.severity}
      data-at={event.at}
      data-gap-from={span.from}
      data-gap-to={span.to}
    >
      <span aria-hidden>… </span>
      {gapText(span, now)}
    </li>
  );
}
