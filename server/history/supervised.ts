import 'server-only';

// The store as the rest of beamscope holds it: opened in the background with retries, its
// state (ok, or an error and why) for the page and the log, and retention applied on a timer.
// A store that cannot be opened or fails a call never stops live viewing: its calls reject
// with `history_unavailable`, the status says why, and opening is retried with backoff.

import { EventEmitter } from 'node:events';

import type { HistoryStatusResponse } from '@/lib/api';
import { backoffDelay, type BackoffPolicy } from '@/lib/backoff';

import { BeamscopeError, describeError } from '../errors';
import type { Logger } from '../log';
import type {
  HistoryBatch,
  HistoryStore,
  HistoryStoreKind,
  LastObservation,
  RecordedDelta,
  RecordedKeyframe,
  RetainedRange,
  TimelinePage,
  TimelineQuery,
} from './store';
import type { NodeHistoryPoint } from '@/lib/cluster-state';

export type HistoryStatus = HistoryStatusResponse['status'];

const REOPEN_BACKOFF: BackoffPolicy = { initialMs: 1_000, maxMs: 60_000, jitter: 'equal' };
/** How often retention runs: often enough that each run deletes little. */
export const COMPACT_EVERY_MS = 60_000;

/** Errors that are the caller's or the lease's business, not a sign the store is down. */
const CALLER_CODES = new Set(['bad_cursor', 'history_not_writer']);

export interface SupervisedOptions {
  /** Where the store is, for the log: `SQLite at /var/lib/beamscope/…`. */
  description: string;
  retentionMs: number;
  log?: Logger;
  now?: () => number;
  random?: () => number;
  /** How often retention runs (tests shorten it). */
  compactEveryMs?: number;
  /** The store is only read (the CLI): retention is the recording server's business. */
  readOnly?: boolean;
}

export class SupervisedHistoryStore extends EventEmitter implements HistoryStore {
  readonly kind: HistoryStoreKind;
  private opened = false;
  private closed = false;
  private current: HistoryStatus = { state: 'error', reason: 'opening the store' };
  private attempt = 0;
  private reopenTimer: NodeJS.Timeout | null = null;
  private compactTimer: NodeJS.Timeout | null = null;
  private compacting = false;

  constructor(
    private readonly inner: HistoryStore,
    private readonly options: SupervisedOptions,
  ) {
    super();
    this.kind = inner.kind;
  }

  status(): HistoryStatus {
    return this.current;
  }

  /** Whether the store is open and its last call succeeded. */
  get ok(): boolean {
    return this.current.state === 'ok';
  }

  private setStatus(next: HistoryStatus): void {
    const same =
      next.state === this.current.state &&
      (next.state === 'ok' || next.reason === (this.current as { reason?: string }).reason);
    this.current = next;
    if (same) return;
    this.options.log?.(
      next.state === 'ok'
        ? {
            level: 'info',
            source: 'history',
            state: 'ok',
            message: `history ok: recording in ${this.options.description}`,
          }
        : {
            level: 'error',
            source: 'history',
            state: 'error',
            code: 'history_unavailable',
            message: `history error (history_unavailable): ${next.reason}; live viewing goes on`,
          },
    );
    this.emit('status', next);
  }

  /** Opens now; on failure the status says why and opening is retried with backoff. */
  async open(): Promise<void> {
    if (this.opened || this.closed) return;
    try {
      await this.inner.open();
      if (this.closed) {
        await this.inner.close();
        return;
      }
      this.opened = true;
      this.attempt = 0;
      this.setStatus({ state: 'ok' });
      this.startCompacting();
    } catch (error) {
      this.setStatus({ state: 'error', reason: describeError(error) });
      const delay = backoffDelay(
        this.attempt++,
        REOPEN_BACKOFF,
        (this.options.random ?? Math.random)(),
      );
      this.reopenTimer = setTimeout(() => {
        this.reopenTimer = null;
        void this.open();
      }, delay);
      this.reopenTimer.unref();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    if (this.compactTimer) clearInterval(this.compactTimer);
    this.reopenTimer = this.compactTimer = null;
    if (this.opened) await this.inner.close();
    this.opened = false;
  }

  private startCompacting(): void {
    if (this.options.readOnly) return;
    const every = this.options.compactEveryMs ?? COMPACT_EVERY_MS;
    this.compactTimer = setInterval(() => void this.compactNow(), every);
    this.compactTimer.unref();
  }

  /** One retention run: what is older than the retention goes, node series thin with age. */
  async compactNow(): Promise<void> {
    if (this.compacting || !this.opened) return;
    this.compacting = true;
    try {
      const now = (this.options.now ?? Date.now)();
      await this.compact(now - this.options.retentionMs, now);
    } catch {
      // The status says it; the next run tries again.
    } finally {
      this.compacting = false;
    }
  }

  /** Runs a call on the open store, keeping the status true to how the last call went. */
  private async call<T>(work: (store: HistoryStore) => Promise<T>): Promise<T> {
    if (!this.opened) {
      throw new BeamscopeError(
        'history',
        'history_unavailable',
        this.current.state === 'error' ? this.current.reason : 'the history store is closed',
      );
    }
    try {
      const result = await work(this.inner);
      this.setStatus({ state: 'ok' });
      return result;
    } catch (error) {
      if (error instanceof BeamscopeError && CALLER_CODES.has(error.code)) throw error;
      const reason = describeError(error);
      this.setStatus({ state: 'error', reason });
      if (error instanceof BeamscopeError && error.code === 'history_unavailable') throw error;
      throw new BeamscopeError('history', 'history_unavailable', reason, { cause: error });
    }
  }

  append(batch: HistoryBatch): Promise<void> {
    return this.call((store) => store.append(batch));
  }
  claimWriter(clusterId: string, holder: string, ttlMs: number, now: number): Promise<boolean> {
    return this.call((store) => store.claimWriter(clusterId, holder, ttlMs, now));
  }
  retained(clusterId: string): Promise<RetainedRange | null> {
    return this.call((store) => store.retained(clusterId));
  }
  lastObservation(clusterId: string): Promise<LastObservation | null> {
    return this.call((store) => store.lastObservation(clusterId));
  }
  stateAt(
    clusterId: string,
    at: number,
  ): Promise<{ keyframe: RecordedKeyframe; deltas: RecordedDelta[] } | null> {
    return this.call((store) => store.stateAt(clusterId, at));
  }
  timeline(clusterId: string, query: TimelineQuery): Promise<TimelinePage> {
    return this.call((store) => store.timeline(clusterId, query));
  }
  nodeSeries(
    clusterId: string,
    node: string,
    from: number,
    to: number,
  ): Promise<NodeHistoryPoint[]> {
    return this.call((store) => store.nodeSeries(clusterId, node, from, to));
  }
  compact(before: number, now: number): Promise<void> {
    return this.call((store) => store.compact(before, now));
  }
}
