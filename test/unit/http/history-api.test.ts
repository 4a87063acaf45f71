import { describe, expect, it } from 'vitest';

import type { ClusterSummary } from '@/lib/api';
import { expandState, type WireClusterState } from '@/lib/peer-wire';
import type { ClusterConfig } from '@/server/config';
import { MemoryHistoryStore } from '@/server/history/memory';
import { HistoryRecorder } from '@/server/history/recorder';
import {
  clusterSnapshotAt,
  foldCauseAmendments,
  historyStatus,
  nodeHistory,
  timelinePage,
} from '@/server/http/history-api';
import { parseMoment } from '@/server/http/history-params';

import { SimClock, SimCollector } from '../../support/sim-collector';
import { fullMesh, n, pod, stateOf } from '../lib/fixtures';

const mesh = (count: number, at: number) =>
  stateOf(
    Array.from({ length: count }, (_, index) => pod(`10.0.0.${index + 1}`)),
    fullMesh(Array.from({ length: count }, (_, index) => index + 1)),
    at,
  );

/** A cluster recorded for 10 s: 2 nodes, then 3 at +4 s (with an event), then 4 at +8 s. */
async function recorded() {
  const clock = new SimClock(Date.UTC(2026, 2, 1, 3, 12, 0));
  const start = clock.now();
  const collector = new SimCollector('c1', mesh(2, start), clock);
  const store = new MemoryHistoryStore();
  const recorder = new HistoryRecorder({
    collector,
    store,
    holder: 'test',
    now: clock.now,
    flushIntervalMs: 0,
  }).start();
  clock.advance(4000);
  collector.set(mesh(3, clock.now()), [
    { kind: 'member_joined', severity: 'info', message: 'joined', node: n(3) },
  ]);
  collector.point(n(3), { at: clock.now(), processCount: 5, registeredNames: 1, memoryBytes: 7 });
  await recorder.flush();
  clock.advance(4000);
  collector.set(mesh(4, clock.now()), [
    { kind: 'node_down', severity: 'error', message: 'down', node: n(1) },
  ]);
  clock.advance(2000);
  await recorder.stop();
  const history = { kind: 'memory' as const, store, status: () => ({ state: 'ok' as const }) };
  const cluster = {
    config: { id: 'c1' } as ClusterConfig,
    history: history as never,
    summary: () => ({ id: 'c1' }) as ClusterSummary,
  };
  return { cluster, history, start, end: clock.now() };
}

const params = (entries: Record<string, string | string[]>) => {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(entries))
    for (const one of [value].flat()) search.append(name, one);
  return search;
};

const codeOf = async (promise: Promise<unknown>) =>
  promise.then(
    () => 'resolved',
    (error: { code?: string }) => error.code,
  );

