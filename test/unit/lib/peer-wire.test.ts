import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { diffClusterState } from '@/lib/cluster-diff';
import type { BeamSide, ClusterState } from '@/lib/cluster-state';
import { compareNames } from '@/lib/names';
import {
  applyWireDelta,
  compactDelta,
  compactPeers,
  compactState,
  compactStateInParts,
  expandPeers,
  expandState,
} from '@/lib/peer-wire';

import { n, pod, side, stateOf } from './fixtures';

const NODES = 6;
const indexes = Array.from({ length: NODES }, (_, index) => index + 1);
const sorted = (peers: number[]) => peers.map(n).sort(compareNames);

/** A node's list: mostly everyone else (a whole mesh), else a part, out of order, or unknown. */
const list = (index: number) => {
  const others = indexes.filter((other) => other !== index);
  return fc.oneof(
    { arbitrary: fc.constant(sorted(others)), weight: 3 },
    { arbitrary: fc.subarray(others).map(sorted), weight: 2 },
    { arbitrary: fc.shuffledSubarray(others).map((peers) => peers.map(n)), weight: 1 },
    { arbitrary: fc.constant(null), weight: 1 },
  );
};

const arbitraryState = fc
  .tuple(fc.subarray(indexes), fc.tuple(...indexes.map(list)))
  .map(([pods, lists]): ClusterState => {
    const sides = indexes.map((index): BeamSide =>
      lists[index - 1] === null
        ? side(n(index), null, { connection: { status: 'unreachable', since: 1 } })
        : side(n(index), lists[index - 1]!),
    );
    return stateOf(
      pods.map((index) => pod(`10.0.0.${index}`)),
      sides,
    );
  });

