import type {
  ClusterDeltaMessage,
  ClusterSnapshot,
  ClusterStreamSnapshot,
  ClusterTimelineMessage,
} from '@/lib/api';
import type { ClusterState, TimelineEvent } from '@/lib/cluster-state';
import { appendTimelineMessage, applyDeltaMessage, applySnapshotMessage } from '@/lib/dashboard';

import { parseSse } from '../../support/sse';

/** Something the stream did that a browser would have lost data on. */
export interface StreamGap {
  at: number;
  /** The last sequence number held, and the one that arrived. */
  from: number;
  to: number;
}

/**
 * A client of `GET /api/clusters/{id}/events` that does what the browser's `use-cluster-stream`
 * does: it starts from the snapshot, applies every delta and timeline event with the same
 * functions (`lib/dashboard`), and when the stream ends it reconnects with the last event id so
 * the server replays what it missed (or sends a fresh snapshot when the gap is too old).
 * It keeps every timeline event received, every sequence gap not covered by a snapshot, and
 * every reconnection.
 */
export class StreamClient {
  /** The state as the browser would hold it, once the first snapshot arrived. */
  current: ClusterSnapshot | undefined;
  /** Every timeline event received since the start (snapshot timelines included), by seq. */
  readonly timeline = new Map<number, TimelineEvent>();
  readonly gaps: StreamGap[] = [];
  /** Times a stream ended and the client reconnected. */
  reconnects = 0;
  /** Times the server answered a resume with a fresh snapshot (a gap too old for the ring). */
  resnapshots = 0;
  private lastId: string | null = null;
  private controller: AbortController | undefined;
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(
    private readonly url: string,
    private readonly clusterId: string,
  ) {
    this.loop = this.run();
  }

  /** The state the stream has built, or throws when no snapshot arrived yet. */
  state(): ClusterState {
    if (!this.current) throw new Error('the event stream has not delivered a snapshot yet');
    return this.current.state;
  }

  /** Timeline events received with a sequence number above `seq`, in order. */
  eventsAfter(seq: number): TimelineEvent[] {
    return [...this.timeline.values()]
      .filter((event) => event.seq > seq)
      .sort((a, b) => a.seq - b.seq);
  }

  /** The latest sequence number applied (-1 before the first snapshot). */
  get seq(): number {
    return this.current?.seq ?? -1;
  }

  /** Resolves once a snapshot has been applied. */
  async ready(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.current) {
      if (Date.now() > deadline)
        throw new Error(`no snapshot on the event stream in ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.controller?.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.once();
      } catch {
        // The stream failed (the server restarting, a network fault): reconnect as below.
      }
      if (this.stopped) break;
      this.reconnects += 1;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  private async once(): Promise<void> {
    this.controller = new AbortController();
    if (!this.current) {
      // As the browser: the snapshot first (SWR), then the stream resumed from its id.
      const response = await fetch(
        `${this.url}/api/clusters/${encodeURIComponent(this.clusterId)}`,
        { signal: this.controller.signal },
      );
      if (!response.ok) throw new Error(`snapshot: HTTP ${response.status}`);
      const snapshot = (await response.json()) as ClusterSnapshot;
      this.current = snapshot;
      for (const event of snapshot.timeline) this.timeline.set(event.seq, event);
      this.lastId = `${snapshot.epoch}-${snapshot.seq}`;
    }
    const query = this.lastId === null ? '' : `?lastEventId=${encodeURIComponent(this.lastId)}`;
    const response = await fetch(
      `${this.url}/api/clusters/${encodeURIComponent(this.clusterId)}/events${query}`,
      { signal: this.controller.signal, headers: { accept: 'text/event-stream' } },
    );
    if (!response.ok || !response.body) throw new Error(`event stream: HTTP ${response.status}`);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      const { events, rest } = parseSse(buffer);
      buffer = rest;
      for (const event of events) {
        if (event.id === undefined || event.data === undefined) continue;
        this.apply(event.event ?? 'message', event.data);
        this.lastId = event.id;
      }
    }
  }

  private apply(type: string, data: string): void {
    const now = Date.now();
    if (type === 'snapshot') {
      const message = JSON.parse(data) as ClusterStreamSnapshot;
      if (this.current) this.resnapshots += 1;
      this.current = applySnapshotMessage(this.current, message, now);
      for (const event of message.timeline) this.timeline.set(event.seq, event);
      return;
    }
    if (type !== 'delta' && type !== 'timeline') return;
    const seq =
      type === 'delta'
        ? (JSON.parse(data) as ClusterDeltaMessage).seq
        : (JSON.parse(data) as ClusterTimelineMessage).seq;
    const held = this.seq;
    // Sequence numbers are consecutive across deltas and timeline events: anything else is a
    // gap no snapshot covered (a repeat is skipped, as the browser skips it).
    if (this.current && seq > held + 1) this.gaps.push({ at: now, from: held, to: seq });
    if (type === 'delta') {
      this.current = applyDeltaMessage(this.current, JSON.parse(data) as ClusterDeltaMessage);
    } else {
      const event = JSON.parse(data) as ClusterTimelineMessage;
      if (this.current && seq > held) this.timeline.set(event.seq, event);
      this.current = appendTimelineMessage(this.current, event);
    }
  }
}
