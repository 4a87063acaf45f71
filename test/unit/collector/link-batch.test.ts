import { afterEach, describe, expect, it, vi } from 'vitest';

import { diffTimeline } from '@/lib/cluster-diff';
import type { BeamSide, ClusterState } from '@/lib/cluster-state';
import { MeshBuilder } from '@/lib/mesh';
import type { TimelineChange } from '@/lib/timeline-summary';
import { LinkChangeBatch } from '@/server/collector/link-batch';

import { ip, n, pod, side, stateOf } from '../lib/fixtures';

afterEach(() => {
  vi.useRealTimers();
});

const SIZE = 200;
const HALF = SIZE / 2;
const nodes = Array.from({ length: SIZE }, (_, index) => index + 1);
const pods = nodes.map((i) => pod(ip(i)));
const whole = (i: number) => nodes.filter((j) => j !== i).map(n);
const ownHalf = (i: number) => nodes.filter((j) => j !== i && j <= HALF === i <= HALF).map(n);

/**
 * The states a collector goes through as the nodes report a change one poll at a time: after
 * step k, nodes 1..k report `after`, the others still `before`.
 */
function pollByPoll(
  before: (i: number) => string[],
  after: (i: number) => string[],
  meshes: MeshBuilder,
): ClusterState[] {
  const lists = new Map(nodes.map((i) => [i, before(i)]));
  const sides = () => nodes.map((i): BeamSide => side(n(i), lists.get(i)!));
  const states = [stateOf(pods, sides(), 1000, meshes)];
  for (const i of nodes) {
    lists.set(i, after(i));
    states.push(stateOf(pods, sides(), 1000 + i, meshes));
  }
  return states;
}

/** Feeds each state change's events through the batch; returns all it published, in order. */
function told(states: ClusterState[], meshes: MeshBuilder): TimelineChange[] {
  const published: TimelineChange[] = [];
  const batch = new LinkChangeBatch(1000, 5000, (changes) => published.push(...changes));
  for (let step = 1; step < states.length; step += 1) {
    published.push(...batch.take(diffTimeline(states[step - 1]!, states[step]!, meshes)));
    vi.advanceTimersByTime(5); // polls 5 ms apart: the mesh is never quiet for a second
  }
  vi.advanceTimersByTime(1000);
  return published;
}

describe('LinkChangeBatch', () => {
  // 400 states of 200 nodes to build and compare: seconds on a busy machine, not a time asserted.
  it(
    'tells a split the nodes report one poll at a time as one event, and its heal as one',
    { timeout: 60_000 },
    () => {
      vi.useFakeTimers();
      const meshes = new MeshBuilder();
      const split = told(pollByPoll(whole, ownHalf, meshes), meshes);
      expect(split.map((change) => change.event.kind)).toEqual(['partition_detected']);
      expect(split[0]!.event.message).toBe(
        `partition detected: ${HALF} | ${HALF} nodes, ${(HALF * HALF).toLocaleString('en-US')} links down`,
      );
      expect(split[0]!.details?.links?.packed.length).toBe(HALF * HALF);

      const heal = told(pollByPoll(ownHalf, whole, meshes), meshes);
      expect(heal.map((change) => change.event.kind)).toEqual(['partition_healed']);
      expect(heal[0]!.event.links?.count).toBe(HALF * HALF);
      expect(heal[0]!.event.message).toContain('rejoined');
    },
  );

  it('tells a heal still held before the split that follows it', () => {
    vi.useFakeTimers();
    const meshes = new MeshBuilder();
    const published: TimelineChange[] = [];
    const batch = new LinkChangeBatch(1000, 5000, (changes) => published.push(...changes));
    const split = stateOf(
      pods,
      nodes.map((i) => side(n(i), ownHalf(i))),
      1000,
      meshes,
    );
    const healed = stateOf(
      pods,
      nodes.map((i) => side(n(i), whole(i))),
      1001,
      meshes,
    );
    expect(batch.take(diffTimeline(split, healed, meshes))).toEqual([]);
    const now = batch.take(diffTimeline(healed, split, meshes));
    expect(now.map((change) => change.event.kind)).toEqual([
      'partition_healed',
      'partition_detected',
    ]);
    vi.advanceTimersByTime(5000);
    expect(published).toEqual([]);
  });

  it('tells a link that goes down alone, once the mesh is quiet', () => {
    vi.useFakeTimers();
    const published: TimelineChange[] = [];
    const batch = new LinkChangeBatch(1000, 5000, (changes) => published.push(...changes));
    const link: [string, string] = [n(1), n(2)];
    const event = { kind: 'link_down', severity: 'warning', message: 'down', link } as const;
    expect(batch.take([{ event }])).toEqual([]);
    vi.advanceTimersByTime(999);
    expect(published).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(published.map((change) => change.event)).toEqual([
      expect.objectContaining({ kind: 'link_down', link }),
    ]);
  });

  it('lets a storm that never quiets out at the deadline', () => {
    vi.useFakeTimers();
    const published: TimelineChange[] = [];
    const batch = new LinkChangeBatch(1000, 5000, (changes) => published.push(...changes));
    for (let step = 0; step < 30; step += 1) {
      const link: [string, string] = [n(step + 1), n(step + 2)];
      batch.take([{ event: { kind: 'link_down', severity: 'warning', message: '', link } }]);
      // A link every 200 ms: never a quiet second.
      vi.advanceTimersByTime(200);
      if (published.length > 0) break;
    }
    expect(published).toHaveLength(1);
    expect(published[0]!.event).toMatchObject({ kind: 'link_down', links: { count: 25 } });
    expect(published[0]!.event.message).toMatch(/^25 links down:/);
  });
});
