// A history written by schema version 2 (compressed bodies, the events' by-cluster index, the
// node rows keyed by cluster and node with a by-event index beside them) opens with this release:
// an SQLite file is migrated to version 3 at open (with one cluster the by-cluster index is
// dropped, with two it stays; the node rows are keyed by event) and reads the same states,
// timeline pages and node filter, and retention still takes the old events' node rows with them.
// A PostgreSQL database keeps version 2's schema (its planner drives the node filter from the
// node's rows, and the cascade needs the by-event index) and reads the same through the
// timeline query both stores share.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClusterState, TimelineEvent } from '@/lib/cluster-state';
import { applyWireDelta, expandState } from '@/lib/peer-wire';

import {
  DeltaChainEncoder,
  encodeEventBody,
  encodeJsonBody,
} from '../../../server/history/body-codec';
import { nodesNamedBy } from '../../../server/history/event-nodes';
import { PostgresHistoryStore } from '../../../server/history/postgres';
import { migrate as migratePostgres } from '../../../server/history/postgres-schema';
import { SqliteHistoryStore, SQLITE_FILE_NAME } from '../../../server/history/sqlite';
import { loadSqlite, migrate as migrateSqlite } from '../../../server/history/sqlite-schema';
import type { HistoryStore, TimelineQuery } from '../../../server/history/store';
import { loadZstd } from '../../../server/history/zstd';
import { endPool, startPostgres, type PostgresServer } from '../../support/postgres';
import { batch, delta, event, keyframe, meshState, n } from './fixtures';

const CLUSTER = 'prod';
const OTHER = 'staging';
const RUN = 'run-v2';

const states = [1_000, 2_000, 3_000].map((at, index) => meshState(3 + index, at));
const v2Keyframe = keyframe(states[0]!, RUN, 1);
const v2Deltas = [delta(states[0]!, states[1]!, RUN, 2), delta(states[1]!, states[2]!, RUN, 3)];
/** 30 events a 100 ms apart, on five nodes in turn. */
const v2Events: TimelineEvent[] = Array.from({ length: 30 }, (_, index) =>
  event(index + 1, 1_000 + index * 100, index % 4 === 0 ? 'node_down' : 'node_up'),
);
const otherEvents: TimelineEvent[] = [event(1, 1_500), event(2, 2_500)];

/** The rows version 2 wrote, encoded by the same codecs, in insertion order. */
function v2Rows() {
  const deltaBodies = new DeltaChainEncoder().encodeBatch(CLUSTER, v2Deltas, [v2Keyframe]).bodies;
  return {
    keyframe: [CLUSTER, v2Keyframe.at, RUN, v2Keyframe.seq, encodeJsonBody(v2Keyframe.state)],
    deltas: v2Deltas.map((d, index) => [CLUSTER, d.at, RUN, d.seq, deltaBodies[index]!]),
    events: [
      ...v2Events.map((e) => ({ cluster: CLUSTER, event: e })),
      ...otherEvents.map((e) => ({ cluster: OTHER, event: e })),
    ],
  };
}

async function rebuiltAt(store: HistoryStore, at: number): Promise<ClusterState> {
  const found = await store.stateAt(CLUSTER, at);
  expect(found).not.toBeNull();
  return found!.deltas.reduce(
    (state, recorded) => applyWireDelta(state, recorded.delta),
    expandState(found!.keyframe.state),
  );
}

async function allPages(
  store: HistoryStore,
  clusterId: string,
  query: TimelineQuery,
): Promise<number[]> {
  const seqs: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.timeline(clusterId, { ...query, cursor });
    seqs.push(...page.events.map((recorded) => recorded.event.seq));
    cursor = page.next ?? undefined;
  } while (cursor !== undefined);
  return seqs;
}

const seqsOf = (events: readonly TimelineEvent[]) => events.map((e) => e.seq);

