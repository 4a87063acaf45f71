import 'server-only';

// What the two SQL stores say alike: the timeline's WHERE clause (they differ only in how a
// parameter is written, `?` or `$n`), the rows' shapes and how rows become answers.

import type { NodeHistoryPoint, TimelineEvent } from '@/lib/cluster-state';
import type { WireClusterDelta, WireClusterState } from '@/lib/peer-wire';

import { decodeJsonBody, DeltaChainDecoder } from './body-codec';
import { decodeCursor, encodeCursor, pageSize } from './cursor';
import type { RecordedDelta, RecordedKeyframe, TimelinePage, TimelineQuery } from './store';

export type SqlValue = string | number | null;

export interface TimelineSql {
  /** `SELECT id, run, body FROM <events> e WHERE … ORDER BY … LIMIT …`, events aliased `e`. */
  text: string;
  params: SqlValue[];
  /** The page size: the query asks for one more row to know whether a next page exists. */
  limit: number;
}

/**
 * The timeline page's query. `placeholder(n)` writes the n-th parameter (1-based). Paging is by
 * the store's id, which only grows per cluster: rows that arrive while a client pages never shift
 * the pages already handed out, so a cursor continues with no duplicate and no hole.
 */
export function timelineSql(
  tables: {
    events: string;
    eventNodes: string;
    /**
     * The node rows carry the cluster, leading their key (PostgreSQL: (cluster, node, event), so
     * a node's events are found from its rows); SQLite's are keyed (event, node) alone.
     */
    eventNodesByCluster?: boolean;
  },
  clusterId: string,
  query: TimelineQuery,
  placeholder: (index: number) => string,
  options: { pageByRowid?: boolean } = {},
): TimelineSql {
  const params: SqlValue[] = [];
  const param = (value: SqlValue) => {
    params.push(value);
    return placeholder(params.length);
  };
  const newest = (query.order ?? 'newest') === 'newest';
  // `pageByRowid` (SQLite with one cluster in the file and no per-cluster index): the cluster
  // term written as `+e.cluster_id` so it filters rows and the planner does not pick the by-time
  // index, which would sort all of the cluster's events for every page. Then a page walks the
  // rowid, newest or oldest first from the cursor, and stops at the page's end. A time bound
  // keeps the by-time index: it reads only the window.
  const timeBound = query.from !== undefined || query.to !== undefined;
  const clusterTerm = options.pageByRowid && !timeBound ? '+e.cluster_id' : 'e.cluster_id';
  const where = [`${clusterTerm} = ${param(clusterId)}`];
  if (query.cursor !== undefined) {
    where.push(`e.id ${newest ? '<' : '>'} ${param(decodeCursor(query.cursor))}`);
  }
  if (query.from !== undefined) where.push(`e.at >= ${param(query.from)}`);
  if (query.to !== undefined) where.push(`e.at <= ${param(query.to)}`);
  if (query.kinds && query.kinds.length > 0) {
    where.push(`e.kind IN (${query.kinds.map((kind) => param(kind)).join(', ')})`);
  }
  const clusterOfNode = tables.eventNodesByCluster ? 'n.cluster_id = e.cluster_id AND ' : '';
  if (query.node !== undefined) {
    where.push(
      `EXISTS (SELECT 1 FROM ${tables.eventNodes} n WHERE ${clusterOfNode}` +
        `n.node = ${param(query.node)} AND n.event_id = e.id)`,
    );
  }
  const limit = pageSize(query.limit);
  const text =
    `SELECT e.id, e.run, e.body FROM ${tables.events} e WHERE ${where.join(' AND ')} ` +
    `ORDER BY e.id ${newest ? 'DESC' : 'ASC'} LIMIT ${param(limit + 1)}`;
  return { text, params, limit };
}

export interface PointRow {
  at: number | string;
  process_count: number | string | null;
  registered_names: number | string | null;
  memory_bytes: number | string | null;
}

const numberOrNull = (value: number | string | null): number | null =>
  value === null ? null : Number(value);

export function pointFromRow(row: PointRow): NodeHistoryPoint {
  return {
    at: Number(row.at),
    processCount: numberOrNull(row.process_count),
    registeredNames: numberOrNull(row.registered_names),
    memoryBytes: numberOrNull(row.memory_bytes),
  };
}

/** A timeline query's rows (one more than the page) as the page and its cursor. */
export function timelinePage(
  rows: ReadonlyArray<{ id: number | string; run: string; body: string | Uint8Array }>,
  limit: number,
): TimelinePage {
  const events = rows.slice(0, limit).map((row) => ({
    id: Number(row.id),
    run: row.run,
    event: decodeJsonBody<TimelineEvent>(row.body),
  }));
  return {
    events,
    next: rows.length > limit ? encodeCursor(events[events.length - 1]!.id) : null,
  };
}

/** A keyframe or delta row as both stores read it (PostgreSQL's bigint already a number). */
export interface StateRow {
  at: number;
  run: string;
  seq: number;
  body: string | Uint8Array;
}

/**
 * `stateAt`'s answer from the keyframe row and the delta rows after it, in (at, run, seq) order.
 * Deltas are decoded chain by chain in their runs' sequence order (body-codec.ts): a chain
 * starts after every keyframe, so the keyframe's continuation always decodes. A delta whose
 * chain began before the keyframe (another run's, or one the keyframe already holds) is one a
 * rebuild skips: it is left out. Any other that does not decode is a broken chain, and said so.
 */
export function stateFromRows(
  keyframe: StateRow,
  deltaRows: readonly StateRow[],
): { keyframe: RecordedKeyframe; deltas: RecordedDelta[] } {
  const decoder = new DeltaChainDecoder();
  const decoded = new Map<StateRow, WireClusterDelta | null>();
  const inChainOrder = [...deltaRows].sort((a, b) =>
    a.run === b.run ? a.seq - b.seq : a.run < b.run ? -1 : 1,
  );
  for (const row of inChainOrder) decoded.set(row, decoder.decode(row.run, row.seq, row.body));
  const deltas: RecordedDelta[] = [];
  for (const row of deltaRows) {
    const delta = decoded.get(row);
    if (!delta) {
      if (row.run === keyframe.run && row.seq > keyframe.seq) {
        throw new Error(
          `history: the delta ${row.run}/${row.seq} follows one that is not stored; the recorded chain is broken`,
        );
      }
      continue;
    }
    deltas.push({ at: row.at, run: row.run, seq: row.seq, delta });
  }
  return {
    keyframe: {
      at: keyframe.at,
      run: keyframe.run,
      seq: keyframe.seq,
      state: decodeJsonBody<WireClusterState>(keyframe.body),
    },
    deltas,
  };
}
