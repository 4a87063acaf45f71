import 'server-only';

/**
 * server/history keeps each cluster's past across restarts: the store behind one interface
 * (`store.ts`), the recorder that feeds it from a collector (`recorder.ts`), and the pure rebuild
 * of the state at a moment (`rebuild.ts`). The process opens one store from the configuration.
 */

import type { BeamscopeConfig } from '../config';
import type { Logger } from '../log';
import { MemoryHistoryStore } from './memory';
import type { HistoryStore } from './store';

export { HistoryRecorder, type RecorderStatus } from './recorder';
export { rebuildStateAt } from './rebuild';
export type { HistoryStore } from './store';

export interface OpenHistoryOptions {
  log?: Logger;
}

/**
 * The process's history store, opened, for `clusterIds`. Until the configured stores land
 * (SQLite, PostgreSQL: same name and signature), every configuration gets the in-memory one:
 * history lives as long as the process.
 */
export async function openHistoryStore(
  _config: Pick<BeamscopeConfig, 'clusters'>,
  _clusterIds: readonly string[],
  _options: OpenHistoryOptions = {},
): Promise<HistoryStore> {
  const store = new MemoryHistoryStore();
  await store.open();
  return store;
}