describe('peer lists on the wire', () => {
  it('expand back to exactly the lists they encode (property)', () => {
    fc.assert(
      fc.property(arbitraryState, (state) => {
        const wire = JSON.parse(JSON.stringify(compactState(state))) as ReturnType<
          typeof compactState
        >;
        expect(expandState(wire)).toEqual(state);
      }),
      { numRuns: 500 },
    );
  });

  it('pack the same in parts as in one go, giving a turn between parts (property)', async () => {
    await fc.assert(
      fc.asyncProperty(arbitraryState, fc.integer({ min: 1, max: 4 }), async (state, perPart) => {
        let turns = 0;
        const parts = await compactStateInParts(
          state,
          async () => {
            turns += 1;
          },
          perPart,
        );
        expect(parts).toEqual(compactState(state));
        // Two passes over the members (compacting their peers, packing), then two in packing.
        const slices = Math.ceil(state.members.length / perPart);
        expect(turns).toBe(Math.max(0, slices - 1) * 3);
      }),
      { numRuns: 300 },
    );
  });

  it('expand back exactly when states share their lists (the compact forms reused), property', () => {
    // Each node's candidate lists are the same arrays in every state, as the collector keeps an
    // unchanged list's identity: a list compacted for one state is met again in the next.
    const pool = indexes.map((index) => {
      const others = indexes.filter((other) => other !== index);
      return [sorted(others), sorted(others.slice(1)), sorted(others.slice(0, 2)), null];
    });
    const arbitraryShared = fc
      .tuple(fc.subarray(indexes), fc.tuple(...indexes.map(() => fc.integer({ min: 0, max: 3 }))))
      .map(([pods, picks]): ClusterState => {
        const sides = indexes.map((index): BeamSide => {
          const list = pool[index - 1]![picks[index - 1]!]!;
          return list === null
            ? side(n(index), null, { connection: { status: 'unreachable', since: 1 } })
            : side(n(index), list);
        });
        return stateOf(
          pods.map((index) => pod(`10.0.0.${index}`)),
          sides,
        );
      });
    fc.assert(
      fc.property(fc.array(arbitraryShared, { minLength: 2, maxLength: 6 }), (states) => {
        for (const state of states) {
          const wire = JSON.parse(JSON.stringify(compactState(state))) as ReturnType<
            typeof compactState
          >;
          expect(expandState(wire)).toEqual(state);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('carry deltas that lead to exactly the next state (property)', () => {
    fc.assert(
      fc.property(arbitraryState, arbitraryState, (prev, next) => {
        const delta = diffClusterState(prev, next);
        if (!delta) return;
        const wire = JSON.parse(JSON.stringify(compactDelta(delta, next))) as ReturnType<
          typeof compactDelta
        >;
        expect(applyWireDelta(prev, wire)).toEqual(next);
      }),
      { numRuns: 500 },
    );
  });

  // Millions of names to build: seconds on a busy machine, not a time asserted.
  it('say nothing of a whole mesh but its partition', { timeout: 60_000 }, () => {
    const size = 1000;
    const all = Array.from({ length: size }, (_, index) => index + 1);
    const pods = all.map((index) => pod(`10.0.${Math.floor(index / 250)}.${index % 250}`));
    const names = all.map(n);
    const whole = stateOf(
      pods,
      all.map((index) =>
        side(
          n(index),
          names.filter((name) => name !== n(index)),
        ),
      ),
    );
    const wire = compactState(whole);
    expect(wire.members.every((member) => !member.beam?.sees || 'except' in member.beam.sees)).toBe(
      true,
    );
    const full = JSON.stringify(whole).length;
    const compact = JSON.stringify(wire).length;
    const withoutPeers = JSON.stringify({
      ...whole,
      members: whole.members.map((member) => ({
        ...member,
        beam: member.beam && { ...member.beam, sees: null },
      })),
    }).length;
    // The peer lists were nearly all of it: what remains is the members' other fields, and a
    // few bytes per member for an empty `{"except":[]}`.
    expect(compact).toBeLessThan(full / 10);
    expect(compact).toBeLessThanOrEqual(withoutPeers + size * '{"except":[]}'.length);
  });

  it('say a list relative to the nodes that report when names only one node lists fill the partition', () => {
    // x1..x3 report nothing (ghosts, or a capped list's junk) but are in the partition.
    const partition = ['a@h', 'b@h', 'c@h', 'x1@h', 'x2@h', 'x3@h'];
    const reporting = new Set(['a@h', 'b@h', 'c@h']);
    expect(compactPeers(['b@h', 'c@h'], 'a@h', partition, reporting)).toEqual({
      except: [],
      plus: [],
    });
    expect(expandPeers({ except: [], plus: [] }, 'a@h', partition, reporting)).toEqual([
      'b@h',
      'c@h',
    ]);
    expect(compactPeers(['b@h', 'c@h', 'x2@h'], 'a@h', partition, reporting)).toEqual({
      except: [],
      plus: ['x2@h'],
    });
    expect(expandPeers({ except: ['c@h'], plus: ['x1@h'] }, 'a@h', partition, reporting)).toEqual([
      'b@h',
      'x1@h',
    ]);
    // Without the second form, as recorded before it: relative to the whole partition.
    expect(expandPeers({ except: ['x1@h'] }, 'a@h', partition)).toEqual([
      'b@h',
      'c@h',
      'x2@h',
      'x3@h',
    ]);
  });

  it('send a list whole when that is shorter, or when it is not in order', () => {
    const partition = ['a@h', 'b@h', 'c@h', 'd@h'];
    expect(compactPeers(['b@h', 'c@h', 'd@h'], 'a@h', partition)).toEqual({ except: [] });
    expect(compactPeers(['b@h', 'd@h'], 'a@h', partition)).toEqual({ except: ['c@h'] });
    expect(compactPeers(['b@h'], 'a@h', partition)).toEqual(['b@h']);
    expect(compactPeers(['d@h', 'b@h', 'c@h'], 'a@h', partition)).toEqual(['d@h', 'b@h', 'c@h']);
    expect(compactPeers(['x@h'], 'a@h', partition)).toEqual(['x@h']);
  });
});
