/**
 * The event stream over real HTTP: the emulated Kubernetes API feeds a real KubernetesSource and
 * collector (no BEAM side), a plain Node HTTP server serves `eventStreamResponse` the way the
 * route handler does, and `fetch` reads it: a join arrives, a reconnect with Last-Event-ID gets
 * exactly what it missed, and a client going away releases its subscription.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TimelineEvent } from '@/lib/cluster-state';
import { startClusterCollector, type ClusterCollector } from '@/server/collector';
import { EVENT_STREAM_HEADERS, eventStreamResponse } from '@/server/http/sse';
import { startEmulatedApi, type EmulatedApi } from '@/server/sandbox/kube-api';

import { SseReader } from '../../support/sse';
import { sandboxCluster, scratchDir, writeKubeconfig } from '../kubernetes/support';

let api: EmulatedApi;
let scratch: { dir: string; remove: () => Promise<void> };
let upstream: ClusterCollector;
let server: Server;
let url: string;
const clients: AbortController[] = [];

beforeAll(async () => {
  scratch = await scratchDir();
  api = await startEmulatedApi({ readyDelayMs: 20, terminationGraceMs: 100 });
  const kubeconfig = await writeKubeconfig(scratch.dir, api);
  // No cookie in the environment: the collector runs its Kubernetes side only.
  upstream = await startClusterCollector(sandboxCluster(kubeconfig), {
    localName: `beamscope_sse${process.pid}@127.0.0.1`,
    env: {},
  });
  await upstream.source.waitForSync(10_000);
  server = createServer((req, res) => {
    const controller = new AbortController();
    res.once('close', () => controller.abort());
    const response = eventStreamResponse(
      upstream.collector,
      new Request(`http://127.0.0.1${req.url ?? '/'}`, {
        headers: Object.entries(req.headers).flatMap(([name, value]) =>
          typeof value === 'string' ? [[name, value] as [string, string]] : [],
        ),
        signal: controller.signal,
      }),
      // A client that half-closes its socket is only noticed when the server next writes: a
      // short heartbeat makes that prompt here (the product's 15 s bounds it in production).
      { heartbeatMs: 500 },
    );
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.flushHeaders();
    void (async () => {
      try {
        const body = response.body!.getReader();
        for (let next = await body.read(); !next.done; next = await body.read()) {
          res.write(next.value);
        }
      } catch {
        // The client went away.
      }
      res.end();
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`;
});

afterAll(async () => {
  for (const client of clients) client.abort();
  await new Promise<void>((resolve) => {
    server?.close(() => resolve());
    server?.closeAllConnections();
  });
  await upstream?.stop();
  await api?.stop();
  await scratch?.remove();
});

async function open(
  lastEventId?: string,
): Promise<{ reader: SseReader; response: Response; close: () => void }> {
  const controller = new AbortController();
  clients.push(controller);
  const response = await fetch(url, {
    headers: lastEventId ? { 'last-event-id': lastEventId } : {},
    signal: controller.signal,
  });
  return { reader: new SseReader(response.body!), response, close: () => controller.abort() };
}

const timeline = (reader: SseReader) =>
  reader.messages
    .filter((event) => event.event === 'timeline')
    .map((event) => JSON.parse(event.data!) as TimelineEvent);

describe('the event stream over HTTP', () => {
  it('streams joins, resumes from Last-Event-ID without loss, releases on disconnect', async () => {
    const first = await open();
    for (const [name, value] of Object.entries(EVENT_STREAM_HEADERS))
      expect(first.response.headers.get(name)).toBe(value);
    await first.reader.waitFor((events) => events.some((event) => event.event === 'snapshot'));
    const one = await api.control.createPod();
    await first.reader.waitFor(() =>
      timeline(first.reader).some(
        (event) => event.kind === 'member_joined' && event.pod === one.name,
      ),
    );
    const lastId = first.reader.messages.at(-1)!.id!;
    first.close();
    await first.reader.finished;
    await expect.poll(() => upstream.collector.subscriberCount, { timeout: 5000 }).toBe(0);

    // While nobody listens: a second pod joins.
    const two = await api.control.createPod();
    await expect
      .poll(() => upstream.collector.snapshot().state.members.length, { timeout: 5000 })
      .toBe(2);
    const seqOf = (id: string | undefined) => Number(id?.split('-')[1]);
    expect(lastId.startsWith(`${upstream.collector.epoch}-`)).toBe(true);
    const missed = upstream.collector.messagesSince(seqOf(lastId))!;
    expect(missed.length).toBeGreaterThan(0);

    const resumed = await open(lastId);
    const expectedLast = `${upstream.collector.epoch}-${upstream.collector.lastSeq}`;
    await resumed.reader.waitFor(() =>
      resumed.reader.messages.some((event) => event.id === expectedLast),
    );
    const ids = resumed.reader.messages.map((event) => seqOf(event.id));
    expect(ids.slice(0, missed.length)).toEqual(missed.map((message) => message.seq));
    expect(ids[0]).toBe(seqOf(lastId) + 1);
    expect(resumed.reader.messages.some((event) => event.event === 'snapshot')).toBe(false);
    expect(timeline(resumed.reader)).toContainEqual(
      expect.objectContaining({ kind: 'member_joined', pod: two.name }),
    );
    resumed.close();
    await expect.poll(() => upstream.collector.subscriberCount, { timeout: 5000 }).toBe(0);
  });
});
