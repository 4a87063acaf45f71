import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClusterSnapshotAt, HistoryStatusResponse, TimelinePageResponse } from '@/lib/api';
import type { TimelineEvent } from '@/lib/cluster-state';

import { startDashboard, type RunningDashboard } from '../e2e/support/app';
import {
  CLUSTER_ID,
  faultsMode,
  recordScenario,
  startReliabilityStack,
  type ReliabilityStack,
} from './support';

/**
 * Restarts lose nothing: the demo-like scenario (a scale-up, a partition) runs with the
 * sandbox's history in SQLite; the server is SIGKILLed in the middle of the partition and
 * started again on the same address and configuration. The recorded history (read through the
 * API) is then held against the truth the harness saw live: every event the stream told more
 * than a second before the kill is in the store, the unobserved span is one `observation_gap`
 * event with the right bounds, the state during the partition is rebuilt as it was, and the
 * timeline goes on after the restart (the heal is recorded after the gap).
 */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** A SIGKILL may lose what the recorder gathered since its last flush: at most this long. */
const FLUSH_MS = 1000;
/** Clock slack between the moments the harness takes and the server's (same machine). */
const SLACK_MS = 250;
const DOWN_MS = 3000;

const key = (event: TimelineEvent) => `${event.at} ${event.kind} ${event.message}`;

describe('history across a SIGKILL of the server', () => {
  let stack: ReliabilityStack;
  let restarted: RunningDashboard | undefined;

  beforeAll(async () => {
    stack = await startReliabilityStack({ pods: 3 });
    await stack.waitForConverged(60_000);
  }, 180_000);

  afterAll(async () => {
    await restarted?.stop();
    await stack?.stop();
  });

  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${stack.dashboard.url}/api/clusters/${CLUSTER_ID}${path}`);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  };

  /** Every recorded event in [from, to], oldest first, page by page. */
  const recorded = async (from: number, to: number): Promise<TimelineEvent[]> => {
    const events: TimelineEvent[] = [];
    let cursor: string | null = null;
    do {
      const query = new URLSearchParams({ from: String(from), to: String(to), order: 'oldest' });
      query.set('limit', '1000');
      if (cursor) query.set('cursor', cursor);
      const page: TimelinePageResponse = await api(`/timeline?${query}`);
      events.push(...page.events);
      cursor = page.next;
    } while (cursor);
    return events;
  };

  it('keeps every event told before the kill (but the last second), tells the gap and goes on', async () => {
    const lost: string[] = [];
    const status = await api<HistoryStatusResponse>('/history');
    expect(status.store).toBe('sqlite');
    expect(status.status).toEqual({ state: 'ok' });
    const startedAt = Date.now();

    // The demo's moves: a scale-up, then a partition of one pod from the rest.
    await stack.sandbox.control('POST', '/scale', { replicas: 4 });
    await stack.waitForStream((state) => state.partitions[0]?.length === 4, 60_000);
    const pods = (await stack.truth()).members.map((member) => member.podName!).sort();
    await stack.sandbox.control('POST', '/partition', { sides: [pods.slice(0, 1), pods.slice(1)] });
    await stack.waitForStream((state) => state.partitions.length === 2, 30_000);
    const split = stack.stream.state().partitions;
    // Let the recorder write the split, then kill the server while the mesh is still split.
    await sleep(2 * FLUSH_MS);
    const splitAt = Date.now() - FLUSH_MS;
    const toldBefore = [...stack.stream.timeline.values()];
    const killedAt = Date.now();
    await stack.dashboard.kill('SIGKILL');
    await sleep(DOWN_MS);

    const restartAt = Date.now();
    const port = Number(new URL(stack.dashboard.url).port);
    restarted = await startDashboard(stack.sandbox.config, port);
    const upAt = Date.now();

    // 1. Every event told live more than a second before the kill is recorded, unchanged.
    const stored = new Set((await recorded(startedAt - 60_000, killedAt)).map(key));
    for (const event of toldBefore) {
      if (event.at < killedAt - FLUSH_MS - SLACK_MS && !stored.has(key(event)))
        lost.push(`told live, not recorded: ${key(event)}`);
    }

    // 2. One gap, from the last heartbeat before the kill to the new run's start.
    // Told once the new run has read the last observation, written with its first flush.
    let gaps: TimelineEvent[] = [];
    await expect
      .poll(
        async () => {
          gaps = (await api<TimelinePageResponse>('/timeline?kind=observation_gap')).events;
          return gaps.length;
        },
        { timeout: 15_000 },
      )
      .toBe(1);
    const gap = gaps[0]!.gap!;
    expect(gap.from).toBeGreaterThanOrEqual(killedAt - FLUSH_MS - SLACK_MS);
    expect(gap.from).toBeLessThanOrEqual(killedAt);
    expect(gap.to).toBeGreaterThanOrEqual(restartAt);
    expect(gap.to).toBeLessThanOrEqual(upAt);
    // The page's live timeline shows it too.
    await expect
      .poll(() => [...stack.stream.timeline.values()].some((e) => e.kind === 'observation_gap'), {
        timeout: 30_000,
      })
      .toBe(true);

    // 3. The moment of the split, asked after the restart, is the split as the stream showed it.
    const past = await api<ClusterSnapshotAt>(`?at=${new Date(splitAt).toISOString()}`);
    expect(past.viewingAt).toBe(splitAt);
    expect(past.state.partitions).toEqual(split);

    // 4. The timeline goes on: the heal is recorded after the gap, and the state follows it.
    await stack.sandbox.control('POST', '/heal');
    await stack.waitForStream((state) => state.partitions.length === 1, 60_000);
    await expect
      .poll(async () => (await recorded(gap.to, Date.now())).map((event) => event.kind), {
        timeout: 30_000,
      })
      .toContain('partition_healed');
    const after = await api<HistoryStatusResponse>('/history');
    expect(after.retained!.from).toBeLessThanOrEqual(startedAt);
    expect(after.retained!.to).toBeGreaterThan(gap.to);

    await recordScenario({
      scenario: 'Server SIGKILL with history recording',
      injected: `SIGKILL of the dashboard server during a partition, restarted ${DOWN_MS / 1000} s later`,
      detectMs: null,
      recoverMs: upAt - restartAt,
      diff: [],
      lost,
      mode: faultsMode(),
      notes: `gap ${gap.to - gap.from} ms recorded; ${toldBefore.length} events told before the kill`,
    });
    expect(lost).toEqual([]);
  }, 300_000);
});
