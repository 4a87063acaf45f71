import 'server-only';

// The embedded store: one SQLite file under the configured data folder, through Node's own
// `node:sqlite` (no native addon to build or download). WAL, so the API's reads never wait on
// the recorder's writes; each batch is one transaction (batches come at most once a second, a
// few hundred rows), so the synchronous driver holds the event loop for a few milliseconds at a
// time. Only the data folder is written (the database, its -wal and -shm files; temporary
// tables stay in memory), so the container's root filesystem stays read-only.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type * as NodeSqlite from 'node:sqlite';

import type { NodeHistoryPoint } from '@/lib/cluster-state';

import { DeltaChainEncoder, encodeEventBody, encodeJsonText } from './body-codec';
import { jsonText } from '@/lib/json-text';
import { unavailable } from './cursor';
import { nodesNamedBy } from './event-nodes';
import {
  BLOCK_MS,
  rewriteSeries,
  seriesBetween,
  staleBlocksSql,
  type StoredBlock,
} from './point-blocks';
import {
  ensureClusterIndex,
  loadSqlite,
  migrate,
  NEW_FILE_PAGE_SIZE,
  schemaVersion,
  SCHEMA_VERSION,
} from './sqlite-schema';
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

/** The file under the data folder. */
export const SQLITE_FILE_NAME = 'beamscope-history.sqlite';

type Statement = NodeSqlite.StatementSync;

export interface SqliteHistoryStoreOptions {
  /** The data folder; created when missing. The only place the store writes. */
  directory: string;
  /**
   * Opens the file only to read it (the CLI beside a live server, or on a read-only mount):
   * nothing is created, migrated or written; a file of an older schema is refused with a reason.
   */
  readOnly?: boolean;
}

export class SqliteHistoryStore implements HistoryStore {
  readonly kind = 'sqlite' as const;
  readonly file: string;
  private db: NodeSqlite.DatabaseSync | null = null;
  private readonly statements = new Map<string, Statement>();
  private readonly deltaChains = new DeltaChainEncoder();
  /** The (cluster, node) pairs that have points, as `seriesKey`s; null until first needed. */
  private series: Set<string> | null = null;
  /** The clusters the file holds, while fewer than two (then the per-cluster index exists). */
  private clusters: Set<string> | null = null;

  constructor(private readonly options: SqliteHistoryStoreOptions) {
    this.file = join(options.directory, SQLITE_FILE_NAME);
  }

  async open(): Promise<void> {
    if (this.db) return;
    try {
      await loadZstd();
      this.db = this.options.readOnly ? this.openToRead() : this.openToWrite();
    } catch (error) {
      throw unavailable(`SQLite history at ${this.file}`, error);
    }
  }

  private openToWrite(): NodeSqlite.DatabaseSync {
    mkdirSync(this.options.directory, { recursive: true });
    const { DatabaseSync } = loadSqlite();
    const db = new DatabaseSync(this.file);
    try {
      // Before WAL: a new file takes the page size only until its journal mode is written.
      db.exec(`PRAGMA page_size = ${NEW_FILE_PAGE_SIZE}`);
      db.exec('PRAGMA journal_mode = WAL');
      // WAL + NORMAL: a crash of the process loses nothing committed; a power cut at most the
      // last transactions. Temporary tables in memory: nothing is written outside the folder.
      db.exec('PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY');
      db.exec('PRAGMA busy_timeout = 5000');
      migrate(db);
      if (!ensureClusterIndex(db)) {
        const rows = db.prepare('SELECT cluster_id FROM clusters').all() as Array<{
          cluster_id: string;
        }>;
        this.clusters = new Set(rows.map((row) => row.cluster_id));
      }
      return db;
    } catch (error) {
      db.close();
      throw error;
    }
  }

  private openToRead(): NodeSqlite.DatabaseSync {
    const { DatabaseSync } = loadSqlite();
    const db = new DatabaseSync(this.file, { readOnly: true });
    try {
      db.exec('PRAGMA busy_timeout = 5000');
      const version = schemaVersion(db);
      if (version !== SCHEMA_VERSION) {
        throw new Error(
          `the file has schema version ${version}, this beamscope reads ${SCHEMA_VERSION}: start the server on it once to migrate it`,
        );
      }
      return db;
    } catch (error) {
      db.close();
      throw error;
    }
  }

  async close(): Promise<void> {
    this.statements.clear();
    this.series = null;
    this.clusters = null;
    // A reopened file's next delta starts a chain: the last one written may not be its base.
    this.deltaChains.forgetAll();
    this.db?.close();
    this.db = null;
  }

