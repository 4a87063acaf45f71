'use client';

import type { ClusterSnapshot, ClusterSnapshotAt } from '@/lib/api';

import type { ApiRequestError } from './use-api';
import { useClusterStream, type ClusterStream } from './use-cluster-stream';
import { useSnapshotAt } from './use-history';

/**
 * Where the page's state comes from: the live stream, or a fixed snapshot at a past moment T
 * rebuilt by the history store. Every panel reads `shown` and does not care which.
 */
export type ClusterSource =
  | {
      mode: 'live';
      shown: ClusterSnapshot | undefined;
      error: ApiRequestError | undefined;
      live: ClusterStream;
    }
  | {
      mode: 'past';
      /** The moment asked for. */
      at: number;
      /**
       * The state at `at` once it is in; while the next moment loads, the last one shown (its
       * `viewingAt` says which), never the live state under a past moment's banner.
       */
      shown: ClusterSnapshotAt | undefined;
      /** The moment is being fetched. */
      loading: boolean;
      /** Why the moment cannot be shown (`outside_retention`, the store failing, …). */
      error: ApiRequestError | undefined;
      live: ClusterStream;
    };

/**
 * The page's one source of state. The live stream keeps running while a past moment is viewed,
 * so going back to live is immediate and nothing is missed: its deltas keep applying to the
 * live snapshot in the background.
 */
export function useClusterSource(clusterId: string, at: number | null): ClusterSource {
  const live = useClusterStream(clusterId);
  const past = useSnapshotAt(clusterId, at);
  if (at === null) return { mode: 'live', shown: live.data, error: live.error, live };
  return {
    mode: 'past',
    at,
    shown: past.data,
    // keepPreviousData holds the last moment on screen; isLoading says the asked one is not in.
    loading: past.isLoading,
    error: past.error,
    live,
  };
}
