import 'server-only';

// What the history routes call: the state at a past moment, a page of the recorded timeline, a
// node's recorded series and the history's status. The route handlers only parse and answer.

import type {
  ClusterSnapshotAt,
  HistoryStatusResponse,
  NodeHistoryResponse,
  RetainedRange,
  TimelinePageResponse,
} from '@/lib/api';
import type { TimelineEvent } from '@/lib/cluster-state';
import { compactState, type WireClusterState } from '@/lib/peer-wire';

import { BeamscopeError } from '../errors';
import type { ClusterHistory } from '../history/runtime-history';
import { rebuildStateAt } from '../history/rebuild';
import type { HistoryStore, RecordedEvent } from '../history/store';
import type { ClusterRuntime } from '../runtime';
import {
  checkSpan,
  cursorParam,
  kindsParam,
  limitParam,
  momentParam,
  nodeName,
  optionalNode,
  orderParam,
} from './history-params';
import { clusterSnapshot } from './cluster-api';
import { peersForm } from './peers-param';

/** Events per timeline page unless `?limit=` says, and at most. */
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
/** The events that led to a past state, as its snapshot carries them (the live one keeps 500). */
const EVENTS_BEFORE = 200;
/** A node's series covers the last hour unless `?from=` says otherwise. */
const DEFAULT_SERIES_MS = 3_600_000;

type HistoryOf = Pick<ClusterRuntime, 'config' | 'history'>;

const iso = (at: number) => new Date(at).toISOString();

/** The store, or a clear refusal when the process has none (it could not be opened). */
function storeOf(cluster: HistoryOf): HistoryStore {
  const store = cluster.history.store;
  if (!store) {
    const status = cluster.history.status();
    throw new BeamscopeError(
      'http',
      'outside_retention',
      `cluster ${cluster.config.id} has no recorded history: ${status.state === 'error' ? status.reason : 'no store'}`,
      { details: { retained: null } },
    );
  }
  return store;
}

/** The 404 of a moment the history does not hold, with the span it does. */
export function outsideRetention(
  clusterId: string,
  at: number,
  retained: RetainedRange | null,
): BeamscopeError {
  const held = retained
    ? `its history holds ${iso(retained.from)} to ${iso(retained.to)}`
    : 'nothing is recorded yet';
  return new BeamscopeError(
    'http',
    'outside_retention',
    `cluster ${clusterId} has no recorded state at ${iso(at)}: ${held}`,
    { details: { retained } },
  );
}

/** `GET /api/clusters/{id}/history`: where the history is kept, whether it works, what it holds. */
export async function historyStatus(
  cluster: HistoryOf,
  history: Pick<ClusterHistory, 'kind' | 'status' | 'store'> = cluster.history,
): Promise<HistoryStatusResponse> {
  let status = history.status();
  let retained: RetainedRange | null = null;
  try {
    retained = (await history.store?.retained(cluster.config.id)) ?? null;
  } catch (error) {
    status = { state: 'error', reason: `history store: ${(error as Error).message}` };
  }
  return { clusterId: cluster.config.id, store: history.kind, status, retained };
}

/**
 * `GET /api/clusters/{id}?at=T`: the state that was live at T, rebuilt from the recorded
 * keyframe and deltas, with the events that led to it (oldest first). T outside the retained
 * range (or in the future) answers 404 `outside_retention` naming the range.
 */
