import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { diffClusterStates, diffMemberTimeline } from '@/lib/cluster-diff';
import type { KubernetesMember } from '@/lib/members';
import { podsOnlyState } from '@/server/collector/pod-changes';
import { shareUnchanged } from '@/server/kubernetes/members';

import { ip, n, pod, side, stateOf } from '../lib/fixtures';

const SIZE = 8;

/** Pods 1..8; nodes 1..6 run (two partitions: 1–4 and 5–6), 7 and 8 have no node. */
const pods = () => Array.from({ length: SIZE }, (_, index) => pod(ip(index + 1)));
const sides = [1, 2, 3, 4, 5, 6].map((index) => {
  const group = index <= 4 ? [1, 2, 3, 4] : [5, 6];
  return side(n(index), group.filter((other) => other !== index).map(n));
});

/** What may change on a pod in place: readiness, serving, termination, restarts, phase. */
const podChange = fc.record({
  ready: fc.boolean(),
  serving: fc.boolean(),
  terminating: fc.boolean(),
  restarts: fc.integer({ min: 0, max: 3 }),
  phase: fc.constantFrom('Running', 'Pending', 'Failed'),
});

const withChanges = (
  before: readonly KubernetesMember[],
  changes: ReadonlyArray<Partial<KubernetesMember> | null>,
): KubernetesMember[] =>
  before.map((member, index) => {
    const change = changes[index];
    return change ? { ...member, ...change } : member;
  });

describe('podsOnlyState', () => {
  it('equals the rebuilt state, and tells the same events, for any in-place pod change', () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(podChange, { nil: null }), { minLength: SIZE, maxLength: SIZE }),
        fc.array(fc.option(podChange, { nil: null }), { minLength: SIZE, maxLength: SIZE }),
        (first, second) => {
          const before = withChanges(pods(), first);
          const after = withChanges(before, second);
          const state = stateOf(before, sides, 1000);
          const fast = podsOnlyState(state, before, after, { state: 'ok', since: 0 }, 2000);
          if (after.every((member, index) => member === before[index])) {
            expect(fast).toBeNull();
            return;
          }
          const rebuilt = stateOf(after, sides, 2000);
          expect(fast).toEqual(rebuilt);
          expect(diffMemberTimeline(state, fast!).map(({ event }) => event)).toEqual(
            diffClusterStates(state, rebuilt),
          );
        },
      ),
    );
  });

  it('leaves a pod that came, went or was renamed to the rebuild', () => {
    const before = pods();
    const state = stateOf(before, sides);
    const status = { state: 'ok', since: 0 } as const;
    expect(podsOnlyState(state, before, before.slice(1), status, 2)).toBeNull();
    expect(podsOnlyState(state, before, [...before, pod(ip(9))], status, 2)).toBeNull();
    const renamed = before.map((member, index) =>
      index === 2 ? { ...member, podName: 'other', ready: false } : member,
    );
    expect(podsOnlyState(state, before, renamed, status, 2)).toBeNull();
  });
});

describe('shareUnchanged', () => {
  it('keeps the identity of members that did not change, and says when none did', () => {
    const before = pods();
    const copy = pods();
    expect(shareUnchanged(copy, before)).toBeNull();
    const next = pods();
    next[3] = { ...next[3]!, ready: false };
    const shared = shareUnchanged(next, before)!;
    expect(shared).toEqual(next);
    expect(shared.filter((member, index) => member !== before[index])).toEqual([next[3]]);
    // A new pod shifts the rest: they are still found by IP.
    const grown = [pod(ip(0)), ...pods()];
    const sharedGrown = shareUnchanged(grown, before)!;
    expect(sharedGrown.slice(1).every((member, index) => member === before[index])).toBe(true);
  });
});