/** What every store of version 2 reads after the upgrade, and how it goes on. */
async function readsTheSameHistory(store: HistoryStore, withOther: boolean): Promise<void> {
  for (const [index, state] of states.entries())
    expect(await rebuiltAt(store, state.at)).toEqual(states[index]);
  expect(await allPages(store, CLUSTER, { limit: 7 })).toEqual(seqsOf(v2Events).reverse());
  expect(await allPages(store, CLUSTER, { limit: 4, order: 'oldest' })).toEqual(seqsOf(v2Events));
  for (const node of [n(1), n(3)]) {
    expect(await allPages(store, CLUSTER, { limit: 2, node, order: 'oldest' })).toEqual(
      seqsOf(v2Events.filter((e) => e.node === node)),
    );
  }
  expect(await allPages(store, CLUSTER, { limit: 3, kinds: ['node_down'] })).toEqual(
    seqsOf(v2Events.filter((e) => e.kind === 'node_down')).reverse(),
  );
  expect(await allPages(store, CLUSTER, { limit: 3, from: 1_500, to: 1_900 })).toEqual([
    10, 9, 8, 7, 6,
  ]);
  if (withOther) {
    expect(await allPages(store, OTHER, { limit: 1 })).toEqual([2, 1]);
    expect(await allPages(store, OTHER, { limit: 5, node: otherEvents[0]!.node })).toEqual([1]);
  }

  // Written after the upgrade: the node filter finds the new events beside the old.
  const later = event(31, 4_000, 'node_up', n(1));
  await store.append(batch(CLUSTER, 'run-v3', { events: [later], observedUntil: 4_000 }));
  expect(await allPages(store, CLUSTER, { limit: 50, node: n(1) })).toEqual([
    31,
    ...seqsOf(v2Events.filter((e) => e.node === n(1))).reverse(),
  ]);

  // Retention drops the old events before 2 s and their node rows with them.
  await store.compact(2_000, 10_000);
  const kept = v2Events.filter((e) => e.at >= 2_000);
  expect(await allPages(store, CLUSTER, { limit: 8, order: 'oldest' })).toEqual([
    ...seqsOf(kept),
    31,
  ]);
  expect(await allPages(store, CLUSTER, { limit: 8, node: n(2), order: 'oldest' })).toEqual(
    seqsOf(kept.filter((e) => e.node === n(2))),
  );
  expect(await rebuiltAt(store, 3_000)).toEqual(states[2]);
}

/** Node rows left after the checks: one per node named by each event still stored. */
function expectedNodeRows(withOther: boolean): number {
  const kept = [...v2Events.filter((e) => e.at >= 2_000), event(31, 4_000, 'node_up', n(1))];
  const others = withOther ? otherEvents.filter((e) => e.at >= 2_000) : [];
  return [...kept, ...others].reduce((sum, e) => sum + nodesNamedBy(e).length, 0);
}

