/**
 * A timed SSE client of a cluster's `/events` stream: every event stamped with `Date.now()` when
 * its bytes were read, the cluster state kept current by applying each delta (as the browser
 * does) unless asked not to, and waits on "the first event after t that matches". Parsing is
 * test/support/sse.ts's.
 */
import type { ClusterState, ClusterStateDelta, TimelineEvent } from '../../lib/cluster-state';
import {
  applyWireDelta,
  expandState,
  type WireClusterDelta,
  type WireClusterState,
} from '../../lib/peer-wire';
import { parseSse } from '../../test/support/sse';

/** One event of the stream as this client received it. */
export interface TimedEvent {
  /** `Date.now()` when the chunk holding the end of this event was read. */
  receivedAt: number;
  event: string;
  id: string | undefined;
  /** The timeline event, for `timeline` events. */
  timeline?: TimelineEvent;
  /** The delta, for `delta` events. */
  delta?: ClusterStateDelta;
}

type Listener = (event: TimedEvent) => void;

/** Options of {@link TimedSseClient.open}. */
export interface TimedSseOptions {
  /** Default 30 s: how long to wait for the first snapshot. */
  timeoutMs?: number;
  /**
   * Keep `state` (default true). A bench that times timeline events alone says false: at 1,000
   * members the whole state (every peer list) and a delta applied to it at every probe cycle
   * keep this process's loop busy — the very loop whose turn stamps `receivedAt`.
   */
  keepState?: boolean;
}

export class TimedSseClient {
  readonly events: TimedEvent[] = [];
  state: ClusterState | null = null;
  private readonly listeners = new Set<Listener>();
  private readonly abort = new AbortController();
  private failure: unknown;
  private ended = false;
  private readonly done: Promise<void>;

  private constructor(
    body: ReadableStream<Uint8Array>,
    private readonly keepState: boolean,
  ) {
    this.done = this.pump(body);
  }

  /** Opens `url` (a cluster's `/events`) and resolves once the first snapshot is in. */
  static async open(url: string, options: TimedSseOptions = {}): Promise<TimedSseClient> {
    const { timeoutMs = 30_000, keepState = true } = options;
    const abort = new AbortController();
    const response = await fetch(url, {
      headers: { accept: 'text/event-stream' },
      signal: abort.signal,
    });
    if (!response.ok || !response.body) throw new Error(`SSE ${url}: ${response.status}`);
    const client = new TimedSseClient(response.body, keepState);
    client.abort.signal.addEventListener('abort', () => abort.abort(), { once: true });
    await client.waitFor((event) => event.event === 'snapshot', 0, timeoutMs);
    return client;
  }

  private async pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const receivedAt = Date.now();
        buffer += decoder.decode(value, { stream: true });
        const { events, rest } = parseSse(buffer);
        buffer = rest;
        for (const raw of events) {
          if (raw.event === undefined || raw.data === undefined) continue;
          if (!this.keepState && raw.event !== 'timeline') {
            // Told, stamped, not read: its data is this client's state, which it does not keep.
            this.tell({ receivedAt, event: raw.event, id: raw.id });
            continue;
          }
          const data = JSON.parse(raw.data) as Record<string, unknown>;
          const timed: TimedEvent = { receivedAt, event: raw.event, id: raw.id };
          // Whole or compact (`?peers=compact`: members packed, peer lists relative): both read
          // as the page reads them, so `state` is the whole state either way.
          if (raw.event === 'snapshot')
            this.state = expandState((data as { state: WireClusterState }).state);
          else if (raw.event === 'delta') {
            timed.delta = (data as { delta: ClusterStateDelta }).delta;
            if (this.state)
              this.state = applyWireDelta(this.state, timed.delta as unknown as WireClusterDelta);
          } else if (raw.event === 'timeline') timed.timeline = data as unknown as TimelineEvent;
          this.tell(timed);
        }
      }
    } catch (error) {
      if (!this.abort.signal.aborted) this.failure = error;
    } finally {
      this.ended = true;
    }
  }

  private tell(timed: TimedEvent): void {
    this.events.push(timed);
    for (const listener of this.listeners) listener(timed);
  }

  /**
   * The first event received at or after `since` (ms since the epoch) that matches, waiting up
   * to `timeoutMs` for it; rejects when it does not come or the stream ends.
   */
  waitFor(
    match: (event: TimedEvent) => boolean,
    since: number,
    timeoutMs: number,
  ): Promise<TimedEvent> {
    const seen = this.events.find((event) => event.receivedAt >= since && match(event));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const listener: Listener = (event) => {
        if (event.receivedAt >= since && match(event)) finish(() => resolve(event));
      };
      const check = setInterval(() => {
        if (this.ended)
          finish(() =>
            reject(new Error(`the event stream ended (${String(this.failure ?? 'closed')})`)),
          );
      }, 200);
      const timer = setTimeout(
        () => finish(() => reject(new Error(`no matching event in ${timeoutMs} ms`))),
        timeoutMs,
      );
      const finish = (then: () => void) => {
        clearTimeout(timer);
        clearInterval(check);
        this.listeners.delete(listener);
        then();
      };
      this.listeners.add(listener);
    });
  }

  /** Timeline events of `kind` for the member whose pod is `pod` (or whose node is `node`). */
  static timeline(kind: string, who: { pod?: string; node?: string }) {
    return (event: TimedEvent): boolean =>
      event.timeline?.kind === kind &&
      (who.pod === undefined || event.timeline.pod === who.pod) &&
      (who.node === undefined || event.timeline.node === who.node);
  }

  close(): Promise<void> {
    this.abort.abort();
    return this.done;
  }
}
