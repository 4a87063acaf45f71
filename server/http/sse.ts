import 'server-only';

import type { ClusterState } from '@/lib/cluster-state';
import { compactState } from '@/lib/peer-wire';

import type { CollectorMessage } from '../collector/collector';
import { peersForm, type PeersForm } from './peers-param';

/** What an event stream reads from: a collector, or anything with the same three calls. */
export interface EventStreamSource {
  /** The source's run; event ids are `<epoch>-<seq>`, so ids of an earlier run are not resumed. */
  readonly epoch: string;
  /** The current state; serialized whole as the `snapshot` event. Must carry its `seq`. */
  snapshot(): { seq: number; state?: ClusterState };
  /** The messages after `seq`, or null when the gap is too old to replay. */
  messagesSince(seq: number): CollectorMessage[] | null;
  /** Every message from now on; returns the unsubscribe function. */
  subscribe(listener: (message: CollectorMessage) => void): () => void;
}

/** Why a stream ended, for logs and tests. */
export type EventStreamEnd = 'aborted' | 'cancelled' | 'slow_client';

export interface EventStreamOptions {
  /** The `Last-Event-ID` header (or query), when the client resumes. */
  lastEventId?: string | null;
  /** The request's signal: the subscription ends when the client goes away. */
  signal?: AbortSignal;
  /** Comment lines that keep proxies from closing an idle stream; default 15 s. */
  heartbeatMs?: number;
  /**
   * Messages queued for one client before it counts as too slow and is dropped (alone: the
   * upstream and every other client go on). It reconnects with `Last-Event-ID`. Default 1000.
   */
  maxQueuedMessages?: number;
  /**
   * Bytes queued for one client before it counts as too slow, whatever the message count: a
   * thousand deltas of a large cluster can be tens of MB. Default: the env
   * `BEAMSCOPE_SSE_MAX_QUEUED_BYTES`, else 4 MiB. The first write (snapshot or replay) is not
   * counted: it is as large as the state, however fast the client.
   */
  maxQueuedBytes?: number;
  /** Peer lists whole (the default) or relative to each node's partition (`lib/peer-wire.ts`). */
  peers?: PeersForm;
  /** The `retry:` the browser waits before reconnecting, ms; default 2000. */
  retryMs?: number;
  onEnd?: (reason: EventStreamEnd) => void;
}

/** Env override of the per-client byte bound (operators of very large clusters may raise it). */
export const MAX_QUEUED_BYTES_ENV = 'BEAMSCOPE_SSE_MAX_QUEUED_BYTES';
const DEFAULT_MAX_QUEUED_BYTES = 4 * 1024 * 1024;

function defaultMaxQueuedBytes(): number {
  const raw = Number(process.env[MAX_QUEUED_BYTES_ENV]);
  return Number.isSafeInteger(raw) && raw > 0 ? raw : DEFAULT_MAX_QUEUED_BYTES;
}

/** The headers every SSE response carries (no caching, no proxy buffering). */
export const EVENT_STREAM_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
};

/** The SSE id of message `seq` of the source's run `epoch`. */
export function eventId(epoch: string, seq: number): string {
  return `${epoch}-${seq}`;
}

/**
 * A `Last-Event-ID` as a sequence number of the run `epoch`, or null when absent, not one of
 * ours, or from another run (a restarted server numbers from 0 again: replaying its messages
 * after an old id would hand the client deltas that do not fit its state).
 */
export function parseLastEventId(value: string | null | undefined, epoch: string): number | null {
  if (value === null || value === undefined) return null;
  const match = /^([0-9a-f]{1,32})-(\d{1,15})$/.exec(value.trim());
  if (!match || match[1] !== epoch) return null;
  return Number(match[2]);
}

