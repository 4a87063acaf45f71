// A history written by the previous release (schema version 1: bodies as JSON text, node points
// one row each) opens with this one: migrated at open, every row still read, new rows written
// compressed beside the old, and the old points moved into blocks by the next compaction. The
// same for an SQLite file and a PostgreSQL database.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClusterState } from '@/lib/cluster-state';
import { applyWireDelta, expandState } from '@/lib/peer-wire';

import { PostgresHistoryStore } from '../../../server/history/postgres';
import { migrate as migratePostgres } from '../../../server/history/postgres-schema';
import { SqliteHistoryStore, SQLITE_FILE_NAME } from '../../../server/history/sqlite';
import { loadSqlite, migrate as migrateSqlite } from '../../../server/history/sqlite-schema';
import type { HistoryStore } from '../../../server/history/store';
import { endPool, startPostgres, type PostgresServer } from '../../support/postgres';
import { batch, delta, event, keyframe, meshState, n } from './fixtures';

const CLUSTER = 'prod';
const RUN = 'run-old';

/** What the old release wrote: a keyframe at 1 s, deltas to 3 s, a point a second. */
const states = [1_000, 2_000, 3_000].map((at, index) => meshState(3 + index, at));
const oldKeyframe = keyframe(states[0]!, RUN, 1);
const oldDeltas = [delta(states[0]!, states[1]!, RUN, 2), delta(states[1]!, states[2]!, RUN, 3)];
const oldPoints = [1_000, 2_000, 3_000].map((at) => ({
  at,
  processCount: at / 100,
  registeredNames: 3,
  memoryBytes: at * 1000,
}));

const oldEvent = event(1, 2_000, 'node_down');

/** The rows of version 1, as its store wrote them (JSON text bodies), for either SQL. */
const oldRows = {
  event: [CLUSTER, RUN, oldEvent.seq, oldEvent.at, oldEvent.kind, JSON.stringify(oldEvent)],
  keyframe: [CLUSTER, oldKeyframe.at, RUN, oldKeyframe.seq, JSON.stringify(oldKeyframe.state)],
  deltas: oldDeltas.map((d) => [CLUSTER, d.at, RUN, d.seq, JSON.stringify(d.delta)]),
  points: oldPoints.map((p) => [
    CLUSTER,
    n(1),
    p.at,
    p.processCount,
    p.registeredNames,
    p.memoryBytes,
  ]),
  cluster: [CLUSTER, RUN, 3_000],
};

async function rebuiltAt(store: HistoryStore, at: number): Promise<ClusterState> {
  const found = await store.stateAt(CLUSTER, at);
  expect(found).not.toBeNull();
  return found!.deltas.reduce(
    (state, recorded) => applyWireDelta(state, recorded.delta),
    expandState(found!.keyframe.state),
  );
}

/** What every upgraded store must do: read the old rows, write new ones, compact them all. */
async function readsAndGoesOn(store: HistoryStore): Promise<void> {
  for (const [index, state] of states.entries())
    expect(await rebuiltAt(store, state.at)).toEqual(states[index]);
  expect(await store.nodeSeries(CLUSTER, n(1), 0, 10_000)).toEqual(oldPoints);
  expect((await store.timeline(CLUSTER, { limit: 10 })).events.map((e) => e.event)).toEqual([
    oldEvent,
  ]);
  // The new release goes on after the old rows, compressed, in a new run.
  const next = meshState(7, 4_000);
  const later = meshState(8, 5_000);
  await store.append(
    batch(CLUSTER, 'run-new', {
      keyframes: [keyframe(next, 'run-new', 1)],
      deltas: [delta(next, later, 'run-new', 2)],
      points: [
        {
          node: n(1),
          point: { at: 4_000, processCount: 40, registeredNames: 3, memoryBytes: 4_000_000 },
        },
      ],
      events: [event(2, 4_500, 'node_up')],
      observedUntil: 5_000,
    }),
  );
  expect(await rebuiltAt(store, 5_000)).toEqual(later);
  const timeline = await store.timeline(CLUSTER, { limit: 10, order: 'oldest' });
  expect(timeline.events.map((e) => e.event)).toEqual([oldEvent, event(2, 4_500, 'node_up')]);
  expect(await rebuiltAt(store, 2_500)).toEqual(states[1]);
  const series = await store.nodeSeries(CLUSTER, n(1), 0, 10_000);
  // Compaction moves the old and new rows into blocks; the series reads the same.
  await store.compact(0, 10_000);
  expect(await store.nodeSeries(CLUSTER, n(1), 0, 10_000)).toEqual(series);
  expect(series.map((point) => point.at)).toEqual([1_000, 2_000, 3_000, 4_000]);
}

