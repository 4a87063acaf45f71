import 'server-only';

// The PostgreSQL store: for several beamscope replicas, or a retention longer than a volume
// should hold. Migrates its schema at open (postgres-schema.ts). Several replicas may record
// the same clusters: each cluster has one lease row (holder, expires_at) that `claimWriter`
// renews or takes over, and a batch of a store holding the lease is written only while the row
// still names it (checked inside the batch's transaction), so a replica that stalled past its
// lease cannot write beside the one that took over. Appends to one cluster are serialised by a
// transaction-level advisory lock, so its event ids are committed in order and a paging cursor
// never skips a row that commits late.

import pg from 'pg';

import type { NodeHistoryPoint } from '@/lib/cluster-state';

import { BeamscopeError } from '../errors';
import { DeltaChainEncoder, encodeEventBody, encodeJsonText } from './body-codec';
import { jsonText } from '@/lib/json-text';
import { unavailable } from './cursor';
import { nodesNamedBy } from './event-nodes';
import { BLOCK_MS, seriesBetween, type StoredBlock } from './point-blocks';
import { compactLocked } from './postgres-compact';
import { migrate } from './postgres-schema';
import {
  pointFromRow,
  stateFromRows,
  timelinePage,
  timelineSql,
  type PointRow,
  type StateRow,
} from './sql-shared';
import type {
  HistoryBatch,
  HistoryStore,
  LastObservation,
  RecordedDelta,
  RecordedKeyframe,
  RetainedRange,
  TimelinePage,
  TimelineQuery,
} from './store';
import { loadZstd } from './zstd';

/** The first key of the per-cluster append lock (the second is the hash of the cluster id). */
const APPEND_LOCK_CLASS = 0x62736870; // "bshp"
/** The transaction lock one replica's compaction holds; the others skip theirs meanwhile. */
const COMPACT_LOCK = '7166470393540816240';

/** bigint columns as JS numbers: every one holds ms timestamps, ids or counts below 2^53. */
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface PostgresHistoryStoreOptions {
  /** A `postgres://` URL (read from the environment variable the config names); empty: unset. */
  connectionString: string;
  /** The variable it was read from, named when it is empty. */
  urlEnv?: string;
  /** Connections kept; a few suffice (one writer, a few readers). */
  maxConnections?: number;
  /** Called with errors of idle connections (a restarted server); they are not thrown. */
  onIdleError?: (error: Error) => void;
}

export class PostgresHistoryStore implements HistoryStore {
  readonly kind = 'postgres' as const;
  private pool: pg.Pool | null = null;
  /** The clusters this store claimed, and as whom: its appends are fenced by the lease row. */
  private readonly leases = new Map<string, string>();
  private readonly deltaChains = new DeltaChainEncoder();

  constructor(private readonly options: PostgresHistoryStoreOptions) {}

