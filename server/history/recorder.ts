import 'server-only';

// The flight recorder of one cluster: everything its collector tells the live page (deltas,
// timeline events, each node's points) is gathered and written to the history store at most a
// second apart, with keyframes of the whole state between the deltas so that any moment within
// retention can be rebuilt. It listens beside the page's subscribers and never holds them up:
// writes are asynchronous, a slow or failing store queues up to a bound and says so.

import type { HistoryStatusResponse } from '@/lib/api';
import type {
  ClusterState,
  NodeHistoryPoint,
  TimelineEvent,
  TimelineEventDraft,
} from '@/lib/cluster-state';
import { jsonText, jsonTextInParts } from '@/lib/json-text';
import { compactState, compactStateInParts, type WireClusterDelta } from '@/lib/peer-wire';

import type { CollectorMessage, CollectorSnapshot } from '../collector/event-stream';
import { describeError } from '../errors';
import type { Logger } from '../log';
import type { HistoryBatch, HistoryStore, RecordedDelta, RecordedKeyframe } from './store';
import { WriteQueue, type DroppedSpan } from './write-queue';

/** What the recorder needs of a `Collector` (a seam: the property test and the bench drive their own). */
export interface RecordedCollector {
  readonly clusterId: string;
  readonly epoch: string;
  subscribe(listener: (message: CollectorMessage) => void): () => void;
  /** `'leave'`: without running a recompute that waits for its turn (see `Collector.snapshot`). */
  snapshot(pending?: 'compute' | 'leave'): CollectorSnapshot;
  onHistoryPoint(listener: (node: string, point: NodeHistoryPoint) => void): () => void;
  publishEvent(draft: TimelineEventDraft): void;
}

export type RecorderStatus = HistoryStatusResponse['status'];

/**
 * When a new keyframe is written. Rebuilding T reads the keyframe before it and the deltas
 * between, and its cost follows their weight (JSON length): expanding a 1,000-node keyframe
 * (~0.9 MB) takes ~40 ms, applying a delta ~1.3 ms for ~80 KB of probe churn, and far more for a
 * partition's (every member's peers change). A keyframe follows once the keyframe and the deltas
 * since it weigh `maxRebuildWeight` (a bound on a seek's work, whatever the cluster's size), or
 * once the deltas weigh `weightRatio` times the keyframe (the disk then holds about 1/ratio more
 * than the deltas alone), or after `maxDeltas`, or after `maxAgeMs` with changes (a bound on how
 * far back retention keeps an older keyframe). Measured (bench/history.ts): at 1,000 nodes the
 * weight bound takes a keyframe every few deltas, so a seek stays within ~300 ms; at 100 nodes
 * every ~100 deltas (a keyframe is ~5 KB compressed, a delta ~0.6 KB: a keyframe every 30
 * deltas, as a ratio of 4 gave, was a fifth of the bytes).
 */
export interface KeyframePolicy {
  maxRebuildWeight: number;
  weightRatio: number;
  maxDeltas: number;
  maxAgeMs: number;
}

export const DEFAULT_KEYFRAME_POLICY: KeyframePolicy = {
  maxRebuildWeight: 1_500_000,
  weightRatio: 30,
  maxDeltas: 2000,
  maxAgeMs: 30 * 60_000,
};

export interface HistoryRecorderOptions {
  collector: RecordedCollector;
  store: HistoryStore;
  /** This beamscope replica, as `claimWriter` knows it. */
  holder: string;
  log?: Logger;
  now?: () => number;
  /** A batch is sealed and written this often (default 1000 ms); 0: only when `flush()` is called. */
  flushIntervalMs?: number;
  keyframes?: Partial<KeyframePolicy>;
  /** Rows queued for a store that does not keep up before the oldest are dropped; default 200,000. */
  maxQueuedRows?: number;
  /** The writer lease, renewed at each flush; default 15 s. */
  leaseMs?: number;
}

