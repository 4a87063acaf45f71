import 'server-only';

// A cluster's stream of messages: sequence numbers, the replay ring behind `Last-Event-ID`, the
// recent timeline for snapshots, and the subscribers every message goes to.

import { randomBytes } from 'node:crypto';

import type { ClusterStreamSnapshot } from '@/lib/api';
import type { ClusterStateDelta, TimelineEvent, TimelineEventDraft } from '@/lib/cluster-state';
import type { WireClusterDelta } from '@/lib/peer-wire';
import { detailsWeight, type EventDetails, type TimelineChange } from '@/lib/timeline-summary';

import { Ring, WeightedRing } from './ring';

/** One message of a cluster's stream, in sequence order: a state delta or a timeline event. */
export type CollectorMessage =
  | {
      seq: number;
      type: 'delta';
      delta: ClusterStateDelta;
      /** The same delta with its peer lists relative to the partitions it leads to. */
      compact?: WireClusterDelta;
    }
  | { seq: number; type: 'timeline'; event: TimelineEvent };

/** A consistent view: the state as of `seq`, and the recent timeline (oldest first). */
export type CollectorSnapshot = ClusterStreamSnapshot;

export interface EventStreamOptions {
  maxMessages: number;
  maxMessageWeight: number;
  maxTimeline: number;
  /** Summary events that keep their full lists, and the items (links, members, nodes) in all. */
  maxDetails?: number | undefined;
  maxDetailsWeight?: number | undefined;
  now: () => number;
  /** Sees every timeline event before it is numbered (to add to it) and once it is published. */
  timelineHooks?: TimelineHooks | undefined;
}

/** What {@link EventStreamOptions.timelineHooks} is called with. */
export interface TimelineHooks {
  decorate(change: TimelineChange): TimelineChange;
  published(event: TimelineEvent, details: EventDetails | undefined): void;
}

/** A summary event and the full lists behind it. */
export interface HeldDetails {
  event: TimelineEvent;
  details: EventDetails;
}

/**
 * The full lists of the last summary events: a 1,000 | 1,000 netsplit's million links take 8 MB
 * as index pairs, so a few storms' worth is kept and older ones give way.
 */
const DEFAULT_MAX_DETAILS = 50;
const DEFAULT_MAX_DETAILS_WEIGHT = 2_000_000;

/**
 * What a delta holds alive in the replay ring: one per member it carries, and one per peer name
 * in the peer lists it carries. A list travels only when it changed, so each is a new array —
 * and the mesh builder keeps a set of its names beside it while it lives. Weighed by members
 * alone, the ring held fifty of a 1,000-node mesh's heal steps, 50 million names (gigabytes).
 */
export function deltaWeight(delta: ClusterStateDelta): number {
  let weight = delta.added.length + delta.changed.length + delta.removed.length;
  for (const member of delta.added) weight += member.beam?.sees?.length ?? 0;
  for (const patch of delta.changed) weight += patch.beam?.sees?.length ?? 0;
  return weight;
}

/** Numbers, keeps and hands out one cluster's messages. */
export class EventStream {
  /** This stream's run: its sequence numbers start again at 0 with the next one. */
  readonly epoch = randomBytes(4).toString('hex');
  private seq = 0;
  private readonly messages: WeightedRing<CollectorMessage>;
  private readonly timeline: Ring<TimelineEvent>;
  private readonly details: WeightedRing<HeldDetails>;
  private readonly listeners = new Set<(message: CollectorMessage) => void>();
  private readonly now: () => number;
  private readonly hooks: TimelineHooks | undefined;

  constructor(options: EventStreamOptions) {
    this.hooks = options.timelineHooks;
    this.messages = new WeightedRing(options.maxMessages, options.maxMessageWeight);
    this.timeline = new Ring(options.maxTimeline);
    this.details = new WeightedRing(
      options.maxDetails ?? DEFAULT_MAX_DETAILS,
      options.maxDetailsWeight ?? DEFAULT_MAX_DETAILS_WEIGHT,
    );
    this.now = options.now;
  }

  /** The latest sequence number. */
  get lastSeq(): number {
    return this.seq;
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  /** The recent timeline, oldest first. */
  recentTimeline(): TimelineEvent[] {
    return this.timeline.toArray();
  }

  /**
   * The messages after `seq`, oldest first, or null when they are no longer all held (or `seq`
   * is not one this stream handed out).
   */
  since(seq: number): CollectorMessage[] | null {
    if (!Number.isInteger(seq) || seq < 0 || seq > this.seq) return null;
    if (seq === this.seq) return [];
    const oldest = this.messages.oldest();
    if (!oldest || oldest.seq > seq + 1) return null;
    return this.messages.toArray().filter((message) => message.seq > seq);
  }

  /** Calls `listener` with every message from now on; returns the unsubscribe function. */
  subscribe(listener: (message: CollectorMessage) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Drops every subscriber (the collector stopped). */
  close(): void {
    this.listeners.clear();
  }

  publishDelta(delta: ClusterStateDelta, compact?: WireClusterDelta): void {
    this.publish({ seq: ++this.seq, type: 'delta', delta, ...(compact ? { compact } : {}) });
  }

  /** Numbers and timestamps the drafts, and publishes them in order. */
  publishEvents(drafts: readonly TimelineEventDraft[]): void {
    this.publishChanges(drafts.map((event) => ({ event })));
  }

  /**
   * Numbers, timestamps and publishes the events in order; the full lists of a summary event are
   * kept beside the stream (see {@link detailsOf}), never sent on it.
   */
  publishChanges(changes: readonly TimelineChange[]): void {
    const at = this.now();
    for (const change of changes) {
      const { event: draft, details } = this.hooks?.decorate(change) ?? change;
      const event: TimelineEvent = { ...draft, seq: ++this.seq, at };
      this.timeline.push(event);
      if (details) this.details.push({ event, details }, detailsWeight(details));
      this.publish({ seq: event.seq, type: 'timeline', event });
      this.hooks?.published(event, details);
    }
  }

  /**
   * Publishes an amendment of an earlier event (`draft.amends`, its sequence number): the stream
   * carries it as a timeline event of its own, which the browser applies to the event it amends;
   * the recent timeline holds the amended event instead, so a snapshot shows it as amended.
   */
  publishAmendment(draft: TimelineEventDraft & { amends: number }): void {
    const event: TimelineEvent = { ...draft, seq: ++this.seq, at: this.now() };
    const amended = this.timeline.replace(
      (held) => held.seq === draft.amends,
      (held) => ({
        ...held,
        ...(draft.cause ? { cause: draft.cause } : {}),
        ...(draft.causes ? { causes: draft.causes } : {}),
      }),
    );
    if (!amended) this.timeline.push(event);
    this.publish({ seq: event.seq, type: 'timeline', event });
  }

  /** The summary event `seq` with its full lists, while they are still held. */
  detailsOf(seq: number): HeldDetails | undefined {
    return this.details.toArray().find((held) => held.event.seq === seq);
  }

  private publish(message: CollectorMessage): void {
    // A delta weighs what it carries, so the replay ring holds fewer of a large cluster's deltas.
    this.messages.push(message, 1 + (message.type === 'delta' ? deltaWeight(message.delta) : 0));
    for (const listener of [...this.listeners]) {
      try {
        listener(message);
      } catch (error) {
        // One broken subscriber must not starve the others.
        console.error('beamscope: a collector subscriber failed', error);
      }
    }
  }
}