  async open(): Promise<void> {
    if (this.pool) return;
    if (!this.options.connectionString) {
      throw unavailable(
        'PostgreSQL history',
        `the environment variable ${this.options.urlEnv ?? 'named by history.urlEnv'} (history.urlEnv) is not set or empty`,
      );
    }
    await loadZstd();
    const pool = new pg.Pool({
      connectionString: this.options.connectionString,
      max: this.options.maxConnections ?? 4,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      application_name: 'beamscope',
      types,
    });
    // An idle connection that breaks (the server restarted) must not crash the process.
    pool.on('error', (error) => this.options.onIdleError?.(error));
    try {
      const client = await pool.connect();
      try {
        await migrate(client);
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end().catch(() => {});
      throw unavailable('PostgreSQL history', this.redact(error));
    }
    this.pool = pool;
  }

  /** The driver's message without the URL's password, should a message ever repeat it. */
  private redact(error: unknown): string {
    const message = error instanceof Error ? error.message || error.name : String(error);
    let password = '';
    try {
      password = decodeURIComponent(new URL(this.options.connectionString).password);
    } catch {
      // Not a URL (a key=value string): nothing to take out by position.
    }
    return password ? message.split(password).join('***') : message;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    // A reopened store's next delta starts a chain: the last one written may not be its base.
    this.deltaChains.forgetAll();
    await pool?.end();
  }

  private get db(): pg.Pool {
    if (!this.pool) throw unavailable('PostgreSQL history', 'the store is not open');
    return this.pool;
  }

  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.db.connect();
    try {
      await client.query('BEGIN');
      try {
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    } finally {
      client.release();
    }
  }

  async append(batch: HistoryBatch): Promise<void> {
    const { clusterId, run } = batch;
    const holder = this.leases.get(clusterId);
    const deltaBodies = await this.deltaChains.encodeBatchInTurns(
      clusterId,
      batch.deltas,
      batch.keyframes,
    );
    await this.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [
        APPEND_LOCK_CLASS,
        clusterId,
      ]);
      if (holder !== undefined) {
        const { rows } = await client.query<{ holder: string }>(
          'SELECT holder FROM beamscope_writers WHERE cluster_id = $1 FOR SHARE',
          [clusterId],
        );
        if (rows[0]?.holder !== holder) {
          throw new BeamscopeError(
            'history',
            'history_not_writer',
            `cluster ${clusterId}: another replica records this cluster now; this batch is not written`,
          );
        }
      }
      if (batch.events.length > 0) {
        // Ids taken in order first, so the batch's events keep their order in the timeline.
        const { rows: ids } = await client.query<{ id: number }>(
          `SELECT nextval(pg_get_serial_sequence('beamscope_events', 'id')) AS id
           FROM generate_series(1, $1)`,
          [batch.events.length],
        );
        const eventIds = ids.map((row) => row.id).sort((a, b) => a - b);
        await client.query(
          `INSERT INTO beamscope_events (id, cluster_id, run, seq, at, kind, body)
           SELECT id, $1, $2, seq, at, kind, body
           FROM unnest($3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::bytea[])
             AS t (id, seq, at, kind, body)`,
          [
            clusterId,
            run,
            eventIds,
            batch.events.map((event) => event.seq),
            batch.events.map((event) => event.at),
            batch.events.map((event) => event.kind),
            batch.events.map((event) => encodeEventBody(event)),
          ],
        );
        const named = batch.events.flatMap((event, index) =>
          nodesNamedBy(event).map((node) => [node, eventIds[index]!] as const),
        );
        if (named.length > 0) {
          await client.query(
            `INSERT INTO beamscope_event_nodes (cluster_id, node, event_id)
             SELECT $1, node, event_id FROM unnest($2::text[], $3::bigint[]) AS t (node, event_id)`,
            [clusterId, named.map(([node]) => node), named.map(([, id]) => id)],
          );
        }
      }
      const stateRows = [
        [
          'beamscope_keyframes',
          batch.keyframes.map(({ at, run: rowRun, seq, state }) => ({
            at,
            run: rowRun,
            seq,
            body: encodeJsonText(jsonText(state)),
          })),
        ],
        [
          'beamscope_deltas',
          batch.deltas.map(({ at, run: rowRun, seq }, index) => ({
            at,
            run: rowRun,
            seq,
            body: deltaBodies.bodies[index]!,
          })),
        ],
      ] as const;
      for (const [table, rows] of stateRows) {
        const unique = lastByKey(rows, (row) => `${row.at} ${row.run} ${row.seq}`);
        if (unique.length === 0) continue;
        await client.query(
          `INSERT INTO ${table} (cluster_id, at, run, seq, body)
           SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::bytea[])
           ON CONFLICT (cluster_id, at, run, seq) DO UPDATE SET body = excluded.body`,
          [
            clusterId,
            unique.map((row) => row.at),
            unique.map((row) => row.run),
            unique.map((row) => row.seq),
            unique.map((row) => row.body),
          ],
        );
      }
      const points = lastByKey(batch.points, ({ node, point }) => `${point.at} ${node}`);
      if (points.length > 0) {
        await client.query(
          `INSERT INTO beamscope_points
             (cluster_id, node, at, process_count, registered_names, memory_bytes)
           SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
           ON CONFLICT (cluster_id, node, at) DO UPDATE SET
             process_count = excluded.process_count,
             registered_names = excluded.registered_names,
             memory_bytes = excluded.memory_bytes`,
          [
            clusterId,
            points.map(({ node }) => node),
            points.map(({ point }) => point.at),
            points.map(({ point }) => point.processCount),
            points.map(({ point }) => point.registeredNames),
            points.map(({ point }) => point.memoryBytes),
          ],
        );
      }
      await client.query(
        `INSERT INTO beamscope_clusters (cluster_id, run, observed_until) VALUES ($1, $2, $3)
         ON CONFLICT (cluster_id) DO UPDATE SET
           run = excluded.run, observed_until = excluded.observed_until`,
        [clusterId, run, batch.observedUntil],
      );
    });
    deltaBodies.commit();
  }

  async claimWriter(
    clusterId: string,
    holder: string,
    ttlMs: number,
    now: number,
  ): Promise<boolean> {
    // One statement: a new row, a renewal by its holder, or a takeover of an expired lease. The
    // row lock of ON CONFLICT makes two replicas claiming at once see each other.
    const { rows } = await this.db.query(
      `INSERT INTO beamscope_writers AS w (cluster_id, holder, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (cluster_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
       WHERE w.holder = excluded.holder OR w.expires_at <= $4
       RETURNING holder`,
      [clusterId, holder, now + ttlMs, now],
    );
    // Fenced from now on, won or not: a batch is written only while the row names this holder.
    this.leases.set(clusterId, holder);
    return rows.length > 0;
  }

  async retained(clusterId: string): Promise<RetainedRange | null> {
    const { rows } = await this.db.query<{
      first: number | null;
      last: number | null;
      observed_until: number | null;
      retained_from: number | null;
    }>(
      `SELECT k.first, k.last, c.observed_until, c.retained_from
       FROM (SELECT min(at) AS first, max(at) AS last FROM beamscope_keyframes WHERE cluster_id = $1) k
       LEFT JOIN beamscope_clusters c ON c.cluster_id = $1`,
      [clusterId],
    );
    const row = rows[0];
    if (!row || row.first === null || row.last === null) return null;
    const from = Math.max(row.first, row.retained_from ?? row.first);
    return { from, to: Math.max(from, row.last, row.observed_until ?? from) };
  }

  async lastObservation(clusterId: string): Promise<LastObservation | null> {
    const { rows } = await this.db.query<{ run: string; observed_until: number }>(
      'SELECT run, observed_until FROM beamscope_clusters WHERE cluster_id = $1',
      [clusterId],
    );
    return rows[0] ? { run: rows[0].run, until: rows[0].observed_until } : null;
  }

  async stateAt(
    clusterId: string,
    at: number,
  ): Promise<{ keyframe: RecordedKeyframe; deltas: RecordedDelta[] } | null> {
    const { rows: keyframes } = await this.db.query<StateRow>(
      `SELECT at, run, seq, body FROM beamscope_keyframes WHERE cluster_id = $1 AND at <= $2
       ORDER BY at DESC, run DESC, seq DESC LIMIT 1`,
      [clusterId, at],
    );
    const keyframe = keyframes[0];
    if (!keyframe) return null;
    const { rows: deltas } = await this.db.query<StateRow>(
      `SELECT at, run, seq, body FROM beamscope_deltas
       WHERE cluster_id = $1 AND at <= $2 AND (at, run, seq) > ($3::bigint, $4::text, $5::bigint)
       ORDER BY at, run, seq`,
      [clusterId, at, keyframe.at, keyframe.run, keyframe.seq],
    );
    return stateFromRows(keyframe, deltas);
  }

  async timeline(clusterId: string, query: TimelineQuery): Promise<TimelinePage> {
    const { text, params, limit } = timelineSql(
      {
        events: 'beamscope_events',
        eventNodes: 'beamscope_event_nodes',
        eventNodesByCluster: true,
      },
      clusterId,
      query,
      (index) => `$${index}`,
    );
    const { rows } = await this.db.query<{ id: number; run: string; body: Buffer }>(text, params);
    return timelinePage(rows, limit);
  }

  async nodeSeries(
    clusterId: string,
    node: string,
    from: number,
    to: number,
  ): Promise<NodeHistoryPoint[]> {
    const [{ rows: blocks }, { rows }] = await Promise.all([
      this.db.query<StoredBlock>(
        `SELECT start, thinned_at AS "thinnedAt", body FROM beamscope_point_blocks
         WHERE cluster_id = $1 AND node = $2 AND start > $3 AND start <= $4`,
        [clusterId, node, from - BLOCK_MS, to],
      ),
      this.db.query<PointRow>(
        `SELECT at, process_count, registered_names, memory_bytes FROM beamscope_points
         WHERE cluster_id = $1 AND node = $2 AND at >= $3 AND at <= $4 ORDER BY at`,
        [clusterId, node, from, to],
      ),
    ]);
    return seriesBetween(blocks, rows.map(pointFromRow), from, to);
  }

  async compact(before: number, now: number): Promise<void> {
    await this.transaction(async (client) => {
      // Replicas compact the same tables: one at a time, the others skip this round.
      const { rows: lock } = await client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_xact_lock($1::bigint) AS locked',
        [COMPACT_LOCK],
      );
      if (!lock[0]?.locked) return;
      await compactLocked(client, before, now);
    });
  }
}

/** The rows with distinct keys, the last one of each key winning (as a second write would). */
function lastByKey<T>(rows: readonly T[], key: (row: T) => string): T[] {
  return [...new Map(rows.map((row) => [key(row), row] as const)).values()];
}