  /** A prepared statement, prepared once per text. */
  private sql(text: string): Statement {
    if (!this.db) throw unavailable(`SQLite history at ${this.file}`, 'the store is not open');
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  /** Whether the file has the per-cluster index now (a writer beside a reader may add it). */
  private hasClusterIndex(): boolean {
    return (
      this.sql(
        "SELECT 1 AS found FROM sqlite_master WHERE type = 'index' AND name = 'events_by_cluster'",
      ).get() !== undefined
    );
  }

  /** Runs `work` in one write transaction: all of it or none. */
  private transaction(work: () => void): void {
    this.sql('BEGIN IMMEDIATE').run();
    try {
      work();
      this.sql('COMMIT').run();
    } catch (error) {
      this.sql('ROLLBACK').run();
      throw error;
    }
  }

  async append(batch: HistoryBatch): Promise<void> {
    const { clusterId, run } = batch;
    const insertEvent = this.sql(
      'INSERT INTO events (cluster_id, run, seq, at, kind, body) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const insertNode = this.sql('INSERT OR IGNORE INTO event_nodes (event_id, node) VALUES (?, ?)');
    const insertKeyframe = this.sql(
      'INSERT OR REPLACE INTO keyframes (cluster_id, at, run, seq, body) VALUES (?, ?, ?, ?, ?)',
    );
    const insertDelta = this.sql(
      'INSERT OR REPLACE INTO deltas (cluster_id, at, run, seq, body) VALUES (?, ?, ?, ?, ?)',
    );
    const insertPoint = this.sql(
      'INSERT OR REPLACE INTO points (cluster_id, node, at, process_count, registered_names, memory_bytes) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const observe = this.sql(
      `INSERT INTO clusters (cluster_id, run, observed_until) VALUES (?, ?, ?)
       ON CONFLICT (cluster_id) DO UPDATE SET run = excluded.run, observed_until = excluded.observed_until`,
    );
    const deltaBodies = await this.deltaChains.encodeBatchInTurns(
      clusterId,
      batch.deltas,
      batch.keyframes,
    );
    this.transaction(() => {
      for (const event of batch.events) {
        const { lastInsertRowid } = insertEvent.run(
          clusterId,
          run,
          event.seq,
          event.at,
          event.kind,
          encodeEventBody(event),
        );
        for (const node of nodesNamedBy(event)) insertNode.run(lastInsertRowid, node);
      }
      for (const keyframe of batch.keyframes) {
        insertKeyframe.run(
          clusterId,
          keyframe.at,
          keyframe.run,
          keyframe.seq,
          encodeJsonText(jsonText(keyframe.state)),
        );
      }
      batch.deltas.forEach((delta, index) => {
        insertDelta.run(clusterId, delta.at, delta.run, delta.seq, deltaBodies.bodies[index]!);
      });
      for (const { node, point } of batch.points) {
        this.series?.add(seriesKey(clusterId, node));
        insertPoint.run(
          clusterId,
          node,
          point.at,
          point.processCount,
          point.registeredNames,
          point.memoryBytes,
        );
      }
      observe.run(clusterId, run, batch.observedUntil);
    });
    deltaBodies.commit();
    if (this.clusters && !this.clusters.has(clusterId)) {
      this.clusters.add(clusterId);
      // A second cluster: from now on each pages through its own index (built once, here).
      if (this.clusters.size > 1 && this.db && ensureClusterIndex(this.db)) this.clusters = null;
    }
  }

  /**
   * A lease row as in PostgreSQL: one process normally owns the file, but two that open it (an
   * overlapping rollout on a shared volume) do not both record a cluster.
   */
  async claimWriter(
    clusterId: string,
    holder: string,
    ttlMs: number,
    now: number,
  ): Promise<boolean> {
    const row = this.sql(
      `INSERT INTO writers AS w (cluster_id, holder, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (cluster_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
       WHERE w.holder = excluded.holder OR w.expires_at <= ?
       RETURNING holder`,
    ).get(clusterId, holder, now + ttlMs, now);
    return row !== undefined;
  }

  async retained(clusterId: string): Promise<RetainedRange | null> {
    const span = this.sql(
      'SELECT min(at) AS first, max(at) AS last FROM keyframes WHERE cluster_id = ?',
    ).get(clusterId) as { first: number | null; last: number | null } | undefined;
    if (!span || span.first === null || span.last === null) return null;
    const cluster = this.sql(
      'SELECT observed_until, retained_from FROM clusters WHERE cluster_id = ?',
    ).get(clusterId) as { observed_until: number; retained_from: number | null } | undefined;
    const from = Math.max(span.first, cluster?.retained_from ?? span.first);
    return { from, to: Math.max(from, span.last, cluster?.observed_until ?? from) };
  }

  async lastObservation(clusterId: string): Promise<LastObservation | null> {
    const row = this.sql('SELECT run, observed_until FROM clusters WHERE cluster_id = ?').get(
      clusterId,
    ) as { run: string; observed_until: number } | undefined;
    return row ? { run: row.run, until: row.observed_until } : null;
  }

  async stateAt(
    clusterId: string,
    at: number,
  ): Promise<{ keyframe: RecordedKeyframe; deltas: RecordedDelta[] } | null> {
    const keyframe = this.sql(
      `SELECT at, run, seq, body FROM keyframes WHERE cluster_id = ? AND at <= ?
       ORDER BY at DESC, run DESC, seq DESC LIMIT 1`,
    ).get(clusterId, at) as StateRow | undefined;
    if (!keyframe) return null;
    const deltas = this.sql(
      `SELECT at, run, seq, body FROM deltas
       WHERE cluster_id = ? AND at <= ? AND (at, run, seq) > (?, ?, ?)
       ORDER BY at, run, seq`,
    ).all(clusterId, at, keyframe.at, keyframe.run, keyframe.seq) as unknown as StateRow[];
    return stateFromRows(keyframe, deltas);
  }

  async timeline(clusterId: string, query: TimelineQuery): Promise<TimelinePage> {
    const { text, params, limit } = timelineSql(
      { events: 'events', eventNodes: 'event_nodes' },
      clusterId,
      query,
      () => '?',
      { pageByRowid: !this.hasClusterIndex() },
    );
    const rows = this.sql(text).all(...params) as unknown as Array<{
      id: number;
      run: string;
      body: string | Uint8Array;
    }>;
    return timelinePage(rows, limit);
  }

  async nodeSeries(
    clusterId: string,
    node: string,
    from: number,
    to: number,
  ): Promise<NodeHistoryPoint[]> {
    const blocks = this.sql(
      `SELECT start, thinned_at AS thinnedAt, body FROM point_blocks
       WHERE cluster_id = ? AND node = ? AND start > ? AND start <= ?`,
    ).all(clusterId, node, from - BLOCK_MS, to) as unknown as StoredBlock[];
    const rows = this.sql(
      `SELECT at, process_count, registered_names, memory_bytes FROM points
       WHERE cluster_id = ? AND node = ? AND at >= ? AND at <= ? ORDER BY at`,
    ).all(clusterId, node, from, to) as unknown as PointRow[];
    return seriesBetween(blocks, rows.map(pointFromRow), from, to);
  }

  /**
   * Retention, then node series into blocks. The synchronous driver holds the event loop while a
   * statement runs, so the work is cut small: one transaction per cluster for the events and
   * states, and node series a node at a time through the primary keys, a batch of nodes per
   * transaction, yielding to the loop between batches. Freed pages go back to the file system.
   */
  async compact(before: number, now: number): Promise<void> {
    const clusters = this.sql('SELECT cluster_id FROM clusters').all() as Array<{
      cluster_id: string;
    }>;
    for (const { cluster_id: clusterId } of clusters) {
      this.transaction(() => this.dropOlderThan(clusterId, before));
      await yieldToLoop();
    }
    const series = this.seriesList();
    for (let start = 0; start < series.length; start += NODES_PER_TRANSACTION) {
      this.transaction(() => {
        for (const [clusterId, node] of series.slice(start, start + NODES_PER_TRANSACTION)) {
          if (!this.compactSeries(clusterId, node, before, now)) {
            // A node gone from the cluster, its last point past retention: no longer visited.
            this.series?.delete(seriesKey(clusterId, node));
          }
        }
      });
      await yieldToLoop();
    }
    this.db?.exec('PRAGMA incremental_vacuum');
  }

  /**
   * Moves a node's rows older than `now` into its hourly blocks, thins the blocks a tier's
   * boundary has passed over, drops what is older than `before`. False when nothing is left.
   */
  private compactSeries(clusterId: string, node: string, before: number, now: number): boolean {
    const rows = (
      this.sql(
        `SELECT at, process_count, registered_names, memory_bytes FROM points
         WHERE cluster_id = ? AND node = ? AND at < ? ORDER BY at`,
      ).all(clusterId, node, now) as unknown as PointRow[]
    ).map(pointFromRow);
    this.sql('DELETE FROM point_blocks WHERE cluster_id = ? AND node = ? AND start <= ?').run(
      clusterId,
      node,
      before - BLOCK_MS,
    );
    const params: number[] = [];
    const stale = staleBlocksSql(now, (value) => {
      params.push(value);
      return '?';
    });
    const [first, last] =
      rows.length > 0
        ? [rows[0]!.at, rows.at(-1)!.at]
        : [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
    const blocks = this.sql(
      `SELECT start, thinned_at AS thinnedAt, body FROM point_blocks
       WHERE cluster_id = ? AND node = ? AND (start < ? OR (start > ? AND start <= ?) OR ${stale})`,
    ).all(clusterId, node, before, first - BLOCK_MS, last, ...params) as unknown as StoredBlock[];
    const rewrite = rewriteSeries(blocks, rows, before, now);
    // A rewritten block leaves its place and is appended anew (a new rowid), not updated where
    // it is: the current hour's blocks grow every minute and a thinned block shrinks to a
    // fifth, so updated in place they left their pages half empty (~55 % of point_blocks'
    // pages unused in the bench's file). Appended, the old copies empty whole pages, which
    // `incremental_vacuum` gives back.
    const remove = this.sql(
      'DELETE FROM point_blocks WHERE cluster_id = ? AND node = ? AND start = ?',
    );
    const write = this.sql(
      'INSERT INTO point_blocks (cluster_id, node, start, thinned_at, body) VALUES (?, ?, ?, ?, ?)',
    );
    for (const block of rewrite.write) {
      remove.run(clusterId, node, block.start);
      write.run(clusterId, node, block.start, now, block.body);
    }
    for (const start of rewrite.remove) remove.run(clusterId, node, start);
    this.sql('DELETE FROM points WHERE cluster_id = ? AND node = ? AND at < ?').run(
      clusterId,
      node,
      now,
    );
    const left = this.sql(
      `SELECT 1 AS found FROM point_blocks WHERE cluster_id = ? AND node = ?
       UNION ALL SELECT 1 FROM points WHERE cluster_id = ? AND node = ? LIMIT 1`,
    ).get(clusterId, node, clusterId, node);
    return left !== undefined;
  }

  /** Every (cluster, node) with points: read once from the file, then kept up by `append`. */
  private seriesList(): Array<[string, string]> {
    if (!this.series) {
      this.series = new Set();
      const rows = this.sql(
        'SELECT DISTINCT cluster_id, node FROM points UNION SELECT DISTINCT cluster_id, node FROM point_blocks',
      ).all() as Array<{
        cluster_id: string;
        node: string;
      }>;
      for (const row of rows) this.series.add(seriesKey(row.cluster_id, row.node));
    }
    return [...this.series].map((key) => JSON.parse(key) as [string, string]);
  }

  private dropOlderThan(clusterId: string, before: number): void {
    const edge = this.sql(
      `SELECT at, run, seq FROM keyframes WHERE cluster_id = ? AND at <= ?
       ORDER BY at DESC, run DESC, seq DESC LIMIT 1`,
    ).get(clusterId, before) as StateRow | undefined;
    if (edge) {
      this.sql('DELETE FROM keyframes WHERE cluster_id = ? AND (at, run, seq) < (?, ?, ?)').run(
        clusterId,
        edge.at,
        edge.run,
        edge.seq,
      );
      this.sql('DELETE FROM deltas WHERE cluster_id = ? AND (at, run, seq) <= (?, ?, ?)').run(
        clusterId,
        edge.at,
        edge.run,
        edge.seq,
      );
      this.sql(
        'UPDATE clusters SET retained_from = max(coalesce(retained_from, ?), ?) WHERE cluster_id = ?',
      ).run(before, before, clusterId);
    } else {
      // No keyframe answers for `before`: deltas older than it can never be applied.
      this.sql('DELETE FROM deltas WHERE cluster_id = ? AND at < ?').run(clusterId, before);
    }
    // By the events' ids, each a seek in `event_nodes`' key (event, node).
    this.sql(
      `DELETE FROM event_nodes WHERE event_id IN
         (SELECT id FROM events WHERE cluster_id = ? AND at < ?)`,
    ).run(clusterId, before);
    this.sql('DELETE FROM events WHERE cluster_id = ? AND at < ?').run(clusterId, before);
  }
}

/** Nodes whose series one compaction transaction thins. */
const NODES_PER_TRANSACTION = 10;

const seriesKey = (clusterId: string, node: string) => JSON.stringify([clusterId, node]);

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));
