import 'server-only';

// The history store in this process's memory: what tests use, and what `npm run dev` keeps when
// no `history` section is configured. Nothing survives a restart; everything else behaves as the
// durable stores do.

import type { NodeHistoryPoint, TimelineEvent } from '@/lib/cluster-state';

import type {
  HistoryBatch,
  HistoryStore,
  LastObservation,
  RecordedDelta,
  RecordedEvent,
  RecordedKeyframe,
  RetainedRange,
  TimelinePage,
  TimelineQuery,
} from './store';

/** The store's page size when a query asks for more. */
const MAX_PAGE = 1000;

interface ClusterHistory {
  nextId: number;
  events: RecordedEvent[];
  keyframes: RecordedKeyframe[];
  deltas: RecordedDelta[];
  points: Map<string, NodeHistoryPoint[]>;
  last: LastObservation | null;
}

/** Whether `event` names `node`: its own node, a link end, or a member of a sampled list. */
export function eventNamesNode(event: TimelineEvent, node: string): boolean {
  if (event.node === node) return true;
  if (event.link?.includes(node)) return true;
  if (event.links?.sample.some((link) => link.includes(node))) return true;
  if (event.members?.sample.some((member) => member.node === node)) return true;
  if (event.sides?.some((side) => side.sample.includes(node))) return true;
  return event.registries?.some((entry) => entry.node === node) ?? false;
}

export class MemoryHistoryStore implements HistoryStore {
  readonly kind = 'memory' as const;
  private readonly clusters = new Map<string, ClusterHistory>();
  private readonly retentionMs: number | undefined;
  private compactedAt = -Infinity;

  constructor(options: { retentionMs?: number } = {}) {
    this.retentionMs = options.retentionMs;
  }

  async open(): Promise<void> {}

  async close(): Promise<void> {}

  private cluster(id: string): ClusterHistory {
    let found = this.clusters.get(id);
    if (!found) {
      found = { nextId: 1, events: [], keyframes: [], deltas: [], points: new Map(), last: null };
      this.clusters.set(id, found);
    }
    return found;
  }

  async append(batch: HistoryBatch): Promise<void> {
    const cluster = this.cluster(batch.clusterId);
    for (const event of batch.events)
      cluster.events.push({ id: cluster.nextId++, run: batch.run, event });
    cluster.keyframes.push(...batch.keyframes);
    cluster.deltas.push(...batch.deltas);
    for (const { node, point } of batch.points) {
      const series = cluster.points.get(node) ?? [];
      series.push(point);
      cluster.points.set(node, series);
    }
    cluster.last = { run: batch.run, until: batch.observedUntil };
    // Retention in passing, a minute at a time: the arrays are walked whole.
    if (this.retentionMs !== undefined && batch.observedUntil - this.compactedAt > 60_000) {
      this.compactedAt = batch.observedUntil;
      await this.compact(batch.observedUntil - this.retentionMs);
    }
  }

  /** One process holds this store: it is always the writer. */
  async claimWriter(_clusterId: string, _holder: string, _ttlMs: number, _now: number) {
    return true;
  }

  async retained(clusterId: string): Promise<RetainedRange | null> {
    const cluster = this.clusters.get(clusterId);
    const first = cluster?.keyframes[0];
    if (!cluster?.last || !first) return null;
    return { from: first.at, to: cluster.last.until };
  }

  async lastObservation(clusterId: string): Promise<LastObservation | null> {
    return this.clusters.get(clusterId)?.last ?? null;
  }

  async stateAt(
    clusterId: string,
    at: number,
  ): Promise<{ keyframe: RecordedKeyframe; deltas: RecordedDelta[] } | null> {
    const cluster = this.clusters.get(clusterId);
    if (!cluster) return null;
    const keyframe = cluster.keyframes.findLast((candidate) => candidate.at <= at);
    if (!keyframe) return null;
    const deltas = cluster.deltas.filter(
      (delta) =>
        delta.run === keyframe.run &&
        delta.seq > keyframe.seq &&
        delta.at <= at &&
        delta.at >= keyframe.at,
    );
    return { keyframe, deltas };
  }

  async timeline(clusterId: string, query: TimelineQuery): Promise<TimelinePage> {
    const newest = (query.order ?? 'newest') === 'newest';
    const after = query.cursor === undefined ? undefined : Number(query.cursor);
    const kinds = query.kinds ? new Set(query.kinds) : null;
    const limit = Math.max(1, Math.min(query.limit, MAX_PAGE));
    const all = this.clusters.get(clusterId)?.events ?? [];
    const matching = (newest ? [...all].reverse() : all).filter(
      ({ id, event }) =>
        (after === undefined || (newest ? id < after : id > after)) &&
        (query.from === undefined || event.at >= query.from) &&
        (query.to === undefined || event.at <= query.to) &&
        (!kinds || kinds.has(event.kind)) &&
        (query.node === undefined || eventNamesNode(event, query.node)),
    );
    const events = matching.slice(0, limit);
    const next = matching.length > limit ? String(events.at(-1)!.id) : null;
    return { events, next };
  }

  async nodeSeries(
    clusterId: string,
    node: string,
    from: number,
    to: number,
  ): Promise<NodeHistoryPoint[]> {
    const series = this.clusters.get(clusterId)?.points.get(node) ?? [];
    return series.filter((point) => point.at >= from && point.at <= to);
  }

  async compact(before: number, _now?: number): Promise<void> {
    for (const cluster of this.clusters.values()) {
      const kept = cluster.keyframes.findLast((keyframe) => keyframe.at <= before);
      if (kept) cluster.keyframes = cluster.keyframes.filter((keyframe) => keyframe.at >= kept.at);
      const from = kept?.at ?? before;
      cluster.deltas = cluster.deltas.filter((delta) => delta.at >= from);
      cluster.events = cluster.events.filter(({ event }) => event.at >= before);
      for (const [node, series] of cluster.points)
        cluster.points.set(
          node,
          series.filter((point) => point.at >= before),
        );
    }
  }
}
