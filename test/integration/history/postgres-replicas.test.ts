// Several beamscope replicas on one PostgreSQL: they migrate once when they start together, and
// when they all record the same cluster each event is written once — by whichever holds the
// cluster's lease — even when a replica that stalled past its lease tries to write late.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { BeamscopeError } from '../../../server/errors';
import { PostgresHistoryStore } from '../../../server/history/postgres';
import { MIGRATIONS } from '../../../server/history/postgres-schema';
import { freePort } from '../../support/ports';
import { startPostgres, type PostgresServer } from '../../support/postgres';
import { batch, event } from './fixtures';

const CLUSTER = 'prod';
const TTL_MS = 3_000;

let postgres: PostgresServer;
beforeAll(async () => {
  postgres = await startPostgres();
});
afterAll(async () => {
  await postgres?.stop();
});

async function replicas(url: string, count: number): Promise<PostgresHistoryStore[]> {
  const stores = Array.from(
    { length: count },
    () => new PostgresHistoryStore({ connectionString: url }),
  );
  // Started together: the advisory lock lets one migrate while the others wait.
  await Promise.all(stores.map((store) => store.open()));
  return stores;
}

describe('PostgreSQL history with several replicas', () => {
  it('migrates once when replicas start together, and again is a no-op', async () => {
    const url = await postgres.createDatabase('migrate_together');
    const stores = await replicas(url, 4);
    const later = await replicas(url, 1);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: number }>(
        'SELECT version FROM beamscope_schema_migrations ORDER BY version',
      );
      expect(rows.map((row) => row.version)).toEqual(MIGRATIONS.map((m) => m.version));
    } finally {
      await client.end();
      await Promise.all([...stores, ...later].map((store) => store.close()));
    }
  });

  it('writes each event once when two replicas record the same cluster', async () => {
    const url = await postgres.createDatabase('two_replicas');
    const [a, b] = await replicas(url, 2);
    try {
      // The truth both replicas observe: one event per tick. Each tick, both try to claim the
      // cluster and only the lease holder appends; at tick 10 replica A stops renewing (it
      // stalled), so B takes over once A's lease has expired, and A's late batch is refused.
      const written: number[] = [];
      const refused: number[] = [];
      let now = 100_000;
      // A starts first and holds the lease; from then on both claim at the same moment each tick.
      expect(await a!.claimWriter(CLUSTER, 'replica-a', TTL_MS, now)).toBe(true);
      for (let tick = 1; tick <= 20; tick++) {
        now += 1_000;
        const truth = event(tick, now);
        const aAlive = tick < 10;
        const [aClaims, bClaims] = await Promise.all([
          aAlive ? a!.claimWriter(CLUSTER, 'replica-a', TTL_MS, now) : Promise.resolve(false),
          b!.claimWriter(CLUSTER, 'replica-b', TTL_MS, now),
        ]);
        expect(aClaims && bClaims).toBe(false);
        const writer = aClaims ? a! : bClaims ? b! : null;
        if (writer) {
          await writer.append(
            batch(CLUSTER, aClaims ? 'run-a' : 'run-b', { events: [truth], observedUntil: now }),
          );
          written.push(tick);
        }
        if (tick === 15) {
          // A wakes up and flushes what it held, without claiming again: fenced by the lease row.
          const late = await a!
            .append(batch(CLUSTER, 'run-a', { events: [event(tick, now)], observedUntil: now }))
            .catch((error: unknown) => error);
          expect(late).toBeInstanceOf(BeamscopeError);
          expect((late as BeamscopeError).code).toBe('history_not_writer');
          refused.push(tick);
        }
        if (tick === 16) {
          // A claims again and loses: a batch it writes anyway is refused the same way.
          expect(await a!.claimWriter(CLUSTER, 'replica-a', TTL_MS, now)).toBe(false);
          const ignored = await a!
            .append(batch(CLUSTER, 'run-a', { events: [event(tick, now)], observedUntil: now }))
            .catch((error: unknown) => error);
          expect((ignored as BeamscopeError).code).toBe('history_not_writer');
          refused.push(tick);
        }
      }
      const page = await b!.timeline(CLUSTER, { limit: 100, order: 'oldest' });
      const ticks = page.events.map((recorded) => recorded.event.seq);
      expect(ticks).toEqual(written);
      expect(new Set(ticks).size).toBe(ticks.length);
      // A held ticks 1..9; its lease (renewed at 9) ran to 9 + 3 s, so B recorded from tick 12.
      expect(written).toEqual([...range(1, 9), ...range(12, 20)]);
      expect(refused).toEqual([15, 16]);
      const runs = new Set(page.events.map((recorded) => recorded.run));
      expect(runs).toEqual(new Set(['run-a', 'run-b']));
    } finally {
      await Promise.all([a!.close(), b!.close()]);
    }
  });

  it('serialises concurrent appends to a cluster so ids follow commit order', async () => {
    const url = await postgres.createDatabase('concurrent_appends');
    const [a, b] = await replicas(url, 2);
    try {
      const appends = Array.from({ length: 20 }, (_, index) =>
        (index % 2 ? a! : b!).append(
          batch(CLUSTER, 'run', { events: [event(index, index), event(index, index)] }),
        ),
      );
      await Promise.all(appends);
      const page = await a!.timeline(CLUSTER, { limit: 100, order: 'oldest' });
      // Each batch's two events are adjacent: no batch interleaved with another.
      const seqs = page.events.map((recorded) => recorded.event.seq);
      for (let index = 0; index < seqs.length; index += 2)
        expect(seqs[index]).toBe(seqs[index + 1]);
      expect(new Set(seqs).size).toBe(20);
    } finally {
      await Promise.all([a!.close(), b!.close()]);
    }
  });

  it('rejects open with history_unavailable when the database is missing or nothing listens', async () => {
    const missing = new PostgresHistoryStore({
      connectionString: `postgres://beamscope@127.0.0.1:${postgres.port}/no_such_database`,
    });
    const failure = await missing.open().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BeamscopeError);
    expect((failure as BeamscopeError).code).toBe('history_unavailable');
    expect((failure as Error).message).toMatch(/no_such_database/);

    const silent = new PostgresHistoryStore({
      connectionString: `postgres://beamscope@127.0.0.1:${await freePort()}/beamscope`,
    });
    const refused = await silent.open().catch((error: unknown) => error);
    expect((refused as BeamscopeError).code).toBe('history_unavailable');
    expect((refused as Error).message).toMatch(/ECONNREFUSED/);
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}
