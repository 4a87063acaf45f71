import { EventEmitter } from 'node:events';

import { afterEach, describe, expect, it } from 'vitest';

import type { ClusterStreamSnapshot } from '@/lib/api';
import { applyClusterDelta } from '@/lib/cluster-diff';
import type { ClusterStateDelta } from '@/lib/cluster-state';
import type { KubernetesMember, KubernetesSourceStatus } from '@/lib/members';
import { Collector } from '@/server/collector/collector';
import type { KubernetesSourceEvents } from '@/server/kubernetes/source';
import {
  EVENT_STREAM_HEADERS,
  eventStreamResponse,
  openEventStream,
  parseLastEventId,
  type EventStreamEnd,
} from '@/server/http/sse';

import { SseReader } from '../../support/sse';
import { pod } from '../lib/fixtures';

/** A Kubernetes side driven by the test: the collector's source seam. */
class FakeSource extends EventEmitter<KubernetesSourceEvents> {
  private current: KubernetesMember[] = [];
  members(): KubernetesMember[] {
    return this.current;
  }
  status(): KubernetesSourceStatus {
    return { state: 'ok', since: 0 };
  }
  set(members: KubernetesMember[]): void {
    this.current = members;
    this.emit('members', members);
  }
}

const collectors: Collector[] = [];
const readers: SseReader[] = [];

function setup(options: { maxMessages?: number } = {}) {
  const source = new FakeSource();
  const collector = new Collector({
    clusterId: 'test',
    localNode: 'beamscope@127.0.0.1',
    source,
    manager: null,
    pollIntervalMs: 60_000,
    ...options,
  }).start();
  collectors.push(collector);
  let pods: KubernetesMember[] = [];
  /** Adds pod 10.0.0.<n> and waits for the collector to publish it. */
  const addPod = (index: number) => {
    pods = [...pods, pod(`10.0.0.${index}`)];
    source.set(pods);
    collector.flush();
  };
  return { source, collector, addPod };
}

function read(stream: ReadableStream<Uint8Array>): SseReader {
  const reader = new SseReader(stream);
  readers.push(reader);
  return reader;
}

/** The sequence number in an event id (`<epoch>-<seq>`). */
const seqOf = (id: string | undefined) => Number(id?.split('-')[1]);
const ids = (reader: SseReader) => reader.messages.map((event) => seqOf(event.id));

afterEach(async () => {
  await Promise.all(readers.splice(0).map((reader) => reader.cancel()));
  for (const collector of collectors.splice(0)) collector.stop();
});

describe('parseLastEventId', () => {
  it('accepts sequence numbers of the current epoch only', () => {
    expect(parseLastEventId('beef01-42', 'beef01')).toBe(42);
    expect(parseLastEventId(' beef01-7 ', 'beef01')).toBe(7);
    expect(parseLastEventId(null, 'beef01')).toBeNull();
    expect(parseLastEventId('beef01--1', 'beef01')).toBeNull();
    expect(parseLastEventId('beef01-abc', 'beef01')).toBeNull();
    expect(parseLastEventId('beef01-1e3', 'beef01')).toBeNull();
    // A bare number, or an id from another run of the server, is not resumable.
    expect(parseLastEventId('42', 'beef01')).toBeNull();
    expect(parseLastEventId('cafe02-42', 'beef01')).toBeNull();
  });
});