describe('a history of schema version 2 opens with this release', () => {
  beforeAll(async () => {
    await loadZstd();
  });

  for (const withOther of [false, true]) {
    it(`SQLite with ${withOther ? 'two clusters' : 'one cluster'}: migrated at open, the same history read`, async () => {
      const directory = await mkdtemp(join(tmpdir(), 'beamscope-upgrade-v2-'));
      const file = join(directory, SQLITE_FILE_NAME);
      const { DatabaseSync } = loadSqlite();
      try {
        const old = new DatabaseSync(file);
        migrateSqlite(old, 2);
        const rows = v2Rows();
        old
          .prepare('INSERT INTO keyframes (cluster_id, at, run, seq, body) VALUES (?, ?, ?, ?, ?)')
          .run(...(rows.keyframe as [string, number, string, number, Buffer]));
        const insertDelta = old.prepare(
          'INSERT INTO deltas (cluster_id, at, run, seq, body) VALUES (?, ?, ?, ?, ?)',
        );
        for (const row of rows.deltas)
          insertDelta.run(...(row as [string, number, string, number, Buffer]));
        const insertEvent = old.prepare(
          'INSERT INTO events (cluster_id, run, seq, at, kind, body) VALUES (?, ?, ?, ?, ?, ?)',
        );
        const insertNode = old.prepare(
          'INSERT INTO event_nodes (cluster_id, node, event_id) VALUES (?, ?, ?)',
        );
        const observe = old.prepare(
          'INSERT OR REPLACE INTO clusters (cluster_id, run, observed_until) VALUES (?, ?, ?)',
        );
        for (const { cluster, event: e } of rows.events) {
          if (cluster === OTHER && !withOther) continue;
          const { lastInsertRowid } = insertEvent.run(
            cluster,
            RUN,
            e.seq,
            e.at,
            e.kind,
            encodeEventBody(e),
          );
          for (const node of nodesNamedBy(e)) insertNode.run(cluster, node, lastInsertRowid);
          observe.run(cluster, RUN, 3_000);
        }
        old.close();

        const store = new SqliteHistoryStore({ directory });
        await store.open();
        try {
          await readsTheSameHistory(store, withOther);
        } finally {
          await store.close();
        }

        const migrated = new DatabaseSync(file, { readOnly: true });
        try {
          const indexes = (
            migrated
              .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'event%'")
              .all() as Array<{ name: string }>
          ).map((row) => row.name);
          expect(indexes.sort()).toEqual(
            withOther ? ['events_by_cluster', 'events_by_time'] : ['events_by_time'],
          );
          const { count } = migrated.prepare('SELECT count(*) AS count FROM event_nodes').get() as {
            count: number;
          };
          expect(count).toBe(expectedNodeRows(withOther));
          expect(
            (migrated.prepare('PRAGMA user_version').get() as { user_version: number })
              .user_version,
          ).toBe(3);
        } finally {
          migrated.close();
        }
      } finally {
        await rm(directory, { recursive: true, force: true });
      }
    });
  }

  describe('PostgreSQL', () => {
    let postgres: PostgresServer;
    beforeAll(async () => {
      postgres = await startPostgres();
    });
    afterAll(async () => {
      await postgres?.stop();
    });

    it('reads a version-2 database the same (its schema unchanged: both indexes still used)', async () => {
      const url = await postgres.createDatabase('upgrade_from_2');
      const pool = new pg.Pool({ connectionString: url });
      try {
        const client = await pool.connect();
        try {
          await migratePostgres(client, 2);
          const rows = v2Rows();
          await client.query(
            'INSERT INTO beamscope_keyframes (cluster_id, at, run, seq, body) VALUES ($1, $2, $3, $4, $5)',
            rows.keyframe,
          );
          for (const row of rows.deltas)
            await client.query(
              'INSERT INTO beamscope_deltas (cluster_id, at, run, seq, body) VALUES ($1, $2, $3, $4, $5)',
              row,
            );
          for (const { cluster, event: e } of rows.events) {
            const { rows: inserted } = await client.query<{ id: string }>(
              `INSERT INTO beamscope_events (cluster_id, run, seq, at, kind, body)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
              [cluster, RUN, e.seq, e.at, e.kind, encodeEventBody(e)],
            );
            for (const node of nodesNamedBy(e))
              await client.query(
                'INSERT INTO beamscope_event_nodes (cluster_id, node, event_id) VALUES ($1, $2, $3)',
                [cluster, node, inserted[0]!.id],
              );
            await client.query(
              `INSERT INTO beamscope_clusters (cluster_id, run, observed_until) VALUES ($1, $2, 3000)
               ON CONFLICT (cluster_id) DO NOTHING`,
              [cluster, RUN],
            );
          }
        } finally {
          client.release();
        }

        const store = new PostgresHistoryStore({ connectionString: url });
        await store.open();
        try {
          await readsTheSameHistory(store, true);
        } finally {
          await store.close();
        }

        const { rows: indexes } = await pool.query<{ indexname: string }>(
          "SELECT indexname FROM pg_indexes WHERE tablename = 'beamscope_event_nodes'",
        );
        expect(indexes.map((row) => row.indexname).sort()).toEqual([
          'beamscope_event_nodes_by_event',
          'beamscope_event_nodes_pkey',
        ]);
        const { rows: counted } = await pool.query<{ count: string }>(
          'SELECT count(*) AS count FROM beamscope_event_nodes',
        );
        expect(Number(counted[0]!.count)).toBe(expectedNodeRows(true));
      } finally {
        await endPool(pool);
      }
    });
  });
});
