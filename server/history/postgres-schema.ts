import 'server-only';

// The PostgreSQL schema as numbered migrations, applied at start under an advisory lock so two
// replicas starting together migrate once: the second waits for the first, then finds every
// version applied. Each migration runs in its own transaction with its version row.

import type { PoolClient } from 'pg';

/** The session-level advisory lock migrations hold (an arbitrary constant, "beamscop"). */
const MIGRATION_LOCK = 0x6265616d73636f70n;

export const MIGRATIONS: ReadonlyArray<{ version: number; sql: string }> = [
  {
    version: 1,
    sql: `
      CREATE TABLE beamscope_events (
        id bigserial PRIMARY KEY,
        cluster_id text NOT NULL,
        run text COLLATE "C" NOT NULL,
        seq bigint NOT NULL,
        at bigint NOT NULL,
        kind text NOT NULL,
        body text NOT NULL);
      -- Timeline paging walks (cluster, id); time bounds and retention use (cluster, at).
      CREATE INDEX beamscope_events_by_cluster ON beamscope_events (cluster_id, id);
      CREATE INDEX beamscope_events_by_time ON beamscope_events (cluster_id, at);
      -- The nodes each event names, for the timeline's node filter.
      CREATE TABLE beamscope_event_nodes (
        cluster_id text NOT NULL,
        node text NOT NULL,
        event_id bigint NOT NULL REFERENCES beamscope_events (id) ON DELETE CASCADE,
        PRIMARY KEY (cluster_id, node, event_id));
      CREATE INDEX beamscope_event_nodes_by_event ON beamscope_event_nodes (event_id);
      -- stateAt: the newest keyframe at or before T by (cluster, at), then the deltas after it.
      CREATE TABLE beamscope_keyframes (
        cluster_id text NOT NULL,
        at bigint NOT NULL,
        run text COLLATE "C" NOT NULL,
        seq bigint NOT NULL,
        body text NOT NULL,
        PRIMARY KEY (cluster_id, at, run, seq));
      CREATE TABLE beamscope_deltas (
        cluster_id text NOT NULL,
        at bigint NOT NULL,
        run text COLLATE "C" NOT NULL,
        seq bigint NOT NULL,
        body text NOT NULL,
        PRIMARY KEY (cluster_id, at, run, seq));
      -- Node series by (cluster, node, at).
      CREATE TABLE beamscope_points (
        cluster_id text NOT NULL,
        node text NOT NULL,
        at bigint NOT NULL,
        process_count bigint,
        registered_names bigint,
        memory_bytes bigint,
        PRIMARY KEY (cluster_id, node, at));
      -- Retention and thinning read the points of a span of time, all nodes at once.
      CREATE INDEX beamscope_points_by_time ON beamscope_points (at);
      CREATE TABLE beamscope_clusters (
        cluster_id text PRIMARY KEY,
        run text NOT NULL,
        observed_until bigint NOT NULL,
        retained_from bigint);
      -- One lease per cluster: the replica that records it, until when.
      CREATE TABLE beamscope_writers (
        cluster_id text PRIMARY KEY,
        holder text NOT NULL,
        expires_at bigint NOT NULL);`,
  },
  {
    // Bodies compressed (body-codec.ts): bytea, version 1's JSON kept as its UTF-8 bytes (still
    // read). Node points kept as rows only until the next compaction moves them into a block
    // per node and hour (point-blocks.ts).
    version: 2,
    sql: `
      ALTER TABLE beamscope_events ALTER COLUMN body TYPE bytea USING convert_to(body, 'UTF8');
      ALTER TABLE beamscope_keyframes ALTER COLUMN body TYPE bytea USING convert_to(body, 'UTF8');
      ALTER TABLE beamscope_deltas ALTER COLUMN body TYPE bytea USING convert_to(body, 'UTF8');
      CREATE TABLE beamscope_point_blocks (
        cluster_id text NOT NULL,
        node text NOT NULL,
        start bigint NOT NULL,
        thinned_at bigint NOT NULL,
        body bytea NOT NULL,
        PRIMARY KEY (cluster_id, node, start));`,
  },
];

/**
 * Applies the migrations the database lacks, up to `target` (the newest unless a test builds a
 * database of an older release); safe when several replicas start at once.
 */
export async function migrate(
  client: PoolClient,
  target = MIGRATIONS[MIGRATIONS.length - 1]!.version,
): Promise<void> {
  await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK.toString()]);
  try {
    await client.query(`CREATE TABLE IF NOT EXISTS beamscope_schema_migrations (
      version integer PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: number }>(
      'SELECT version FROM beamscope_schema_migrations',
    );
    const applied = new Set(rows.map((row) => Number(row.version)));
    const newest = Math.max(0, ...applied);
    const known = MIGRATIONS[MIGRATIONS.length - 1]!.version;
    if (newest > known) {
      throw new Error(
        `the database has schema version ${newest}, newer than this beamscope knows (${known}): it was migrated by a newer release`,
      );
    }
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version) || migration.version > target) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO beamscope_schema_migrations (version) VALUES ($1)', [
          migration.version,
        ]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK.toString()]);
  }
}
