import 'server-only';

// Retention and node series in PostgreSQL, run by one replica at a time (the caller holds the
// compaction lock in the transaction it passes). Events and states go by set-based statements;
// node series a node at a time, as in SQLite: the rows older than `now` move into the node's
// hourly blocks, and the blocks a downsampling boundary has passed over are thinned again
// (point-blocks.ts).

import type pg from 'pg';

import type { NodeHistoryPoint } from '@/lib/cluster-state';

import { BLOCK_MS, rewriteSeries, staleBlocksSql, type StoredBlock } from './point-blocks';
import { pointFromRow, type PointRow } from './sql-shared';

interface PositionRow {
  at: number;
  run: string;
  seq: number;
}

/** Drops what is older than `before` and moves node series into blocks, in `client`'s transaction. */
export async function compactLocked(
  client: pg.PoolClient,
  before: number,
  now: number,
): Promise<void> {
  const { rows: clusters } = await client.query<{ cluster_id: string }>(
    'SELECT cluster_id FROM beamscope_clusters',
  );
  for (const { cluster_id: clusterId } of clusters) {
    await dropOlderThan(client, clusterId, before);
  }
  const { rows: series } = await client.query<{ cluster_id: string; node: string }>(
    `SELECT DISTINCT cluster_id, node FROM beamscope_points
     UNION SELECT DISTINCT cluster_id, node FROM beamscope_point_blocks`,
  );
  for (const { cluster_id: clusterId, node } of series) {
    await compactSeries(client, clusterId, node, before, now);
  }
}

async function compactSeries(
  client: pg.PoolClient,
  clusterId: string,
  node: string,
  before: number,
  now: number,
): Promise<void> {
  const { rows } = await client.query<PointRow>(
    `DELETE FROM beamscope_points WHERE cluster_id = $1 AND node = $2 AND at < $3
     RETURNING at, process_count, registered_names, memory_bytes`,
    [clusterId, node, now],
  );
  const moved: NodeHistoryPoint[] = rows.map(pointFromRow).sort((a, b) => a.at - b.at);
  await client.query(
    'DELETE FROM beamscope_point_blocks WHERE cluster_id = $1 AND node = $2 AND start <= $3',
    [clusterId, node, before - BLOCK_MS],
  );
  const params: Array<string | number> = [clusterId, node, before];
  const param = (value: number) => {
    params.push(value);
    return `$${params.length}`;
  };
  const [first, last] =
    moved.length > 0
      ? [moved[0]!.at, moved.at(-1)!.at]
      : [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
  const span = `start > ${param(first - BLOCK_MS)} AND start <= ${param(last)}`;
  const stale = staleBlocksSql(now, param);
  const { rows: blocks } = await client.query<StoredBlock>(
    `SELECT start, thinned_at AS "thinnedAt", body FROM beamscope_point_blocks
     WHERE cluster_id = $1 AND node = $2 AND (start < $3 OR (${span}) OR ${stale})`,
    params,
  );
  const rewrite = rewriteSeries(blocks, moved, before, now);
  if (rewrite.write.length > 0) {
    await client.query(
      `INSERT INTO beamscope_point_blocks (cluster_id, node, start, thinned_at, body)
       SELECT $1, $2, start, $3, body FROM unnest($4::bigint[], $5::bytea[]) AS t (start, body)
       ON CONFLICT (cluster_id, node, start) DO UPDATE SET
         thinned_at = excluded.thinned_at, body = excluded.body`,
      [
        clusterId,
        node,
        now,
        rewrite.write.map((block) => block.start),
        rewrite.write.map((block) => block.body),
      ],
    );
  }
  if (rewrite.remove.length > 0) {
    await client.query(
      'DELETE FROM beamscope_point_blocks WHERE cluster_id = $1 AND node = $2 AND start = ANY($3::bigint[])',
      [clusterId, node, rewrite.remove],
    );
  }
}

async function dropOlderThan(
  client: pg.PoolClient,
  clusterId: string,
  before: number,
): Promise<void> {
  const { rows } = await client.query<PositionRow>(
    `SELECT at, run, seq FROM beamscope_keyframes WHERE cluster_id = $1 AND at <= $2
     ORDER BY at DESC, run DESC, seq DESC LIMIT 1`,
    [clusterId, before],
  );
  const edge = rows[0];
  if (edge) {
    const tuple = [clusterId, edge.at, edge.run, edge.seq];
    await client.query(
      `DELETE FROM beamscope_keyframes WHERE cluster_id = $1
       AND (at, run, seq) < ($2::bigint, $3::text, $4::bigint)`,
      tuple,
    );
    await client.query(
      `DELETE FROM beamscope_deltas WHERE cluster_id = $1
       AND (at, run, seq) <= ($2::bigint, $3::text, $4::bigint)`,
      tuple,
    );
    await client.query(
      `UPDATE beamscope_clusters SET retained_from = greatest(coalesce(retained_from, $2), $2)
       WHERE cluster_id = $1`,
      [clusterId, before],
    );
  } else {
    // No keyframe answers for `before`: deltas older than it can never be applied.
    await client.query('DELETE FROM beamscope_deltas WHERE cluster_id = $1 AND at < $2', [
      clusterId,
      before,
    ]);
  }
  // The events' node rows go with them (ON DELETE CASCADE).
  await client.query('DELETE FROM beamscope_events WHERE cluster_id = $1 AND at < $2', [
    clusterId,
    before,
  ]);
}
