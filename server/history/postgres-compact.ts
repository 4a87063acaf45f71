import 'server-only';

// Retention and thinning in PostgreSQL, run by one replica at a time (the caller holds the
// compaction lock in the transaction it passes). Set-based statements: the work happens in the
// database, so nothing here holds beamscope's event loop.

import type pg from 'pg';

import { DOWNSAMPLE_TIERS, thinningStart } from './downsample';

interface PositionRow {
  at: number;
  run: string;
  seq: number;
}

/** Drops what is older than `before` and thins node series by age, in `client`'s transaction. */
export async function compactLocked(
  client: pg.PoolClient,
  before: number,
  now: number,
  /** Per tier, the boundary of this store's last run; updated here. */
  thinnedUntil: Array<number | undefined>,
): Promise<void> {
  const { rows: clusters } = await client.query<{ cluster_id: string }>(
    'SELECT cluster_id FROM beamscope_clusters',
  );
  for (const { cluster_id: clusterId } of clusters) {
    await dropOlderThan(client, clusterId, before);
  }
  for (const [index, tier] of DOWNSAMPLE_TIERS.entries()) {
    const boundary = now - tier.olderThanMs;
    const from = thinningStart(thinnedUntil[index], tier.bucketMs);
    // Keeps the last point of each bucket (see downsample.ts); only rows since this store's
    // last run are looked at (another replica's runs thinned the same rows or will).
    await client.query(
      `DELETE FROM beamscope_points WHERE (cluster_id, node, at) IN (
           SELECT cluster_id, node, at FROM (
             SELECT cluster_id, node, at, row_number() OVER (
               PARTITION BY cluster_id, node, at / $3::bigint ORDER BY at DESC) AS rank
             FROM beamscope_points WHERE at >= $1 AND at < $2) AS bucketed
           WHERE rank > 1)`,
      [from, boundary, tier.bucketMs],
    );
    thinnedUntil[index] = boundary;
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
  await client.query('DELETE FROM beamscope_points WHERE cluster_id = $1 AND at < $2', [
    clusterId,
    before,
  ]);
}