export async function clusterSnapshotAt(
  cluster: HistoryOf & Pick<ClusterRuntime, 'summary'>,
  params: URLSearchParams,
  now = Date.now(),
): Promise<ClusterSnapshotAt | (Omit<ClusterSnapshotAt, 'state'> & { state: WireClusterState })> {
  const form = peersForm(params);
  const at = momentParam(params.getAll('at'), 'at')!;
  const id = cluster.config.id;
  const store = storeOf(cluster);
  const retained = await store.retained(id);
  // Up to now, not only to the last write: the last second is still on its way to the store.
  if (!retained || at < retained.from || at > Math.max(retained.to, now))
    throw outsideRetention(id, at, retained);
  const stored = await store.stateAt(id, at);
  if (!stored) throw outsideRetention(id, at, retained);
  const state = rebuildStateAt(stored.keyframe, stored.deltas);
  const seq = Math.max(stored.keyframe.seq, ...stored.deltas.map((delta) => delta.seq));
  const page = await store.timeline(id, { to: at, limit: EVENTS_BEFORE, order: 'newest' });
  const timeline = foldCauseAmendments([...page.events].reverse());
  const snapshot: ClusterSnapshotAt = {
    cluster: cluster.summary(),
    epoch: stored.keyframe.run,
    seq,
    state,
    timeline,
    at: now,
    viewingAt: at,
    retained,
  };
  return form === 'compact' ? { ...snapshot, state: compactState(state) } : snapshot;
}

/** `GET /api/clusters/{id}`: the live snapshot, or with `?at=` the state at that moment. */
export async function clusterSnapshotNowOrAt(
  cluster: HistoryOf & Pick<ClusterRuntime, 'summary' | 'snapshot'>,
  params: URLSearchParams,
): Promise<unknown> {
  return params.has('at') ? clusterSnapshotAt(cluster, params) : clusterSnapshot(cluster, params);
}

/** `GET /api/clusters/{id}/timeline`: a page of recorded events, newest first unless asked. */
export async function timelinePage(
  cluster: HistoryOf,
  params: URLSearchParams,
): Promise<TimelinePageResponse> {
  const from = momentParam(params.getAll('from'), 'from');
  const to = momentParam(params.getAll('to'), 'to');
  checkSpan(from, to);
  const kinds = kindsParam(params.getAll('kind'), 'kind');
  const node = optionalNode(params.getAll('node'), 'node');
  const cursor = cursorParam(params.getAll('cursor'), 'cursor');
  const limit = limitParam(params.getAll('limit'), 'limit', DEFAULT_PAGE, MAX_PAGE);
  const order = orderParam(params.getAll('order'), 'order');
  const page = await storeOf(cluster).timeline(cluster.config.id, {
    ...(from !== undefined ? { from } : {}),
    ...(to !== undefined ? { to } : {}),
    ...(kinds ? { kinds } : {}),
    ...(node !== undefined ? { node } : {}),
    ...(cursor !== undefined ? { cursor } : {}),
    limit,
    order,
  });
  const events: TimelineEvent[] = page.events.map(({ event }) => event);
  return { clusterId: cluster.config.id, events, next: page.next };
}

/** `GET /api/clusters/{id}/nodes/{node}/history`: a node's recorded series in [from, to]. */
export async function nodeHistory(
  cluster: HistoryOf,
  rawNode: string,
  params: URLSearchParams,
  now = Date.now(),
): Promise<NodeHistoryResponse> {
  const node = nodeName(rawNode, 'node');
  const to = momentParam(params.getAll('to'), 'to') ?? now;
  const from = momentParam(params.getAll('from'), 'from') ?? to - DEFAULT_SERIES_MS;
  checkSpan(from, to);
  const points = await storeOf(cluster).nodeSeries(cluster.config.id, node, from, to);
  return { clusterId: cluster.config.id, node, from, to, points };
}

/**
 * The recorded events (oldest first) as the live timeline shows them: a `down_cause` amends the
 * event of its own run whose seq it names (another run's events may share that seq), and is kept
 * as its own line only when that event is not among these.
 */
export function foldCauseAmendments(events: readonly RecordedEvent[]): TimelineEvent[] {
  const folded: Array<{ run: string; event: TimelineEvent }> = [];
  for (const { run, event } of events) {
    const target =
      event.kind === 'down_cause' && event.amends !== undefined
        ? folded.find((held) => held.run === run && held.event.seq === event.amends)
        : undefined;
    if (!target) {
      folded.push({ run, event });
      continue;
    }
    target.event = {
      ...target.event,
      ...(event.cause ? { cause: event.cause } : {}),
      ...(event.causes ? { causes: event.causes } : {}),
    };
  }
  return folded.map((held) => held.event);
}
