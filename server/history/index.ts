import 'server-only';

/**
 * server/history keeps each cluster's past across restarts: the store behind one interface
 * (`store.ts`), the recorder that feeds it from a collector (`recorder.ts`), and the pure rebuild
 * of the state at a moment (`rebuild.ts`). The process opens one store from the configuration.
 */

import type { BeamscopeConfig } from '../config';
import { MemoryHistoryStore } from './memory';
import type { HistoryStore } from './store';

export { HistoryRecorder, type RecorderStatus } from './recorder';
export { rebuildStateAt } from './rebuild';
export type { HistoryStore } from './store';

/** How a store is opened: the command line only reads what the servers recorded. */
export interface OpenHistoryOptions {
  readOnly?: boolean;
}

/**
 * The process's history store, opened. Until the configured stores land (SQLite, PostgreSQL),
 * every configuration gets the in-memory one: history lives as long as the process.
 */
export async function openHistoryStore(
  _config: BeamscopeConfig,
  _options: OpenHistoryOptions = {},
): Promise<HistoryStore> {
  const store = new MemoryHistoryStore();
  await store.open();
  return store;
}
