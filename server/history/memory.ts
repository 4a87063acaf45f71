import 'server-only';

// The in-process store: what `npm run dev` records into when the config has no `history`
// section (today's behaviour: history lives as long as the process), and what tests of the
// recorder use. Bounded by retention like the others: `compact()` drops what is older than the
// retention edge and thins node series with age, so a long-running dev server does not grow
// without end.

import type { NodeHistoryPoint } from '@/lib/cluster-state';

import { decodeCursor, encodeCursor, pageSize } from './cursor';
import { downsample } from './downsample';
import { nodesNamedBy } from './event-nodes';
import { jsonText } from '@/lib/json-text';
import { compareRecorded, isAfter, type Position } from './order';
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

interface StoredEvent extends RecordedEvent {
  nodes: string[];
}

/**
 * A keyframe's state or a delta's as its JSON text beside its position: one serialisation on the
 * way in (a keyframe's is the recorder's, made to weigh it) and a parse on a seek's way out,
 * where a copy through JSON was both at once on the recorder's path (a 1,000-node keyframe's
 * copy held the event loop 100–170 ms in the push bench), and a string is a fraction of the
 * object graph it stands for.
 */
interface StoredRow extends Position {
  json: string;
}

interface ClusterHistory {
  events: StoredEvent[];
  keyframes: StoredRow[];
  deltas: StoredRow[];
  points: Map<string, NodeHistoryPoint[]>;
  observation: LastObservation | null;
  /** The retention edge of the last compaction: nothing older is answered for. */
  retainedFrom: number;
}

/**
 * Copies through JSON, as the SQL stores keep rows: what can be appended and what comes back is
 * the same in every store (an `undefined` field is dropped, a value JSON cannot hold is refused),
 * and a caller that mutates what it appended or read cannot change the history.
 */
const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

const position = ({ at, run, seq }: Position): Position => ({ at, run, seq });

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The lease of the one replica that records a cluster (see `claimWriter`). */
interface Lease {
  holder: string;
  expiresAt: number;
}

export class MemoryHistoryStore implements HistoryStore {
  readonly kind = 'memory' as const;
  private readonly clusters = new Map<string, ClusterHistory>();
  private readonly leases = new Map<string, Lease>();
  private nextId = 1;

  async open(): Promise<void> {}

  async close(): Promise<void> {
    this.clusters.clear();
    this.leases.clear();
  }

  private cluster(clusterId: string): ClusterHistory {
    let history = this.clusters.get(clusterId);
    if (!history) {
      history = {
        events: [],
        keyframes: [],
        deltas: [],
        points: new Map(),
        observation: null,
        retainedFrom: -Infinity,
      };
      this.clusters.set(clusterId, history);
    }
    return history;
  }

  async append(batch: HistoryBatch): Promise<void> {
    // Built aside first and applied with no await in between: all of the batch or none of it.
    // The keyframes are serialised one at a time, the event loop free between them: a 1,000-node
    // keyframe's text alone is milliseconds.
    const events = batch.events.map((event) => ({
      id: 0,
      run: batch.run,
      event: copy(event),
      nodes: nodesNamedBy(event),
    }));
    const keyframes: StoredRow[] = [];
    for (const keyframe of batch.keyframes) {
      await nextTurn();
      // The state's text is the one the recorder made to weigh it (`jsonText`).
      keyframes.push({ ...position(keyframe), json: jsonText(keyframe.state) });
    }
    if (keyframes.length > 0) await nextTurn();
    const deltas = batch.deltas.map((delta) => ({
      ...position(delta),
      json: JSON.stringify(delta.delta),
    }));
    const points = batch.points.map(({ node, point }) => ({ node, point: { ...point } }));
    const history = this.cluster(batch.clusterId);
    for (const event of events) event.id = this.nextId++;
    history.events.push(...events);
    insertSorted(history.keyframes, keyframes);
    insertSorted(history.deltas, deltas);
    for (const { node, point } of points) {
      const series = history.points.get(node) ?? [];
      series.push(point);
      if (series.length > 1 && series[series.length - 2]!.at > point.at) {
        series.sort((a, b) => a.at - b.at);
      }
      history.points.set(node, series);
    }
    history.observation = { run: batch.run, until: batch.observedUntil };
  }

