import 'server-only';

/**
 * server/history owns the recorded past of each cluster: one store interface (`store.ts`), three
 * stores — in memory (`memory.ts`), embedded SQLite (`sqlite.ts`, its schema in
 * `sqlite-schema.ts`), PostgreSQL (`postgres.ts`, `postgres-schema.ts`, `postgres-compact.ts`) —
 * what they share (`cursor.ts` paging, `event-nodes.ts` the node filter, `downsample.ts` thinning
 * by age, `order.ts`, `sql-shared.ts`), and `openHistoryStore`, which picks one from the
 * configuration and supervises it (`supervised.ts`: status, retries, retention). What is kept
 * and for how long: docs/history.md.
 */
import type { BeamscopeConfig, Environment, HistoryConfig } from '../config';
import { parseDuration } from '../config';
import type { Logger } from '../log';
import { MemoryHistoryStore } from './memory';
import { PostgresHistoryStore } from './postgres';
import { SqliteHistoryStore, SQLITE_FILE_NAME } from './sqlite';
import type { HistoryStore } from './store';
import { SupervisedHistoryStore, type HistoryStatus } from './supervised';

export type { HistoryStore } from './store';
export { SupervisedHistoryStore, type HistoryStatus };

export interface OpenHistoryOptions {
  env?: Environment;
  log?: Logger;
  now?: () => number;
  random?: () => number;
  compactEveryMs?: number;
  /**
   * Only to read (the CLI beside a live server): the SQLite file is opened read-only (nothing
   * created, migrated or written, so a read-only mount serves), and no retention runs.
   */
  readOnly?: boolean;
}

/** No `history` section (a hand-built config): memory for an hour, as `loadConfig` resolves it. */
const DEFAULT_HISTORY: HistoryConfig = { store: 'memory', retentionMs: parseDuration('1h')! };

function storeFor(
  history: HistoryConfig,
  env: Environment,
  readOnly: boolean,
): { store: HistoryStore; description: string } {
  if (history.store === 'sqlite') {
    return {
      store: new SqliteHistoryStore({ directory: history.path, readOnly }),
      description: `SQLite at ${history.path}/${SQLITE_FILE_NAME}`,
    };
  }
  if (history.store === 'postgres') {
    const description = `PostgreSQL (the URL in ${history.urlEnv})`;
    // Read once: a missing variable makes every open fail with a reason that names it.
    const connectionString = env[history.urlEnv]?.trim() ?? '';
    return {
      store: new PostgresHistoryStore({ connectionString, urlEnv: history.urlEnv }),
      description,
    };
  }
  return { store: new MemoryHistoryStore(), description: 'memory (this process only)' };
}

/**
 * The history store the configuration names, opened (one attempt; when it fails, the returned
 * store's status says why and opening is retried in the background with backoff) and with
 * retention running. Never rejects: an unreachable database must not stop beamscope.
 */
export async function openHistoryStore(
  config: Pick<BeamscopeConfig, 'history'>,
  clusterIds: readonly string[],
  options: OpenHistoryOptions = {},
): Promise<SupervisedHistoryStore> {
  const history = config.history ?? DEFAULT_HISTORY;
  const readOnly = options.readOnly ?? false;
  const { store, description } = storeFor(history, options.env ?? process.env, readOnly);
  const supervised = new SupervisedHistoryStore(store, {
    description: `${description}, ${clusterIds.length === 1 ? 'cluster' : 'clusters'} ${clusterIds.join(', ')}`,
    retentionMs: history.retentionMs,
    ...(options.log ? { log: options.log } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.random ? { random: options.random } : {}),
    ...(options.compactEveryMs !== undefined ? { compactEveryMs: options.compactEveryMs } : {}),
    readOnly,
  });
  await supervised.open();
  return supervised;
}
