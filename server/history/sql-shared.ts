import 'server-only';

// What the two SQL stores say alike: the timeline's WHERE clause (they differ only in how a
// parameter is written, `?` or `$n`) and the rows' shapes.

import type { NodeHistoryPoint, TimelineEvent } from '@/lib/cluster-state';

import { decodeCursor, pageSize } from './cursor';
import type { TimelineQuery } from './store';

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
  tables: { events: string; eventNodes: string },
  clusterId: string,
  query: TimelineQuery,
  placeholder: (index: number) => string,
): TimelineSql {
  const params: SqlValue[] = [];
  const param = (value: SqlValue) => {
    params.push(value);
    return placeholder(params.length);
  };
  const newest = (query.order ?? 'newest') === 'newest';
  const where = [`e.cluster_id = ${param(clusterId)}`];
  if (query.cursor !== undefined) {
    where.push(`e.id ${newest ? '<' : '>'} ${param(decodeCursor(query.cursor))}`);
  }
  if (query.from !== undefined) where.push(`e.at >= ${param(query.from)}`);
  if (query.to !== undefined) where.push(`e.at <= ${param(query.to)}`);
  if (query.kinds && query.kinds.length > 0) {
    where.push(`e.kind IN (${query.kinds.map((kind) => param(kind)).join(', ')})`);
  }
  if (query.node !== undefined) {
    where.push(
      `EXISTS (SELECT 1 FROM ${tables.eventNodes} n WHERE n.cluster_id = e.cluster_id ` +
        `AND n.node = ${param(query.node)} AND n.event_id = e.id)`,
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

export function eventFromBody(body: string): TimelineEvent {
  return JSON.parse(body) as TimelineEvent;
}
