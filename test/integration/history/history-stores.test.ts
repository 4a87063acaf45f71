// The shared history-store suite against each store: in memory, SQLite in a temporary folder,
// and a real PostgreSQL started from Debian's package (a fresh database per test).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll } from 'vitest';

import { MemoryHistoryStore } from '../../../server/history/memory';
import { PostgresHistoryStore } from '../../../server/history/postgres';
import { SqliteHistoryStore } from '../../../server/history/sqlite';
import { startPostgres, type PostgresServer } from '../../support/postgres';
import { historyStoreSuite } from './store-suite';

historyStoreSuite('memory', async () => {
  const store = new MemoryHistoryStore();
  await store.open();
  // One process, one store: a second "open" is the same memory.
  return { open: async () => store, dispose: async () => {} };
});

historyStoreSuite('sqlite', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'beamscope-history-'));
  return {
    async open() {
      const store = new SqliteHistoryStore({ directory });
      await store.open();
      return store;
    },
    dispose: () => rm(directory, { recursive: true, force: true }),
  };
});

let postgres: PostgresServer;
let databases = 0;
beforeAll(async () => {
  postgres = await startPostgres();
});
afterAll(async () => {
  await postgres?.stop();
});

historyStoreSuite('postgres', async () => {
  const url = await postgres.createDatabase(`suite_${++databases}`);
  const opened: PostgresHistoryStore[] = [];
  return {
    async open() {
      const store = new PostgresHistoryStore({ connectionString: url });
      await store.open();
      opened.push(store);
      return store;
    },
    async dispose() {
      await Promise.all(opened.map((store) => store.close()));
    },
  };
});