  /** A lease as PostgreSQL keeps it, so the recorder's takeover logic is the same everywhere. */
  async claimWriter(
    clusterId: string,
    holder: string,
    ttlMs: number,
    now: number,
  ): Promise<boolean> {
    const lease = this.leases.get(clusterId);
    if (lease && lease.holder !== holder && lease.expiresAt > now) return false;
    this.leases.set(clusterId, { holder, expiresAt: now + ttlMs });
    return true;
  }

  async retained(clusterId: string): Promise<RetainedRange | null> {
    const history = this.clusters.get(clusterId);
    const first = history?.keyframes[0];
    if (!history || !first) return null;
    const from = Math.max(first.at, history.retainedFrom);
    const newest = history.keyframes[history.keyframes.length - 1]!.at;
    return { from, to: Math.max(from, newest, history.observation?.until ?? from) };
  }

  async lastObservation(clusterId: string): Promise<LastObservation | null> {
    const observation = this.clusters.get(clusterId)?.observation;
    return observation ? { ...observation } : null;
  }

  async stateAt(
    clusterId: string,
    at: number,
  ): Promise<{ keyframe: RecordedKeyframe; deltas: RecordedDelta[] } | null> {
    const history = this.clusters.get(clusterId);
    if (!history) return null;
    const keyframe = history.keyframes.findLast((candidate) => candidate.at <= at);
    if (!keyframe) return null;
    const deltas = history.deltas.filter((delta) => delta.at <= at && isAfter(delta, keyframe));
    return {
      keyframe: {
        ...position(keyframe),
        state: JSON.parse(keyframe.json) as RecordedKeyframe['state'],
      },
      deltas: deltas.map((delta) => ({
        ...position(delta),
        delta: JSON.parse(delta.json) as RecordedDelta['delta'],
      })),
    };
  }

  async timeline(clusterId: string, query: TimelineQuery): Promise<TimelinePage> {
    const after = query.cursor !== undefined ? decodeCursor(query.cursor) : undefined;
    const newest = (query.order ?? 'newest') === 'newest';
    const limit = pageSize(query.limit);
    const kinds = query.kinds && query.kinds.length > 0 ? new Set(query.kinds) : null;
    const events = this.clusters.get(clusterId)?.events ?? [];
    const ordered = newest ? [...events].reverse() : events;
    const page: RecordedEvent[] = [];
    let more = false;
    for (const stored of ordered) {
      if (after !== undefined && (newest ? stored.id >= after : stored.id <= after)) continue;
      const { event } = stored;
      if (query.from !== undefined && event.at < query.from) continue;
      if (query.to !== undefined && event.at > query.to) continue;
      if (kinds && !kinds.has(event.kind)) continue;
      if (query.node !== undefined && !stored.nodes.includes(query.node)) continue;
      if (page.length === limit) {
        more = true;
        break;
      }
      page.push({ id: stored.id, run: stored.run, event: copy(event) });
    }
    return { events: page, next: more ? encodeCursor(page[page.length - 1]!.id) : null };
  }

  async nodeSeries(
    clusterId: string,
    node: string,
    from: number,
    to: number,
  ): Promise<NodeHistoryPoint[]> {
    const series = this.clusters.get(clusterId)?.points.get(node) ?? [];
    return series.filter((point) => point.at >= from && point.at <= to).map((p) => ({ ...p }));
  }

  async compact(before: number, now: number): Promise<void> {
    for (const history of this.clusters.values()) {
      const edge = history.keyframes.findLast((keyframe) => keyframe.at <= before);
      if (edge) {
        history.keyframes = history.keyframes.filter((keyframe) => !isAfter(edge, keyframe));
        history.deltas = history.deltas.filter((delta) => isAfter(delta, edge));
        history.retainedFrom = Math.max(history.retainedFrom, before);
      } else {
        // No keyframe answers for `before`: deltas older than it can never be applied.
        history.deltas = history.deltas.filter((delta) => delta.at >= before);
      }
      history.events = history.events.filter((stored) => stored.event.at >= before);
      for (const [node, series] of history.points) {
        const kept = downsample(
          series.filter((point) => point.at >= before),
          now,
        );
        if (kept.length > 0) history.points.set(node, kept);
        else history.points.delete(node);
      }
    }
  }
}

/** Appends `rows` to `list`, keeping (at, run, seq) order even when a batch arrives late. */
function insertSorted<T extends Position>(list: T[], rows: T[]): void {
  list.push(...rows);
  for (let index = list.length - rows.length; index < list.length; index++) {
    if (index > 0 && compareRecorded(list[index - 1]!, list[index]!) > 0) {
      list.sort(compareRecorded);
      return;
    }
  }
}
