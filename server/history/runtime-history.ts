import 'server-only';

// The history side of the server's runtime: the one store of the process, opened from the
// configuration, and one recorder per cluster. A store that cannot be opened is a status on the
// page and a line in the log; live viewing goes on without it.

import { hostname } from 'node:os';

import type { HistoryStoreKind } from '@/lib/api';

import type { BeamscopeConfig } from '../config';
import { describeError } from '../errors';
import type { Logger } from '../log';
import { openHistoryStore } from './index';
import { HistoryRecorder, type RecordedCollector, type RecorderStatus } from './recorder';
import type { HistoryStore } from './store';

/** The process's store, or why there is none. */
export interface ProcessHistory {
  kind: HistoryStoreKind;
  store: HistoryStore | null;
  error: string | null;
  /** This replica, as the store's writer leases know it. */
  holder: string;
}

/** Opens the configured store; a failure is logged and kept as the status of every cluster. */
export async function openProcessHistory(
  config: BeamscopeConfig,
  log: Logger,
  open: (
    config: BeamscopeConfig,
    clusterIds: readonly string[],
    options: { log?: Logger },
  ) => Promise<HistoryStore> = openHistoryStore,
): Promise<ProcessHistory> {
  // The replica's name (its pod's, in Kubernetes): a process restarted in place takes its own
  // writer lease back at once instead of waiting out the lease of the run it replaces.
  const holder = hostname();
  try {
    const ids = config.clusters.map((cluster) => cluster.id);
    const store = await open(config, ids, { log });
    return { kind: store.kind, store, error: null, holder };
  } catch (error) {
    const reason = `history store: ${describeError(error)}`;
    log({ level: 'error', source: 'history', state: 'error', message: `history error: ${reason}` });
    return { kind: 'memory', store: null, error: reason, holder };
  }
}

/** One cluster's history: the process's store and the cluster's recorder. */
export class ClusterHistory {
  private readonly recorder: HistoryRecorder | null;

  constructor(
    private readonly process: ProcessHistory,
    collector: RecordedCollector,
    log: Logger,
  ) {
    this.recorder = process.store
      ? new HistoryRecorder({
          collector,
          store: process.store,
          holder: process.holder,
          log,
        }).start()
      : null;
  }

  get kind(): HistoryStoreKind {
    return this.process.kind;
  }

  /** The store, or null when it could not be opened. */
  get store(): HistoryStore | null {
    return this.process.store;
  }

  /** The store's own state first (a supervised store says when it is down), then the recorder's. */
  status(): RecorderStatus {
    if (this.process.error !== null) return { state: 'error', reason: this.process.error };
    const supervised = this.process.store as { status?: () => RecorderStatus } | null;
    const store = supervised?.status?.();
    if (store?.state === 'error') return store;
    return this.recorder?.status() ?? { state: 'ok' };
  }

  /** Stops recording, writing what was gathered. */
  async stop(): Promise<void> {
    await this.recorder?.stop();
  }
}