/** One SSE event; data is JSON on a single line (JSON never contains a raw newline). */
export function formatEvent(event: string, id: string, data: unknown): string {
  return `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * The last message's SSE bytes by peers form, made once for every client of the stream: the
 * source calls its subscribers one after the other with the same message, and a delta of a
 * large cluster is a few hundred KB of JSON that each client serialised again. One message
 * only: the replay ring keeps messages for minutes, and their bytes are not to be kept with them.
 */
let lastEncoded:
  | ({ message: CollectorMessage; epoch: string } & Partial<Record<PeersForm, Uint8Array>>)
  | undefined;
const messageEncoder = new TextEncoder();

/** {@link formatMessage}'s text as bytes, encoded once for the clients of one message. */
export function encodedMessage(
  message: CollectorMessage,
  epoch: string,
  peers: PeersForm = 'full',
): Uint8Array {
  if (lastEncoded?.message !== message || lastEncoded.epoch !== epoch)
    lastEncoded = { message, epoch };
  return (lastEncoded[peers] ??= messageEncoder.encode(formatMessage(message, epoch, peers)));
}

/** The SSE text of one collector message of the run `epoch`. */
export function formatMessage(
  message: CollectorMessage,
  epoch: string,
  peers: PeersForm = 'full',
): string {
  const id = eventId(epoch, message.seq);
  if (message.type === 'timeline') return formatEvent('timeline', id, message.event);
  const delta = peers === 'compact' ? (message.compact ?? message.delta) : message.delta;
  return formatEvent('delta', id, { seq: message.seq, delta });
}

/** The `snapshot` event's data in the form asked for. */
function snapshotData(snapshot: { seq: number; state?: ClusterState }, peers: PeersForm): unknown {
  return peers === 'compact' && snapshot.state
    ? { ...snapshot, state: compactState(snapshot.state) }
    : snapshot;
}

/**
 * An SSE stream over one source: a `snapshot` first — or, when `lastEventId` is given and the
 * source still holds everything after it, exactly the messages the client missed — then every
 * delta and timeline event with `id:` = its sequence number. Subscribing and reading the
 * snapshot happen in the same turn, and messages at or below the last id sent are skipped, so
 * nothing is lost or repeated. Heartbeat comments every `heartbeatMs`; the subscription ends on
 * abort, on cancel, or when the client falls `maxQueuedMessages` behind.
 */
export function openEventStream(
  source: EventStreamSource,
  options: EventStreamOptions = {},
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const maxQueued = Math.max(1, options.maxQueuedMessages ?? 1000);
  const maxBytes = Math.max(1, options.maxQueuedBytes ?? defaultMaxQueuedBytes());
  // One strategy bounds both: a message weighs its bytes, and at least 1/maxQueued of the byte
  // bound, so either maxQueued messages or maxBytes bytes fill the queue, whichever comes first.
  const minWeight = Math.ceil(maxBytes / maxQueued);
  let firstChunk: Uint8Array | undefined;
  let cleanup: ((reason: EventStreamEnd) => void) | undefined;

  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        let lastSent = -1;
        let ended = false;
        // Set once the subscription and the heartbeat exist; `end` may run before either.
        const handles: { unsubscribe?: () => void; heartbeat?: NodeJS.Timeout } = {};

        const end = (reason: EventStreamEnd) => {
          if (ended) return;
          ended = true;
          handles.unsubscribe?.();
          clearInterval(handles.heartbeat);
          options.signal?.removeEventListener('abort', onAbort);
          options.onEnd?.(reason);
        };
        cleanup = end;
        const onAbort = () => {
          end('aborted');
          try {
            controller.close();
          } catch {
            // Already closed or errored.
          }
        };
        const send = (text: string) => sendBytes(encoder.encode(text));
        const sendBytes = (bytes: Uint8Array) => {
          if (ended) return;
          controller.enqueue(bytes);
          if ((controller.desiredSize ?? 0) < 0) {
            // This client is not reading: drop it and free its queue. Its EventSource
            // reconnects with Last-Event-ID and catches up from the ring or a snapshot.
            end('slow_client');
            controller.error(new Error('the client fell too far behind'));
          }
        };

        if (options.signal?.aborted) {
          end('aborted');
          controller.close();
          return;
        }
        options.signal?.addEventListener('abort', onAbort, { once: true });

        const pending: CollectorMessage[] = [];
        let replaying = true;
        handles.unsubscribe = source.subscribe((message) => {
          if (replaying) pending.push(message);
          else if (message.seq > lastSent) {
            lastSent = message.seq;
            sendBytes(encodedMessage(message, source.epoch, options.peers));
          }
        });

        // The first write is one chunk, however long the replay, so it never counts as slow.
        let first = `retry: ${options.retryMs ?? 2000}\n\n`;
        const resumeFrom = parseLastEventId(options.lastEventId, source.epoch);
        const missed = resumeFrom === null ? null : source.messagesSince(resumeFrom);
        if (missed && resumeFrom !== null) {
          lastSent = resumeFrom;
          for (const message of missed) {
            if (message.seq <= lastSent) continue;
            lastSent = message.seq;
            first += formatMessage(message, source.epoch, options.peers);
          }
        } else {
          const snapshot = source.snapshot();
          lastSent = snapshot.seq;
          first += formatEvent(
            'snapshot',
            eventId(source.epoch, snapshot.seq),
            snapshotData(snapshot, options.peers ?? 'full'),
          );
        }
        replaying = false;
        for (const message of pending) {
          if (message.seq <= lastSent) continue;
          lastSent = message.seq;
          first += formatMessage(message, source.epoch, options.peers);
        }
        firstChunk = encoder.encode(first);
        sendBytes(firstChunk);

        if (ended) return;
        handles.heartbeat = setInterval(
          () => send(': heartbeat\n\n'),
          options.heartbeatMs ?? 15_000,
        );
        handles.heartbeat.unref?.();
      },
      cancel() {
        cleanup?.('cancelled');
      },
    },
    {
      highWaterMark: maxBytes,
      size: (chunk: Uint8Array) =>
        chunk === firstChunk ? 0 : Math.max(chunk.byteLength, minWeight),
    },
  );
}

/** The SSE response for `request` (its `Last-Event-ID` header and abort signal). */
export function eventStreamResponse(
  source: EventStreamSource,
  request: Request,
  options: Omit<EventStreamOptions, 'lastEventId' | 'signal'> = {},
): Response {
  const url = new URL(request.url);
  const stream = openEventStream(source, {
    ...options,
    // EventSource sends the header on reconnect; a query parameter lets a fresh page resume.
    lastEventId: request.headers.get('last-event-id') ?? url.searchParams.get('lastEventId'),
    peers: peersForm(url.searchParams),
    signal: request.signal,
  });
  return new Response(stream, { headers: EVENT_STREAM_HEADERS });
}
