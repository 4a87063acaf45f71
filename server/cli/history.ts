import 'server-only';

// The command line's way into the recorded history: no server runs, so the command opens the
// configured store itself, read-only (the SQLite file or the PostgreSQL database the servers
// write), and reads what the server recorded.

import { loadConfig, type BeamscopeConfig, type ClusterConfig } from '../config';
import { openHistoryStore } from '../history';
import type { HistoryStore } from '../history/store';
import { parseMoment } from '../http/history-params';
import { pickCluster } from './clusters';
import { UsageError } from './command';

/** Opens the configured store for reading: a seam, so tests can hand in the store they filled. */
export type HistoryOpener = (config: BeamscopeConfig, clusterId: string) => Promise<HistoryStore>;

/**
 * The configured store, opened for the one cluster asked about; the command only reads it (an
 * SQLite file read-only: beside a live server, or on a read-only mount).
 */
export const openReadOnly: HistoryOpener = (config, clusterId) =>
  openHistoryStore(config, [clusterId], { readOnly: true });

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A moment given on the command line: milliseconds since the epoch, ISO 8601 with a zone, or a
 * duration back from now (`90s`, `15m`, `2h`, `7d`).
 */
export function cliMoment(name: string, text: string, now = Date.now()): number {
  const relative = /^(\d{1,6})([smhd])$/.exec(text);
  if (relative) return now - Number(relative[1]) * UNITS[relative[2]!]!;
  const at = parseMoment(text);
  if (at === null)
    throw new UsageError(
      `--${name} takes a moment (2026-03-01T03:12:05Z, or milliseconds since the epoch) or a time back from now (90s, 15m, 2h, 7d), not '${text}'`,
    );
  return at;
}

/** The configured cluster's history, open for reading; `close` when done. */
export async function openClusterHistory(
  values: { config?: string; cluster?: string },
  open: HistoryOpener,
): Promise<{ cluster: ClusterConfig; store: HistoryStore }> {
  const config = await loadConfig(values.config);
  const cluster = pickCluster(config, values.cluster);
  return { cluster, store: await open(config, cluster.id) };
}