describe('a history of schema version 1 opens with this release', () => {
  it('SQLite: migrates the file at open, reads the old rows, writes and compacts the new', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'beamscope-upgrade-'));
    try {
      const { DatabaseSync } = loadSqlite();
      const old = new DatabaseSync(join(directory, SQLITE_FILE_NAME));
      migrateSqlite(old, 1);
      const insert = (sql: string, rows: unknown[][]) => {
        const statement = old.prepare(sql);
        for (const row of rows) statement.run(...(row as Array<string | number>));
      };
      insert(
        'INSERT INTO events (cluster_id, run, seq, at, kind, body) VALUES (?, ?, ?, ?, ?, ?)',
        [oldRows.event],
      );
      insert('INSERT INTO keyframes VALUES (?, ?, ?, ?, ?)', [oldRows.keyframe]);
      insert('INSERT INTO deltas VALUES (?, ?, ?, ?, ?)', oldRows.deltas);
      insert('INSERT INTO points VALUES (?, ?, ?, ?, ?, ?)', oldRows.points);
      insert('INSERT INTO clusters (cluster_id, run, observed_until) VALUES (?, ?, ?)', [
        oldRows.cluster,
      ]);
      old.close();

      // A reader cannot migrate: it says what to do instead of misreading.
      const reader = new SqliteHistoryStore({ directory, readOnly: true });
      await expect(reader.open()).rejects.toThrow(/schema version 1.*start the server on it/);

      const store = new SqliteHistoryStore({ directory });
      await store.open();
      try {
        await readsAndGoesOn(store);
      } finally {
        await store.close();
      }
      // Migrated, the file opens read-only beside a writer, and reads the same.
      const writer = new SqliteHistoryStore({ directory });
      await writer.open();
      const readOnly = new SqliteHistoryStore({ directory, readOnly: true });
      await readOnly.open();
      try {
        expect(await rebuiltAt(readOnly, 2_500)).toEqual(states[1]);
        await expect(readOnly.compact(0, 20_000)).rejects.toThrow(/readonly/i);
      } finally {
        await readOnly.close();
        await writer.close();
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  describe('PostgreSQL', () => {
    let postgres: PostgresServer;
    beforeAll(async () => {
      postgres = await startPostgres();
    });
    afterAll(async () => {
      await postgres?.stop();
    });

    it('migrates the database at open (text bodies to bytea), reads the old rows, goes on', async () => {
      const url = await postgres.createDatabase('upgrade_from_1');
      const pool = new pg.Pool({ connectionString: url });
      const client = await pool.connect();
      try {
        await migratePostgres(client, 1);
        await client.query(
          'INSERT INTO beamscope_events (cluster_id, run, seq, at, kind, body) VALUES ($1, $2, $3, $4, $5, $6)',
          oldRows.event,
        );
        for (const row of [oldRows.keyframe])
          await client.query('INSERT INTO beamscope_keyframes VALUES ($1, $2, $3, $4, $5)', row);
        for (const row of oldRows.deltas)
          await client.query('INSERT INTO beamscope_deltas VALUES ($1, $2, $3, $4, $5)', row);
        for (const row of oldRows.points)
          await client.query('INSERT INTO beamscope_points VALUES ($1, $2, $3, $4, $5, $6)', row);
        await client.query(
          'INSERT INTO beamscope_clusters (cluster_id, run, observed_until) VALUES ($1, $2, $3)',
          oldRows.cluster,
        );
      } finally {
        client.release();
        await endPool(pool);
      }
      const store = new PostgresHistoryStore({ connectionString: url });
      await store.open();
      try {
        await readsAndGoesOn(store);
      } finally {
        await store.close();
      }
    });
  });
});
