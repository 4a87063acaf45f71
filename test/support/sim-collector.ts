/**
 * A collector-like source for the history recorder: states set by the caller are diffed and
 * published on a real EventStream exactly as the Collector publishes them (delta plus its compact
 * form, then timeline events), on a clock the caller moves. The property test and the history
 * bench drive the recorder with it, without nodes or a real day.
 */
import { diffClusterState } from '@/lib/cluster-diff';
import type { ClusterState, NodeHistoryPoint, TimelineEventDraft } from '@/lib/cluster-state';
import { compactDelta } from '@/lib/peer-wire';
import { EventStream, type CollectorMessage } from '@/server/collector/event-stream';
import type { CollectorSnapshot } from '@/server/collector';
import type { RecordedCollector } from '@/server/history/recorder';

/** A clock the test moves by hand. */
export class SimClock {
  constructor(public current = Date.UTC(2026, 0, 1)) {}
  readonly now = (): number => this.current;
  advance(ms: number): void {
    this.current += ms;
  }
}

export class SimCollector implements RecordedCollector {
  readonly stream: EventStream;
  private readonly pointListeners = new Set<(node: string, point: NodeHistoryPoint) => void>();

  constructor(
    readonly clusterId: string,
    private state: ClusterState,
    private readonly clock: SimClock,
  ) {
    this.stream = new EventStream({
      maxMessages: 100,
      maxMessageWeight: 100_000,
      maxTimeline: 50,
      now: clock.now,
    });
  }

  get epoch(): string {
    return this.stream.epoch;
  }

  get current(): ClusterState {
    return this.state;
  }

  subscribe(listener: (message: CollectorMessage) => void): () => void {
    return this.stream.subscribe(listener);
  }

  snapshot(): CollectorSnapshot {
    return {
      epoch: this.epoch,
      seq: this.stream.lastSeq,
      state: this.state,
      timeline: this.stream.recentTimeline(),
    };
  }

  onHistoryPoint(listener: (node: string, point: NodeHistoryPoint) => void): () => void {
    this.pointListeners.add(listener);
    return () => this.pointListeners.delete(listener);
  }

  publishEvent(draft: TimelineEventDraft): void {
    this.stream.publishEvents([draft]);
  }

  /** Moves to `next` as the collector does: a delta when anything changed, then `events`. */
  set(next: ClusterState, events: TimelineEventDraft[] = []): boolean {
    const delta = diffClusterState(this.state, next);
    if (delta) {
      this.state = next;
      this.stream.publishDelta(delta, compactDelta(delta, next));
    }
    this.stream.publishEvents(events);
    return delta !== null;
  }

  /** Records a node's point, as a probe does. */
  point(node: string, point: NodeHistoryPoint): void {
    for (const listener of this.pointListeners) listener(node, point);
  }
}
