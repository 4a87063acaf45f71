'use client';

import { sampleOf, type ClusterSample } from '@/lib/dashboard';
import type { RetainedRange } from '@/lib/api';

import type { ClusterSource } from './use-cluster-source';
import { HISTORY_SAMPLES_MAX_MEMBERS, useHistorySamples } from './use-history';

/** The strip chart's points, and whether any came from the recorded history. */
export interface ChartSamples {
  points: ClusterSample[];
  recorded: boolean;
}

/**
 * The strip chart's hour: recorded moments from the history store (so the chart does not start
 * when the page opened) joined to the samples the live stream took since — or, for a past
 * moment, the recorded hour before it ending at the state shown.
 */
export function useChartSamples(
  clusterId: string,
  source: ClusterSource,
  retained: RetainedRange | null,
  now: number,
): ChartSamples {
  const end = source.mode === 'past' ? source.at : now;
  const members = source.shown?.state.members.length ?? 0;
  const { data: recorded = [] } = useHistorySamples(
    clusterId,
    end,
    retained,
    source.shown !== undefined && members <= HISTORY_SAMPLES_MAX_MEMBERS,
  );
  if (source.mode === 'past') {
    const atT = source.shown ? [sampleOf(source.shown.state, source.at)] : [];
    return {
      points: [...recorded.filter((sample) => sample.at < source.at), ...atT],
      recorded: recorded.length > 0,
    };
  }
  // Where the live samples begin they are finer than the recorded ones: recorded moments fill
  // the time before the page opened.
  const liveSamples = source.live.samples;
  const firstLive = liveSamples[0]?.at ?? Number.POSITIVE_INFINITY;
  return {
    points: [...recorded.filter((sample) => sample.at < firstLive), ...liveSamples],
    recorded: recorded.length > 0,
  };
}
