// openHistoryStore: the store the configuration names, supervised. A database that is missing or
// down never stops beamscope: the status says why (logged once per change), calls reject with
// history_unavailable, and opening is retried until the database answers.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { BeamscopeError } from '../../../server/errors';
import { openHistoryStore, type SupervisedHistoryStore } from '../../../server/history';
import type { LogEntry } from '../../../server/log';
import { freePort } from '../../support/ports';
import { startPostgres, type PostgresServer } from '../../support/postgres';
import { batch, event, keyframe, meshState } from './fixtures';

const HOUR = 3_600_000;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function opened(store: SupervisedHistoryStore): SupervisedHistoryStore {
  cleanups.push(() => store.close());
  return store;
}

async function rejection(promise: Promise<unknown>): Promise<BeamscopeError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(BeamscopeError);
  return error as BeamscopeError;
}

describe('openHistoryStore', () => {
  it('keeps history in memory when the config names no store, and says so once', async () => {
    const log: LogEntry[] = [];
    const store = opened(await openHistoryStore({}, ['prod'], { log: (entry) => log.push(entry) }));
    expect(store.kind).toBe('memory');
    expect(store.status()).toEqual({ state: 'ok' });
    await store.append(batch('prod', 'run', { events: [event(1, 1_000)], observedUntil: 1_000 }));
    expect(await store.lastObservation('prod')).toEqual({ run: 'run', until: 1_000 });
    expect(log).toEqual([
      expect.objectContaining({ level: 'info', source: 'history', state: 'ok' }),
    ]);
    expect(log[0]!.message).toBe(
      'history ok: recording in memory (this process only), cluster prod',
    );
  });

  it('applies retention on its timer: SQLite drops what is older than the retention', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'beamscope-open-'));
    cleanups.push(() => rm(directory, { recursive: true, force: true }));
    let now = 10 * HOUR;
    const store = opened(
      await openHistoryStore(
        { history: { store: 'sqlite', path: directory, retentionMs: HOUR } },
        ['prod', 'staging'],
        { now: () => now },
      ),
    );
    expect(store.kind).toBe('sqlite');
    const old = meshState(2, 8 * HOUR);
    await store.append(
      batch('prod', 'run', {
        events: [event(1, 8 * HOUR), event(2, 9.5 * HOUR)],
        keyframes: [keyframe(old, 'run', 1)],
        observedUntil: 9.5 * HOUR,
      }),
    );
    await store.compactNow();
    const left = await store.timeline('prod', { limit: 10 });
    expect(left.events.map((recorded) => recorded.event.seq)).toEqual([2]);
    // The keyframe before the edge stays, so the edge itself can still be rebuilt.
    expect(await store.retained('prod')).toEqual({ from: 9 * HOUR, to: 9.5 * HOUR });
    now += HOUR;
    await store.compactNow();
    expect((await store.timeline('prod', { limit: 10 })).events).toEqual([]);
  });

  it('names the unset URL variable, and every call says the store is unavailable', async () => {
    const log: LogEntry[] = [];
    const store = opened(
      await openHistoryStore(
        { history: { store: 'postgres', urlEnv: 'HISTORY_URL_NOT_SET', retentionMs: HOUR } },
        ['prod'],
        { env: {}, log: (entry) => log.push(entry) },
      ),
    );
    expect(store.kind).toBe('postgres');
    expect(store.status()).toEqual({
      state: 'error',
      reason:
        'PostgreSQL history: the environment variable HISTORY_URL_NOT_SET (history.urlEnv) is not set or empty',
    });
    const failure = await rejection(store.timeline('prod', { limit: 10 }));
    expect(failure.code).toBe('history_unavailable');
    expect(failure.message).toContain('HISTORY_URL_NOT_SET');
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({
      level: 'error',
      source: 'history',
      code: 'history_unavailable',
    });
  });

  it('waits out a database that is down, then records once it answers; one log line per change', async () => {
    const port = await freePort();
    const url = `postgres://beamscope@127.0.0.1:${port}/postgres`;
    const log: LogEntry[] = [];
    const store = opened(
      await openHistoryStore(
        { history: { store: 'postgres', urlEnv: 'HISTORY_URL', retentionMs: HOUR } },
        ['prod'],
        { env: { HISTORY_URL: url }, log: (entry) => log.push(entry), random: () => 0 },
      ),
    );
    expect(store.status().state).toBe('error');
    expect((await rejection(store.stateAt('prod', 1))).code).toBe('history_unavailable');

    // The first status that is ok: a retry that reaches the database while it starts up gets
    // another reason ("the database system is starting up"), which is a change of its own.
    const ok = new Promise<void>((resolve) => {
      const onStatus = (status: { state: string }) => {
        if (status.state !== 'ok') return;
        store.off('status', onStatus);
        resolve();
      };
      store.on('status', onStatus);
    });
    let postgres: PostgresServer | undefined;
    cleanups.push(async () => postgres?.stop());
    postgres = await startPostgres({ port });
    await ok;
    expect(store.status()).toEqual({ state: 'ok' });
    await store.append(batch('prod', 'run', { events: [event(1, 1_000)], observedUntil: 1_000 }));
    expect(await store.lastObservation('prod')).toEqual({ run: 'run', until: 1_000 });
    // One line per change: errors while it was down (each reason once, in a row), then ok.
    const untilOk = log.map((entry) => entry.state);
    expect(untilOk.at(-1)).toBe('ok');
    expect(untilOk.slice(0, -1).every((state) => state === 'error')).toBe(true);
    const reasons = log.slice(0, -1).map((entry) => entry.message);
    expect(reasons.every((reason, index) => index === 0 || reason !== reasons[index - 1])).toBe(
      true,
    );
    expect(log[0]!.message).toMatch(
      /^history error \(history_unavailable\): PostgreSQL history: .*ECONNREFUSED/,
    );

    // The database goes away under a running store: calls fail, the status and the log say so.
    await postgres.stop();
    postgres = undefined;
    expect((await rejection(store.lastObservation('prod'))).code).toBe('history_unavailable');
    expect(store.status().state).toBe('error');
    expect(log.slice(untilOk.length).map((entry) => entry.state)).toEqual(['error']);
  });
});