describe('openEventStream', () => {
  it('sends a snapshot, then deltas and timeline events with increasing ids', async () => {
    const { collector, addPod } = setup();
    addPod(1);
    const reader = read(openEventStream(collector));
    await reader.waitFor((events) => events.some((event) => event.event === 'snapshot'));
    const snapshot = JSON.parse(reader.messages[0]!.data!) as ClusterStreamSnapshot;
    expect(reader.messages[0]!.event).toBe('snapshot');
    expect(reader.messages[0]!.id).toBe(`${collector.epoch}-${snapshot.seq}`);
    expect(snapshot.epoch).toBe(collector.epoch);
    expect(snapshot.state.members.map((member) => member.key)).toEqual(['myapp@10.0.0.1']);

    addPod(2);
    await reader.waitFor((events) => events.some((event) => event.event === 'timeline'));
    const kinds = reader.messages.map((event) => event.event);
    expect(kinds).toEqual(['snapshot', 'delta', 'timeline']);
    expect(ids(reader)).toEqual([snapshot.seq, snapshot.seq + 1, snapshot.seq + 2]);
    const timeline = JSON.parse(reader.messages[2]!.data!) as { kind: string; node: string };
    expect(timeline).toMatchObject({ kind: 'member_joined', node: 'myapp@10.0.0.2' });
    // The delta applied to the snapshot gives the collector's state.
    const { delta } = JSON.parse(reader.messages[1]!.data!) as { delta: ClusterStateDelta };
    expect(applyClusterDelta(snapshot.state, delta)).toEqual(collector.snapshot().state);
  });

  it('resumes from Last-Event-ID with nothing lost and nothing repeated', async () => {
    const { collector, addPod } = setup();
    const continuous = read(openEventStream(collector));
    addPod(1);
    const first = read(openEventStream(collector));
    await first.waitFor((events) => events.length >= 2);
    addPod(2);
    await first.waitFor(() => first.messages.length >= 3);
    const lastSeen = first.messages.at(-1)!.id!;
    await first.cancel();
    expect(collector.subscriberCount).toBe(1);

    addPod(3);
    addPod(4);
    const resumed = read(openEventStream(collector, { lastEventId: lastSeen }));
    addPod(5);
    await resumed.waitFor(() =>
      resumed.messages.some(
        (event) => event.data?.includes('myapp@10.0.0.5') && event.event === 'timeline',
      ),
    );
    await continuous.waitFor(() => continuous.messages.at(-1)?.id === resumed.messages.at(-1)?.id);

    expect(resumed.messages.some((event) => event.event === 'snapshot')).toBe(false);
    const combined = [...first.messages.slice(1), ...resumed.messages];
    const expected = continuous.messages.filter(
      (event) => seqOf(event.id) > seqOf(first.messages[0]!.id),
    );
    expect(combined.map((event) => [event.id, event.event, event.data])).toEqual(
      expected.map((event) => [event.id, event.event, event.data]),
    );
    expect(new Set(ids(resumed)).size).toBe(resumed.messages.length);
  });

  it('sends a fresh snapshot when the gap is older than the ring', async () => {
    const { collector, addPod } = setup({ maxMessages: 4 });
    addPod(1);
    const old = collector.lastSeq;
    for (let index = 2; index <= 6; index += 1) addPod(index);
    expect(collector.messagesSince(old)).toBeNull();
    const reader = read(openEventStream(collector, { lastEventId: `${collector.epoch}-${old}` }));
    await reader.waitFor(() => reader.messages.length >= 1);
    expect(reader.messages[0]!.event).toBe('snapshot');
    expect(seqOf(reader.messages[0]!.id)).toBe(collector.lastSeq);
    // An id from the future gets a snapshot too.
    const future = read(openEventStream(collector, { lastEventId: `${collector.epoch}-999999` }));
    await future.waitFor(() => future.messages.length >= 1);
    expect(future.messages[0]!.event).toBe('snapshot');
  });

  it('answers an id from an earlier run of the server with a snapshot, not its own deltas', async () => {
    // A restarted server numbers from 0 again: an old id may fall inside its ring, but the
    // messages there are not the ones the client missed.
    const { collector, addPod } = setup();
    addPod(1);
    addPod(2);
    expect(collector.messagesSince(1)).not.toBeNull();
    const stale = read(openEventStream(collector, { lastEventId: '0badc0de-1' }));
    await stale.waitFor(() => stale.messages.length >= 1);
    expect(stale.messages[0]!.event).toBe('snapshot');
    expect(stale.messages[0]!.id).toBe(`${collector.epoch}-${collector.lastSeq}`);
  });

  it('releases the subscription on abort', async () => {
    const { collector } = setup();
    const controller = new AbortController();
    const ends: EventStreamEnd[] = [];
    const reader = read(
      openEventStream(collector, { signal: controller.signal, onEnd: (end) => ends.push(end) }),
    );
    await reader.waitFor(() => reader.messages.length === 1);
    expect(collector.subscriberCount).toBe(1);
    controller.abort();
    await reader.finished;
    expect(reader.closed).toBe(true);
    expect(ends).toEqual(['aborted']);
    expect(collector.subscriberCount).toBe(0);
  });

  it('drops a client that stops reading, and only that client', async () => {
    const { collector, addPod } = setup();
    const ends: EventStreamEnd[] = [];
    // Never read: its queue fills up.
    const stalled = openEventStream(collector, {
      maxQueuedMessages: 3,
      onEnd: (end) => ends.push(end),
    });
    const healthy = read(openEventStream(collector, { maxQueuedMessages: 3 }));
    expect(collector.subscriberCount).toBe(2);
    for (let index = 1; index <= 6; index += 1) {
      addPod(index);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(ends).toEqual(['slow_client']);
    expect(collector.subscriberCount).toBe(1);
    await healthy.waitFor(
      () => healthy.messages.at(-1)?.id === `${collector.epoch}-${collector.lastSeq}`,
    );
    expect(healthy.error).toBeUndefined();
    await stalled.cancel().catch(() => undefined);
  });

  it('sends heartbeat comments', async () => {
    const { collector } = setup();
    const reader = read(openEventStream(collector, { heartbeatMs: 20 }));
    await reader.waitFor((events) => events.some((event) => event.comment === 'heartbeat'));
  });

  it('gives 100 concurrent clients the same sequence', async () => {
    const { collector, addPod } = setup();
    addPod(1);
    const clients = Array.from({ length: 100 }, () => read(openEventStream(collector)));
    for (let index = 2; index <= 5; index += 1) addPod(index);
    const last = `${collector.epoch}-${collector.lastSeq}`;
    await Promise.all(
      clients.map((client) => client.waitFor(() => client.messages.at(-1)?.id === last)),
    );
    const reference = JSON.stringify(clients[0]!.messages);
    for (const client of clients) expect(JSON.stringify(client.messages)).toBe(reference);
    expect(collector.subscriberCount).toBe(100);
  });
});

describe('eventStreamResponse', () => {
  it('sets the SSE headers and reads Last-Event-ID from the request', async () => {
    const { collector, addPod } = setup();
    addPod(1);
    const since = collector.lastSeq;
    addPod(2);
    const controller = new AbortController();
    const response = eventStreamResponse(
      collector,
      new Request('http://localhost/api/clusters/test/events', {
        headers: { 'last-event-id': `${collector.epoch}-${since}` },
        signal: controller.signal,
      }),
    );
    for (const [name, value] of Object.entries(EVENT_STREAM_HEADERS))
      expect(response.headers.get(name)).toBe(value);
    const reader = read(response.body!);
    await reader.waitFor(
      () => reader.messages.at(-1)?.id === `${collector.epoch}-${collector.lastSeq}`,
    );
    expect(ids(reader)[0]).toBe(since + 1);
    controller.abort();
    await reader.finished;
    expect(collector.subscriberCount).toBe(0);
  });
});
