'use client';

import { useEffect, useRef, useState } from 'react';
import useSWR from 'swr';

import type { ClusterSnapshot, ClusterTimelineMessage } from '@/lib/api';
import {
  appendSample,
  appendTimelineMessage,
  applyDeltaMessage,
  applySnapshotMessage,
  reconnectDelay,
  linkFailed,
  sampleOf,
  type ClusterSample,
  type LinkState,
  type WireDeltaMessage,
  type WireStreamSnapshot,
} from '@/lib/dashboard';
import { expandState, type WireClusterState } from '@/lib/peer-wire';

import { fetchJson, type ApiRequestError } from './use-api';

/** What {@link useClusterStream} gives the dashboard. */
export interface ClusterStream {
  /** The snapshot SWR holds, kept current by the event stream. */
  data: ClusterSnapshot | undefined;
  /** The last failure of the snapshot request, when there is no data to show. */
  error: ApiRequestError | undefined;
  link: LinkState;
  /** Members and registered names sampled as the state changed (the last hour). */
  samples: ClusterSample[];
}

/** The snapshot with its compact peer lists expanded. */
async function fetchSnapshot(url: string): Promise<ClusterSnapshot> {
  const snapshot = await fetchJson<Omit<ClusterSnapshot, 'state'> & { state: WireClusterState }>(
    url,
  );
  return { ...snapshot, state: expandState(snapshot.state) };
}

/** Why the link dropped, asked of the server's health check (EventSource errors carry nothing). */
async function failureReason(): Promise<string> {
  if (typeof navigator !== 'undefined' && navigator.onLine === false)
    return 'the browser is offline';
  try {
    const response = await fetch('/api/healthz', { cache: 'no-store' });
    return response.ok
      ? 'the event stream was interrupted'
      : `the server answered ${response.status}`;
  } catch {
    return 'the server is unreachable';
  }
}

/**
 * One cluster, live: SWR fetches the snapshot once (`/api/clusters/{id}`), then an EventSource
 * on `/events` applies each `delta` with `mutate(key, updater, { revalidate: false })` — no
 * refetch per event — and appends `timeline` events (bounded). When the stream fails it is
 * closed and reopened with exponential back-off and `?lastEventId=` (the server reads it like
 * the header), so nothing is lost; a gap too old to replay comes back as a fresh `snapshot`.
 */
export function useClusterStream(id: string): ClusterStream {
  const base = `/api/clusters/${encodeURIComponent(id)}`;
  // Peer lists travel relative to each node's partition (a whole mesh's are empty) and are
  // expanded here, so every component reads `sees` as before (lib/peer-wire.ts).
  const key = `${base}?peers=compact`;
  const { data, error, mutate } = useSWR<ClusterSnapshot, ApiRequestError>(key, fetchSnapshot, {
    revalidateOnFocus: false,
    revalidateOnReconnect: false,
    revalidateIfStale: false,
  });
  const [link, setLink] = useState<LinkState>({ status: 'connecting' });
  const [samples, setSamples] = useState<ClusterSample[]>([]);
  const hasData = data !== undefined;
  // The latest snapshot, for the stream's callbacks (they outlive renders).
  const latest = useRef<ClusterSnapshot | undefined>(undefined);
  useEffect(() => {
    latest.current = data;
  });

  useEffect(() => {
    // The stream starts once the snapshot is in: deltas apply to it.
    if (!hasData) return;
    let source: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let attempt = 0;
    let closed = false;
    // The event id to resume from (`<epoch>-<seq>`): the snapshot's, then the last event's. A
    // server that restarted has another epoch and answers an old id with a fresh snapshot.
    let resumeId: string | null = latest.current
      ? `${latest.current.epoch}-${latest.current.seq}`
      : null;
    const remember = (event: Event) => {
      const id = (event as MessageEvent).lastEventId;
      if (id) resumeId = id;
    };

    const record = (next: ClusterSnapshot | undefined) => {
      if (next) setSamples((current) => appendSample(current, sampleOf(next.state, Date.now())));
    };
    const parse = <T>(event: Event): T => JSON.parse((event as MessageEvent<string>).data) as T;

    const connect = () => {
      if (closed) return;
      const resume = resumeId;
      source = new EventSource(
        `${base}/events?peers=compact${resume !== null ? `&lastEventId=${encodeURIComponent(resume)}` : ''}`,
      );
      source.onopen = () => {
        attempt = 0;
        setLink({ status: 'live', since: Date.now() });
        record(latest.current);
      };
      source.addEventListener('snapshot', (event) => {
        const message = parse<WireStreamSnapshot>(event);
        remember(event);
        void mutate((current) => applySnapshotMessage(current, message, Date.now()), {
          revalidate: false,
        }).then(record);
      });
      source.addEventListener('delta', (event) => {
        const message = parse<WireDeltaMessage>(event);
        remember(event);
        void mutate((current) => applyDeltaMessage(current, message), {
          revalidate: false,
        }).then(record);
      });
      source.addEventListener('timeline', (event) => {
        const message = parse<ClusterTimelineMessage>(event);
        remember(event);
        void mutate((current) => appendTimelineMessage(current, message), { revalidate: false });
      });
      source.onerror = () => {
        // Close rather than let EventSource retry on its own: our back-off, our link state.
        source?.close();
        source = null;
        const delay = reconnectDelay(attempt, Math.random());
        attempt += 1;
        void failureReason().then((reason) => {
          if (!closed) setLink((previous) => linkFailed(previous, reason, Date.now()));
        });
        timer = setTimeout(connect, delay);
      };
    };
    connect();
    return () => {
      closed = true;
      clearTimeout(timer);
      source?.close();
    };
  }, [base, key, hasData, mutate]);

  return { data, error, link, samples };
}