describe('the history API', () => {
  it('reads moments as epoch milliseconds or ISO 8601 with a zone, nothing else', () => {
    expect(parseMoment('1772334725000')).toBe(1772334725000);
    expect(parseMoment('2026-03-01T03:12:05Z')).toBe(Date.UTC(2026, 2, 1, 3, 12, 5));
    expect(parseMoment('2026-03-01T04:12:05+01:00')).toBe(Date.UTC(2026, 2, 1, 3, 12, 5));
    for (const bad of ['', 'now', '2026-03-01', '2026-03-01T03:12:05', '-5', '1e12', '12'])
      expect(parseMoment(bad), bad).toBeNull();
  });

  it('answers ?at=T with the state that was live at T and the events before it', async () => {
    const { cluster, start, end } = await recorded();
    const at = new Date(start + 5000).toISOString();
    const snapshot = await clusterSnapshotAt(cluster, params({ at }), end);
    expect(snapshot.viewingAt).toBe(start + 5000);
    expect(snapshot.retained).toEqual({ from: start, to: end });
    expect(snapshot.state.members).toHaveLength(3);
    expect(snapshot.timeline.map((event) => event.kind)).toEqual(['member_joined']);
    const compact = await clusterSnapshotAt(
      cluster,
      params({ at: String(start + 9000), peers: 'compact' }),
      end,
    );
    expect(expandState(compact.state as WireClusterState).members).toHaveLength(4);
  });

  it('answers a moment outside the retained range with 404 outside_retention and the range', async () => {
    const { cluster, start, end } = await recorded();
    const error = await clusterSnapshotAt(cluster, params({ at: String(start - 1) }), end).catch(
      (caught: unknown) => caught as { code: string; message: string; details: unknown },
    );
    expect(error).toMatchObject({
      code: 'outside_retention',
      details: { retained: { from: start, to: end } },
    });
    expect((error as { message: string }).message).toContain(new Date(start).toISOString());
    expect(
      await codeOf(clusterSnapshotAt(cluster, params({ at: String(end + 60_000) }), end)),
    ).toBe('outside_retention');
    for (const at of ['yesterday', '2026-03-01', ['1', '2']])
      expect(await codeOf(clusterSnapshotAt(cluster, params({ at }), end))).toBe('bad_request');
  });

  it('pages the timeline by cursor, filtered by kind, node and span', async () => {
    const { cluster, start } = await recorded();
    const first = await timelinePage(cluster, params({ limit: '1' }));
    expect(first.events.map((event) => event.kind)).toEqual(['node_down']);
    const second = await timelinePage(cluster, params({ limit: '1', cursor: first.next! }));
    expect(second.events.map((event) => event.kind)).toEqual(['member_joined']);
    expect(second.next).toBeNull();
    const oldest = await timelinePage(cluster, params({ order: 'oldest' }));
    expect(oldest.events.map((event) => event.kind)).toEqual(['member_joined', 'node_down']);
    expect(
      (await timelinePage(cluster, params({ kind: 'node_down,link_up' }))).events,
    ).toHaveLength(1);
    expect((await timelinePage(cluster, params({ node: n(3) }))).events).toHaveLength(1);
    const span = params({ from: String(start + 5000), to: String(start + 9000) });
    expect((await timelinePage(cluster, span)).events.map((event) => event.kind)).toEqual([
      'node_down',
    ]);
    const bads: Array<Record<string, string>> = [
      { kind: 'nope' },
      { limit: '0' },
      { limit: '100000' },
      { order: 'random' },
      { node: 'not a node' },
      { cursor: "'; drop table" },
      { from: '2000', to: '1000' },
    ];
    for (const bad of bads)
      expect(await codeOf(timelinePage(cluster, params(bad))), JSON.stringify(bad)).toBe(
        'bad_request',
      );
  });

  it("serves a node's recorded series and the history's status", async () => {
    const { cluster, history, start, end } = await recorded();
    const series = await nodeHistory(cluster, encodeURIComponent(n(3)), params({}), end);
    expect(series.points.map((point) => point.processCount)).toEqual([5]);
    expect(series.from).toBe(end - 3_600_000);
    expect(
      (await nodeHistory(cluster, n(3), params({ from: String(end - 1000) }), end)).points,
    ).toEqual([]);
    expect(await codeOf(nodeHistory(cluster, 'x', params({}), end))).toBe('bad_request');
    expect(await historyStatus(cluster, history)).toEqual({
      clusterId: 'c1',
      store: 'memory',
      status: { state: 'ok' },
      retained: { from: start, to: end },
    });
  });
});

describe('foldCauseAmendments: recorded down causes read as the live timeline shows them', () => {
  const down = (seq: number, node: string) => ({
    kind: 'node_down' as const,
    severity: 'error' as const,
    message: `${node} went down`,
    node,
    seq,
    at: 1000 + seq,
  });
  const amendment = (seq: number, amends: number) => ({
    kind: 'down_cause' as const,
    severity: 'info' as const,
    message: 'why',
    amends,
    cause: {
      code: 'oom_killed' as const,
      side: 'kubernetes' as const,
      detail: 'OOMKilled, exit code 137',
    },
    seq,
    at: 2000 + seq,
  });

  it('amends the event of its own run, never another run that used the same seq', () => {
    const folded = foldCauseAmendments([
      { id: 1, run: 'old', event: down(7, 'a@10.0.0.1') },
      { id: 2, run: 'new', event: down(7, 'b@10.0.0.2') },
      { id: 3, run: 'new', event: amendment(8, 7) },
    ]);
    expect(folded.map((event) => [event.node, event.cause?.code])).toEqual([
      ['a@10.0.0.1', undefined],
      ['b@10.0.0.2', 'oom_killed'],
    ]);
  });

  it('keeps an amendment as its own line when its event is not in the page', () => {
    const folded = foldCauseAmendments([{ id: 3, run: 'new', event: amendment(8, 7) }]);
    expect(folded.map((event) => event.kind)).toEqual(['down_cause']);
  });
});
