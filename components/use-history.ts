'use client';

import { useEffect, useState } from 'react';
import useSWR from 'swr';

import type {
  ClusterSnapshotAt,
  HistoryStatusResponse,
  NodeHistoryResponse,
  RetainedRange,
  TimelinePageResponse,
} from '@/lib/api';
import type { TimelineEvent } from '@/lib/cluster-state';
import { sampleOf, type ClusterSample } from '@/lib/dashboard';
import { expandState, type WireClusterState } from '@/lib/peer-wire';
import { sampleMoments, stepParams, TICK_KINDS, timelineUrl } from '@/lib/time-travel';

import { fetchJson, useApi, type ApiRequestError } from './use-api';

const clusterBase = (clusterId: string) => `/api/clusters/${encodeURIComponent(clusterId)}`;

/** The URL of the state at `at`, peer lists compact as the live snapshot's. */
export function snapshotAtUrl(clusterId: string, at: number): string {
  return `${clusterBase(clusterId)}?at=${at}&peers=compact`;
}

/** The state at a past moment, its compact peer lists expanded. */
export async function fetchSnapshotAt(url: string): Promise<ClusterSnapshotAt> {
  const snapshot = await fetchJson<Omit<ClusterSnapshotAt, 'state'> & { state: WireClusterState }>(
    url,
  );
  return { ...snapshot, state: expandState(snapshot.state) };
}

/** A clock for the page that ticks every `everyMs` (the scrubber's right end moves with it). */
export function useNow(everyMs = 5000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

/**
 * `GET /history`: where the cluster's history is kept, its health and the retained range. Polled,
 * so a database that fails (or comes back) shows on the page; live viewing never waits on it.
 */
export function useHistoryStatus(clusterId: string) {
  return useApi<HistoryStatusResponse>(`${clusterBase(clusterId)}/history`, {
    refreshInterval: 5000,
    // A server without history answers 404: asking again every 5 s would change nothing.
    shouldRetryOnError: false,
  });
}

/**
 * The events the scrubber's track marks, over the whole retained range: one page per marked
 * kind (newest first), so a storm of one kind cannot crowd out the others. Refreshed slowly.
 */
export function useTickEvents(clusterId: string, retainedFrom: number | null) {
  const key =
    retainedFrom === null
      ? null
      : TICK_KINDS.map((entry) =>
          timelineUrl(clusterId, { kind: entry.kind, from: retainedFrom, limit: 200 }),
        );
  return useSWR<TimelineEvent[], ApiRequestError>(
    key,
    async (urls: string[]) => {
      const pages = await Promise.all(urls.map((url) => fetchJson<TimelinePageResponse>(url)));
      return pages.flatMap((page) => page.events);
    },
    { refreshInterval: 15_000, revalidateOnFocus: false, keepPreviousData: true },
  );
}

/**
 * The moment of the event next to `at` (the newest before it, or the oldest after it), or null
 * when there is none in the record.
 */
export async function eventBeside(
  clusterId: string,
  at: number,
  direction: 'previous' | 'next',
): Promise<number | null> {
  const page = await fetchJson<TimelinePageResponse>(
    timelineUrl(clusterId, stepParams(at, direction)),
  );
  return page.events[0]?.at ?? null;
}

/** The fixed snapshot at `at` (null: none asked), kept on screen while the next one loads. */
export function useSnapshotAt(clusterId: string, at: number | null) {
  return useSWR<ClusterSnapshotAt, ApiRequestError>(
    at === null ? null : snapshotAtUrl(clusterId, at),
    fetchSnapshotAt,
    {
      // The past does not change: fetched once per moment.
      revalidateOnFocus: false,
      revalidateOnReconnect: false,
      revalidateIfStale: false,
      shouldRetryOnError: false,
      keepPreviousData: true,
    },
  );
}

/**
 * A node's recorded series over [from, to] (`/nodes/{node}/history`). `to` is rounded to 10 s
 * so a live drawer asks for the same window a few times and a cache answers.
 */
export function useNodeSeries(
  clusterId: string,
  node: string | null,
  window: { from: number; to: number } | null,
  options: { live: boolean },
) {
  const url =
    node && window
      ? `${clusterBase(clusterId)}/nodes/${encodeURIComponent(node)}/history?from=${window.from}&to=${window.to}`
      : null;
  return useApi<NodeHistoryResponse>(url, {
    refreshInterval: options.live ? 10_000 : 0,
    revalidateOnFocus: false,
    shouldRetryOnError: false,
    keepPreviousData: true,
  });
}

// A recorded moment's figures do not change: each is asked for once per page, however often the
// chart's window moves (a new window shares all but one of its moments with the last).
const recordedSamples = new Map<string, ClusterSample>();
const RECORDED_SAMPLES_KEPT = 500;

async function recordedSample(clusterId: string, moment: number): Promise<ClusterSample | null> {
  const url = snapshotAtUrl(clusterId, moment);
  const known = recordedSamples.get(url);
  if (known) return known;
  try {
    const sample = sampleOf((await fetchSnapshotAt(url)).state, moment);
    if (recordedSamples.size >= RECORDED_SAMPLES_KEPT) recordedSamples.clear();
    recordedSamples.set(url, sample);
    return sample;
  } catch {
    // Outside the range or in a gap: that moment has no figures.
    return null;
  }
}

/** The most members for which the strip chart rebuilds past states (each is a whole snapshot). */
export const HISTORY_SAMPLES_MAX_MEMBERS = 300;

/**
 * The strip chart's recorded hour before `end`: the state rebuilt at a dozen fixed moments at most
 * (`?at=`), each reduced to the chart's three figures. Moments outside the retained range or in
 * a gap are left out. Skipped (null key) for large clusters, whose snapshots are heavy.
 */
export function useHistorySamples(
  clusterId: string,
  end: number | null,
  retained: RetainedRange | null,
  enabled: boolean,
) {
  const moments =
    end === null || retained === null || !enabled
      ? []
      : sampleMoments(end, retained.from).filter((moment) => moment <= retained.to);
  return useSWR<ClusterSample[], ApiRequestError>(
    moments.length === 0 ? null : ['history-samples', clusterId, ...moments],
    async ([, id, ...at]: [string, string, ...number[]]) => {
      const samples = await Promise.all(at.map((moment) => recordedSample(id, moment)));
      return samples.filter((sample): sample is ClusterSample => sample !== null);
    },
    { revalidateOnFocus: false, revalidateIfStale: false, keepPreviousData: true },
  );
}
