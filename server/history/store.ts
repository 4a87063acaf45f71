import 'server-only';

// The history store's one interface: what the recorder writes and what the API, the CLI and the
// time scrubber read. Three implementations keep to it — in memory (tests, `npm run dev` with no
// `history` section), embedded SQLite (the default for the demo and the image) and PostgreSQL
// (several replicas, long retention) — and one shared test suite holds them to it.

import type { HistoryStoreKind, RetainedRange } from '@/lib/api';
import type { NodeHistoryPoint, TimelineEvent, TimelineEventKind } from '@/lib/cluster-state';
import type { WireClusterDelta, WireClusterState } from '@/lib/peer-wire';

export type { HistoryStoreKind, RetainedRange };

/**
 * A state as recorded: the compact wire form (peer lists relative to the partitions), so that a
 * healthy 1,000-node mesh's keyframe weighs what its snapshot weighs on the wire, not N².
 */
export interface RecordedKeyframe {
  at: number;
  /** The collector run (its stream epoch) and the sequence number the state is current as of. */
  run: string;
  seq: number;
  state: WireClusterState;
}

/** A state delta as recorded, compact as on the wire; applied in (at, run, seq) order. */
export interface RecordedDelta {
  at: number;
  run: string;
  seq: number;
  delta: WireClusterDelta;
}

/** A timeline event as recorded: the live event (its `seq` is its run's) and the store's id. */
export interface RecordedEvent {
  /** The store's own, strictly increasing per cluster: the paging cursor is built on it. */
  id: number;
  run: string;
  event: TimelineEvent;
}

/** What the recorder hands the store at each flush (at most a second apart). */
export interface HistoryBatch {
  clusterId: string;
  /** The collector run these rows belong to. */
  run: string;
  events: TimelineEvent[];
  deltas: RecordedDelta[];
  keyframes: RecordedKeyframe[];
  points: Array<{ node: string; point: NodeHistoryPoint }>;
  /** Observation was continuous up to this moment (the heartbeat behind restart-gap events). */
  observedUntil: number;
}

export interface TimelineQuery {
  /** Inclusive bounds, ms since the epoch. */
  from?: number;
  to?: number;
  kinds?: readonly TimelineEventKind[];
  /** Events that name this node (its `node`, a link end, or a member of a summary's sample). */
  node?: string;
  /** Continue after this cursor (opaque text from a previous page's `next`). */
  cursor?: string;
  /** Page size (the store caps it). */
  limit: number;
  /** Newest first by default: the timeline pages backwards from now. */
  order?: 'newest' | 'oldest';
}

export interface TimelinePage {
  events: RecordedEvent[];
  /** The cursor of the next page, or null at the end. */
  next: string | null;
}

/** The last recorded observation of a cluster: a new run starts a gap event after it. */
export interface LastObservation {
  run: string;
  until: number;
}

export interface HistoryStore {
  readonly kind: HistoryStoreKind;
  /** Opens (creating or migrating the schema). Rejects with a clear reason when it cannot. */
  open(): Promise<void>;
  close(): Promise<void>;

  /** Writes one batch atomically: all of it or none. */
  append(batch: HistoryBatch): Promise<void>;

  /**
   * Whether `holder` (one beamscope replica) records `clusterId` for the next `ttlMs`: renews a
   * lease it holds, takes one that expired. Several replicas on one PostgreSQL write each
   * cluster once. Every store keeps the lease the same way (the embedded ones in their process
   * or file), so a second holder is refused until the lease expires, whatever the store.
   */
  claimWriter(clusterId: string, holder: string, ttlMs: number, now: number): Promise<boolean>;

  retained(clusterId: string): Promise<RetainedRange | null>;
  lastObservation(clusterId: string): Promise<LastObservation | null>;

  /** The newest keyframe at or before `at`, and every delta after it up to `at`, in order. */
  stateAt(
    clusterId: string,
    at: number,
  ): Promise<{ keyframe: RecordedKeyframe; deltas: RecordedDelta[] } | null>;

  timeline(clusterId: string, query: TimelineQuery): Promise<TimelinePage>;

  /** A node's recorded points in [from, to], oldest first, at the resolution their age keeps. */
  nodeSeries(
    clusterId: string,
    node: string,
    from: number,
    to: number,
  ): Promise<NodeHistoryPoint[]>;

  /**
   * Retention: deletes what is older than `before` (keeping the newest keyframe at or before it,
   * so `stateAt(before)` still answers) and downsamples node points by age.
   */
  compact(before: number, now: number): Promise<void>;
}
