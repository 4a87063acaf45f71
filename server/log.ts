import 'server-only';

import type { DistributionStatus } from '@/lib/cluster-state';
import type { KubernetesSourceStatus } from '@/lib/members';

import { BeamscopeError } from './errors';

/** What the log needs of a KubernetesSource: its state and each change of it. */
export interface StatusEmitter {
  status(): KubernetesSourceStatus;
  on(event: 'status', listener: (status: KubernetesSourceStatus) => void): unknown;
  off(event: 'status', listener: (status: KubernetesSourceStatus) => void): unknown;
}

/** How the server writes its log: `beamscope: …` lines, or one JSON object per line. */
export type LogFormat = 'text' | 'json';

/** One log entry: what happened to which source of which cluster. */
export interface LogEntry {
  level: 'info' | 'warn' | 'error';
  message: string;
  cluster?: string;
  /** The side of the cluster the entry is about. */
  source?: 'kubernetes' | 'distribution' | 'history';
  state?: string;
  code?: string;
}

export type Logger = (entry: LogEntry) => void;

/** The format `BEAMSCOPE_LOG_FORMAT` asks for (default text); anything else is a config error. */
export function logFormat(env: Record<string, string | undefined> = process.env): LogFormat {
  const value = env.BEAMSCOPE_LOG_FORMAT;
  if (value === undefined || value === '' || value === 'text') return 'text';
  if (value === 'json') return 'json';
  throw new BeamscopeError(
    'config',
    'config_invalid',
    `environment variable BEAMSCOPE_LOG_FORMAT: expected text or json, got ${JSON.stringify(value)}`,
  );
}

/** One line for `entry`: `beamscope: cluster C: MESSAGE`, or a JSON object with a time. */
export function formatEntry(entry: LogEntry, format: LogFormat, now = new Date()): string {
  if (format === 'json') return JSON.stringify({ time: now.toISOString(), ...entry });
  return `beamscope: ${entry.cluster !== undefined ? `cluster ${entry.cluster}: ` : ''}${entry.message}`;
}

/** A logger writing one line per entry to stderr (what `kubectl logs` shows). */
export function createLogger(
  format: LogFormat,
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Logger {
  return (entry) => write(formatEntry(entry, format));
}

function kubernetesEntry(cluster: string, status: KubernetesSourceStatus): LogEntry {
  if (status.state === 'error') {
    return {
      level: 'error',
      cluster,
      source: 'kubernetes',
      state: status.state,
      code: status.code,
      message: `kubernetes error (${status.code}): ${status.reason}`,
    };
  }
  return {
    level: 'info',
    cluster,
    source: 'kubernetes',
    state: status.state,
    message: status.state === 'ok' ? 'kubernetes ok: listing and watching' : 'kubernetes syncing',
  };
}

/**
 * Logs each change of a cluster's sources: the distribution side's state once at start (it is
 * settled then: the cookie was read or not), and one line per change of the Kubernetes link's
 * state or reason — the source emits only changes, so retries of a failure that stays the same
 * write nothing. The messages are the dashboard's own, which never carry the cookie or a token.
 */
export function logSourceStates(
  cluster: string,
  sources: {
    /** The distribution side's state, settled when the collector starts. */
    distribution: DistributionStatus;
    kubernetes: StatusEmitter;
  },
  log: Logger,
): () => void {
  const { distribution, kubernetes } = sources;
  if (distribution.state === 'error') {
    log({
      level: 'error',
      cluster,
      source: 'distribution',
      state: 'error',
      code: distribution.code,
      message: `distribution error (${distribution.code}): ${distribution.reason}`,
    });
  }
  const onStatus = (status: KubernetesSourceStatus) => log(kubernetesEntry(cluster, status));
  const current = kubernetes.status();
  if (current.state !== 'syncing') onStatus(current);
  kubernetes.on('status', onStatus);
  return () => kubernetes.off('status', onStatus);
}
