import 'server-only';

// The SQLite file's schema as numbered migrations (`PRAGMA user_version` counts them), and the
// one place `node:sqlite` is loaded.

import type * as NodeSqlite from 'node:sqlite';

/**
 * `node:sqlite` is experimental in Node 22 and says so once, on stderr, when first loaded. The
 * warning is dropped here and only here — the one module that loads it, while it loads — so the
 * server log stays clean without hiding any other warning (`--no-warnings` would hide them all).
 */
export function loadSqlite(): typeof NodeSqlite {
  const emitWarning = process.emitWarning;
  process.emitWarning = function (this: NodeJS.Process, ...args: unknown[]) {
    const [warning, typeOrOptions] = args;
    const type =
      typeof typeOrOptions === 'string'
        ? typeOrOptions
        : (typeOrOptions as { type?: string } | undefined)?.type;
    const message = warning instanceof Error ? warning.message : String(warning);
    if (type === 'ExperimentalWarning' && message.startsWith('SQLite ')) return;
    return (emitWarning as (...rest: unknown[]) => void).apply(this, args);
  } as typeof process.emitWarning;
  try {
    return process.getBuiltinModule('node:sqlite');
  } finally {
    process.emitWarning = emitWarning;
  }
}

/**
 * The page size of a new file (an existing file keeps its own). Bodies of 0.5–4 KB — a delta,
 * a keyframe, the current hour's point block growing at each compaction — left SQLite's default
 * 4 KB pages ~20 % empty (a 2.2 KB block alone on its page, measured with `dbstat` on the
 * bench's file); 16 KB pages hold several such rows each.
 */
export const NEW_FILE_PAGE_SIZE = 16_384;