const pad = (value: number) => String(value).padStart(2, '0');
const clock = (at: number) => {
  const date = new Date(at);
  return `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
};

/** The event told when nothing was recorded from `from` to `to`. */
export function observationGap(from: number, to: number, why: string): TimelineEventDraft {
  const day = new Date(from).toISOString().slice(0, 10);
  return {
    kind: 'observation_gap',
    severity: 'warning',
    message: `beamscope was not observing ${day} ${clock(from)}–${clock(to)} UTC (${Math.round((to - from) / 1000)} s): ${why}`,
    gap: { from, to },
  };
}

/** A keyframe's moment, before it is packed. */
interface TakenKeyframe {
  at: number;
  run: string;
  seq: number;
  state: ClusterState;
}

/** Lets the event loop run what waits (I/O first) before the rest of a long piece of work. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Records one cluster's collector into the history store. */
export class HistoryRecorder {
  readonly clusterId: string;
  private readonly collector: RecordedCollector;
  private readonly store: HistoryStore;
  private readonly options: HistoryRecorderOptions;
  private readonly now: () => number;
  private readonly policy: KeyframePolicy;
  private readonly queue: WriteQueue;
  private readonly unsubscribe: Array<() => void> = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private ready: Promise<void> = Promise.resolve();
  private draining: Promise<void> | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private statusNow: RecorderStatus = { state: 'ok' };

  private events: TimelineEvent[] = [];
  private deltas: RecordedDelta[] = [];
  private keyframes: RecordedKeyframe[] = [];
  private points: Array<{ node: string; point: NodeHistoryPoint }> = [];
  /** Where the rows being gathered start: the end of the last sealed batch. */
  private sealedUntil = 0;

  private needKeyframe = true;
  private keyframeAt = 0;
  private keyframeWeight = 0;
  private deltaWeight = 0;
  private deltaCount = 0;
  /** Deltas told since the last weighing (see `onMessage`); a keyframe taken meanwhile holds them. */
  private unweighed: WireClusterDelta[] = [];
  private weighing: ReturnType<typeof setImmediate> | undefined;
  /** The start of a span whose rows were dropped, told as a gap with the next keyframe. */
  private lostFrom: number | null = null;
  /** Rows were dropped since the store last answered (part of the status). */
  private dropping = false;
  private writer = true;

  constructor(options: HistoryRecorderOptions) {
    this.options = options;
    this.collector = options.collector;
    this.clusterId = options.collector.clusterId;
    this.store = options.store;
    this.now = options.now ?? Date.now;
    this.policy = { ...DEFAULT_KEYFRAME_POLICY, ...options.keyframes };
    const maxRows = options.maxQueuedRows ?? 200_000;
    this.queue = new WriteQueue({ maxRows, maxBatchRows: Math.max(1000, maxRows / 20) });
  }

  /** The recorder's state as the page and `GET …/history` show it. */
  status(): RecorderStatus {
    return this.statusNow;
  }

  /**
   * Starts listening, with a keyframe of the state as it is now. If the store's last observation
   * of the cluster ends before now, the unobserved span is told first, on the live stream too.
   */
  start(): this {
    const startedAt = this.now();
    this.sealedUntil = startedAt;
    // Subscribe and take the keyframe in one turn: nothing falls between them.
    this.unsubscribe.push(this.collector.subscribe(this.onMessage));
    this.unsubscribe.push(
      this.collector.onHistoryPoint((node, point) => this.points.push({ node, point })),
    );
    this.takeKeyframe();
    this.ready = this.tellRestartGap(startedAt);
    const every = this.options.flushIntervalMs ?? 1000;
    if (every > 0) {
      this.timer = setInterval(() => void this.flush(), every);
      this.timer.unref?.();
    }
    return this;
  }

  /**
   * Stops listening and writes what is gathered (a clean stop loses nothing) — waiting at most
   * `stopTimeoutMs` for a store that does not answer, so a hung database never holds up a stop.
   */
  async stop(stopTimeoutMs = 5000): Promise<void> {
    clearInterval(this.timer);
    for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const gaveUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, stopTimeoutMs);
    });
    try {
      await Promise.race([this.flush(), gaveUp]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Seals what was gathered into a batch and writes the queue; resolves when it is written or failed. */
  flush(): Promise<void> {
    // One at a time: a keyframe taken in parts belongs to the batch its flush seals.
    const flushed = this.flushing.then(() => this.flushOnce());
    this.flushing = flushed.catch(() => undefined);
    return flushed;
  }

  private async flushOnce(): Promise<void> {
    await this.ready;
    if (this.keyframeDue()) {
      // In parts, the event loop free between them: at 1,000 nodes a keyframe packed and weighed
      // in one go held the loop (and every change on its way to the page) 130–170 ms.
      const taken = this.snapshotForKeyframe();
      await nextTurn();
      // Packed, then its text (the store's body and the keyframe's weight), a hundred members
      // at a time.
      const compact = await compactStateInParts(taken.state, nextTurn);
      await nextTurn();
      await jsonTextInParts(compact, 'members', nextTurn);
      this.keepKeyframe(taken, compact);
    }
    this.seal();
    await this.drain();
  }

  private async tellRestartGap(startedAt: number): Promise<void> {
    try {
      const last = await this.store.lastObservation(this.clusterId);
      if (last && last.until < startedAt)
        this.collector.publishEvent(
          observationGap(last.until, startedAt, 'beamscope was not running'),
        );
    } catch (error) {
      this.setStatus({ state: 'error', reason: `history store: ${describeError(error)}` });
    }
  }

  private readonly onMessage = (message: CollectorMessage): void => {
    if (message.type === 'timeline') {
      this.events.push(message.event);
      return;
    }
    // A collector always sends the compact form; a whole delta is a valid one too.
    const delta = message.compact ?? (message.delta as unknown as WireClusterDelta);
    this.deltas.push({ at: this.now(), run: this.collector.epoch, seq: message.seq, delta });
    this.deltaCount += 1;
    // The delta's weight (its JSON's length: ~0.1 ms at 100 nodes, milliseconds at 1,000) is
    // reckoned in a later turn of the loop, or by the flush if that comes first. Reckoned in a
    // microtask, it ran before the live page's bytes of this very delta were written (they pass
    // through a web stream's promises), and a pod's change waited on it on its way to the page.
    this.unweighed.push(delta);
    this.weighing ??= setImmediate(() => this.weighDeltas());
  };

  /** Adds the deltas told since the last weighing to the weight that decides the next keyframe. */
  private weighDeltas(): void {
    clearImmediate(this.weighing);
    this.weighing = undefined;
    if (this.unweighed.length === 0) return;
    for (const delta of this.unweighed) this.deltaWeight += JSON.stringify(delta).length;
    this.unweighed = [];
    // The rebuild bound counts once the deltas weigh half the keyframe: a keyframe heavier than
    // the bound itself (1,000 nodes, each with its links) would otherwise be taken again at
    // every flush — measured, a sixth of the server's time at 1,000 nodes — for a seek that
    // reads that keyframe anyway; the seek's work stays within 1.5 times the keyframe's.
    const rebuildBound = Math.max(
      this.policy.maxRebuildWeight - this.keyframeWeight,
      this.keyframeWeight / 2,
    );
    if (
      this.deltaWeight >= rebuildBound ||
      this.deltaWeight >= this.keyframeWeight * this.policy.weightRatio ||
      this.deltaCount >= this.policy.maxDeltas
    )
      this.needKeyframe = true;
  }

  private takeKeyframe(): void {
    const taken = this.snapshotForKeyframe();
    this.keepKeyframe(taken, compactState(taken.state));
  }

  private keyframeDue(): boolean {
    this.weighDeltas();
    if (this.deltaCount > 0 && this.now() - this.keyframeAt >= this.policy.maxAgeMs)
      this.needKeyframe = true;
    return this.needKeyframe;
  }

  /**
   * The keyframe's moment: the state (immutable) and its sequence number. The deltas from here on
   * weigh against this keyframe, packed later in the same flush.
   */
  private snapshotForKeyframe(): TakenKeyframe {
    // As of the last message: a recompute still waiting tells its delta after this seq, which a
    // rebuild applies on this keyframe (run here, it would make this task the longer by its cost).
    const { seq, state } = this.collector.snapshot('leave');
    const at = this.now();
    this.keyframeAt = at;
    // The state holds every delta told so far: those not yet weighed weigh nothing now.
    this.unweighed = [];
    this.deltaWeight = 0;
    this.deltaCount = 0;
    this.needKeyframe = false;
    return { at, run: this.collector.epoch, seq, state };
  }

  private keepKeyframe(taken: TakenKeyframe, compact: RecordedKeyframe['state']): void {
    const { at, run, seq } = taken;
    this.keyframes.push({ at, run, seq, state: compact });
    // The store serialises the same state for its body: made once (`jsonText`).
    this.keyframeWeight = jsonText(compact).length;
    if (this.lostFrom !== null) {
      const from = this.lostFrom;
      this.lostFrom = null;
      this.collector.publishEvent(
        observationGap(
          from,
          at,
          'the history store did not keep up and the oldest rows were dropped',
        ),
      );
    }
  }

  /** Moves what was gathered into the write queue as one batch (a heartbeat if nothing changed). */
  private seal(): void {
    const now = this.now();
    // A keyframe is taken at the start of a flush (`flushOnce`), so one that must start a chain
    // again (rows dropped, a takeover) is in the next batch; one that came due while this flush
    // packed its keyframe waits for the next flush too.
    const batch: HistoryBatch = {
      clusterId: this.clusterId,
      run: this.collector.epoch,
      events: this.events,
      deltas: this.deltas,
      keyframes: this.keyframes,
      points: this.points,
      observedUntil: now,
    };
    this.events = [];
    this.deltas = [];
    this.keyframes = [];
    this.points = [];
    const since = this.sealedUntil;
    this.sealedUntil = now;
    this.lost(this.queue.push(batch, since));
  }

  private lost(dropped: DroppedSpan | null): void {
    if (!dropped) return;
    this.lostFrom = Math.min(this.lostFrom ?? Infinity, dropped.from);
    this.dropping = true;
    // The deltas still being gathered follow the dropped ones: without a base they go too.
    if (!this.queue.hasKeyframe()) {
      this.deltas = [];
      this.needKeyframe = true;
    }
    // A store that hangs fails nothing, yet loses rows all the same: say so.
    if (this.statusNow.state === 'ok')
      this.setStatus({
        state: 'error',
        reason: 'history store does not keep up: the queue is full and its oldest rows are dropped',
      });
  }

  private drain(): Promise<void> {
    this.draining ??= this.drainQueue().finally(() => {
      this.draining = null;
    });
    return this.draining;
  }

  private async drainQueue(): Promise<void> {
    for (let batch = this.queue.take(); batch; batch = this.queue.take()) {
      try {
        const leaseMs = this.options.leaseMs ?? 15_000;
        const writer = await this.store.claimWriter(
          this.clusterId,
          this.options.holder,
          leaseMs,
          this.now(),
        );
        if (!writer) {
          // Another replica records this cluster; when this one takes over it starts afresh.
          this.queue.clear();
          this.writer = false;
          this.needKeyframe = true;
          return;
        }
        if (!this.writer) {
          this.writer = true;
          if (batch.keyframes.length === 0) {
            // Taken over with no base for these deltas: start the chain again.
            this.queue.clear();
            this.needKeyframe = true;
            return;
          }
        }
        await this.store.append(batch);
        this.queue.done();
        this.dropping = false;
        this.setStatus({ state: 'ok' });
      } catch (error) {
        this.lost(this.queue.failed());
        // The reason stays the same while the failure does: the log tells each change once.
        const dropping = this.dropping ? '; the queue is full and its oldest rows are dropped' : '';
        this.setStatus({
          state: 'error',
          reason: `history store: ${describeError(error)}${dropping}`,
        });
        return;
      }
    }
  }

  private setStatus(status: RecorderStatus): void {
    const before = this.statusNow;
    this.statusNow = status;
    const same =
      before.state === status.state &&
      (status.state === 'ok' || (before.state === 'error' && before.reason === status.reason));
    if (same) return;
    this.options.log?.({
      level: status.state === 'ok' ? 'info' : 'error',
      cluster: this.clusterId,
      source: 'history',
      state: status.state,
      message: status.state === 'ok' ? 'history recording ok' : `history error: ${status.reason}`,
    });
  }
}