/** The schema, one entry per version (`PRAGMA user_version` says which were applied). */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     cluster_id TEXT NOT NULL, run TEXT NOT NULL, seq INTEGER NOT NULL,
     at INTEGER NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL);
   CREATE INDEX events_by_cluster ON events (cluster_id, id);
   CREATE INDEX events_by_time ON events (cluster_id, at);
   CREATE TABLE event_nodes (
     cluster_id TEXT NOT NULL, node TEXT NOT NULL, event_id INTEGER NOT NULL,
     PRIMARY KEY (cluster_id, node, event_id)) WITHOUT ROWID;
   CREATE INDEX event_nodes_by_event ON event_nodes (event_id);
   CREATE TABLE keyframes (
     cluster_id TEXT NOT NULL, at INTEGER NOT NULL, run TEXT NOT NULL, seq INTEGER NOT NULL,
     body TEXT NOT NULL, PRIMARY KEY (cluster_id, at, run, seq)) WITHOUT ROWID;
   CREATE TABLE deltas (
     cluster_id TEXT NOT NULL, at INTEGER NOT NULL, run TEXT NOT NULL, seq INTEGER NOT NULL,
     body TEXT NOT NULL, PRIMARY KEY (cluster_id, at, run, seq)) WITHOUT ROWID;
   CREATE TABLE points (
     cluster_id TEXT NOT NULL, node TEXT NOT NULL, at INTEGER NOT NULL,
     process_count INTEGER, registered_names INTEGER, memory_bytes INTEGER,
     PRIMARY KEY (cluster_id, node, at)) WITHOUT ROWID;
   CREATE TABLE clusters (
     cluster_id TEXT PRIMARY KEY, run TEXT NOT NULL, observed_until INTEGER NOT NULL,
     retained_from INTEGER);
   CREATE TABLE writers (
     cluster_id TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL);
   CREATE TABLE thinned (tier INTEGER PRIMARY KEY, until INTEGER NOT NULL);`,
  // Version 2: bodies compressed, events' too (body-codec.ts; version 1's JSON text still
  // reads: a TEXT column keeps a BLOB as given), node points
  // kept as rows only until the next compaction moves them into a block per node and hour
  // (point-blocks.ts). Bodies of ~0.5–7 KB sit better in rowid tables (appended in order, their
  // pages fill; a WITHOUT ROWID tree of such rows left them ~60 % full), the position a unique
  // index beside them. `thinned` is no longer needed: each block says when it was last thinned.
  `${['keyframes', 'deltas']
    .map(
      (table) => `
   CREATE TABLE ${table}_v2 (
     id INTEGER PRIMARY KEY, cluster_id TEXT NOT NULL, at INTEGER NOT NULL, run TEXT NOT NULL,
     seq INTEGER NOT NULL, body BLOB NOT NULL);
   INSERT INTO ${table}_v2 (cluster_id, at, run, seq, body)
     SELECT cluster_id, at, run, seq, body FROM ${table} ORDER BY cluster_id, at, run, seq;
   DROP TABLE ${table};
   ALTER TABLE ${table}_v2 RENAME TO ${table};
   CREATE UNIQUE INDEX ${table}_by_position ON ${table} (cluster_id, at, run, seq);`,
    )
    .join('')}
   CREATE TABLE point_blocks (
     id INTEGER PRIMARY KEY, cluster_id TEXT NOT NULL, node TEXT NOT NULL, start INTEGER NOT NULL,
     thinned_at INTEGER NOT NULL, body BLOB NOT NULL);
   CREATE UNIQUE INDEX point_blocks_by_series ON point_blocks (cluster_id, node, start);
   DROP TABLE thinned;`,
  // Version 3: two indexes that cost ~3.6 MB a day at 100 nodes (of ~52) and earned nothing.
  // `events_by_cluster` repeats the rowid order: with one cluster in the file the timeline pages
  // by the rowid itself; a file that holds a second cluster gets it back (`ensureClusterIndex`),
  // so one cluster's pages never walk another's rows. `event_nodes` is keyed by event first: the
  // node filter looks up (event, node) for each event it pages, and retention deletes its
  // events' rows by id — the by-event index is then the table itself. Its cluster column went
  // with it (an event id names one cluster's event).
  `DROP INDEX events_by_cluster;
   DROP INDEX event_nodes_by_event;
   CREATE TABLE event_nodes_v3 (
     event_id INTEGER NOT NULL, node TEXT NOT NULL,
     PRIMARY KEY (event_id, node)) WITHOUT ROWID;
   INSERT INTO event_nodes_v3 (event_id, node)
     SELECT event_id, node FROM event_nodes ORDER BY event_id, node;
   DROP TABLE event_nodes;
   ALTER TABLE event_nodes_v3 RENAME TO event_nodes;`,
];

/**
 * The timeline's per-cluster index, made when the file holds more than one cluster: with one,
 * the rowid order is already that cluster's order; with several, paging one cluster by the rowid
 * would walk the others' rows too (a quiet cluster beside a busy one: all of retention).
 * Returns whether the index exists.
 */
export function ensureClusterIndex(db: NodeSqlite.DatabaseSync): boolean {
  // Every append names its cluster in `clusters`, so that small table says how many there are.
  const { clusters } = db.prepare('SELECT count(*) AS clusters FROM clusters').get() as {
    clusters: number;
  };
  if (clusters > 1) {
    db.exec('CREATE INDEX IF NOT EXISTS events_by_cluster ON events (cluster_id, id)');
  }
  return hasClusterIndex(db);
}

/** Whether the file has the timeline's per-cluster index (see `ensureClusterIndex`). */
export function hasClusterIndex(db: NodeSqlite.DatabaseSync): boolean {
  return (
    db
      .prepare("SELECT 1 AS found FROM sqlite_master WHERE type = 'index' AND name = ?")
      .get('events_by_cluster') !== undefined
  );
}

/** The schema version this beamscope writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

export function schemaVersion(db: NodeSqlite.DatabaseSync): number {
  const { user_version: version } = db.prepare('PRAGMA user_version').get() as {
    user_version: number;
  };
  if (version > MIGRATIONS.length) {
    throw new Error(
      `the file has schema version ${version}, newer than this beamscope knows (${MIGRATIONS.length}): it was written by a newer release`,
    );
  }
  return version;
}

/**
 * Applies the migrations the file has not seen, each in its own transaction, up to `target`
 * (the newest unless a test builds a file of an older release).
 */
export function migrate(db: NodeSqlite.DatabaseSync, target = MIGRATIONS.length): void {
  const version = schemaVersion(db);
  // A new file gives freed pages back (compaction runs `PRAGMA incremental_vacuum`): the file
  // then measures what it holds. Only possible before the first table; a file of version 1
  // keeps reusing its free pages instead (a VACUUM would convert it, holding the start up).
  if (version === 0) db.exec('PRAGMA auto_vacuum = INCREMENTAL');
  for (let next = version; next < target; next++) {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(MIGRATIONS[next]!);
      db.exec(`PRAGMA user_version = ${next + 1}`);
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw error;
    }
  }
}
