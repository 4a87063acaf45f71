import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { applyClusterDelta, diffClusterState, diffClusterStates } from '@/lib/cluster-diff';
import { hasLink, MeshBuilder } from '@/lib/mesh';
import type { BeamSide, ClusterState } from '@/lib/cluster-state';

import { n, pod, side, stateOf } from './fixtures';

const NODES = 6;

/** A random cluster: which pods exist, which nodes are connected, whom each sees. */
const arbitraryState = fc
  .record({
    pods: fc.uniqueArray(fc.integer({ min: 1, max: NODES }), { maxLength: NODES }),
    sides: fc.array(
      fc.record({
        index: fc.integer({ min: 1, max: NODES }),
        connected: fc.boolean(),
        sees: fc.uniqueArray(fc.integer({ min: 1, max: NODES + 1 }), { maxLength: NODES }),
        processes: fc.integer({ min: 1, max: 3 }),
        ready: fc.boolean(),
      }),
      { maxLength: NODES },
    ),
  })
  .map(({ pods, sides }): ClusterState => {
    const byNode = new Map<string, BeamSide>();
    for (const entry of sides) {
      byNode.set(
        n(entry.index),
        side(
          n(entry.index),
          entry.connected ? entry.sees.filter((peer) => peer !== entry.index).map(n) : null,
          {
            processCount: entry.processes,
            connection: entry.connected
              ? { status: 'connected', since: 1 }
              : { status: 'unreachable', since: 1, code: 'dist_unreachable', reason: 'refused' },
          },
        ),
      );
    }
    return stateOf(
      pods.map((index) => pod(`10.0.0.${index}`, { ready: index % 2 === 0 })),
      [...byNode.values()],
    );
  });

describe('cluster state properties', () => {
  it('applying the delta between two states gives the second', () => {
    fc.assert(
      fc.property(arbitraryState, arbitraryState, (prev, next) => {
        const delta = diffClusterState(prev, next);
        const applied = delta ? applyClusterDelta(prev, delta) : prev;
        expect({ ...applied, at: next.at }).toEqual(next);
      }),
    );
  });

  it('partitions cover the mesh, and no link crosses two of them', () => {
    fc.assert(
      fc.property(arbitraryState, (state) => {
        const mesh = new MeshBuilder().ofState(state);
        const flat = state.partitions.flat();
        expect([...flat].sort()).toEqual([...mesh.nodes].sort());
        const partitionOf = new Map<string, number>();
        state.partitions.forEach((partition, index) =>
          partition.forEach((node) => partitionOf.set(node, index)),
        );
        for (const a of mesh.nodes)
          for (const b of mesh.nodes)
            if (hasLink(mesh, a, b)) expect(partitionOf.get(a)).toBe(partitionOf.get(b));
        for (let index = 1; index < state.partitions.length; index += 1)
          expect(state.partitions[index - 1]!.length).toBeGreaterThanOrEqual(
            state.partitions[index]!.length,
          );
      }),
    );
  });

  it('an unchanged state yields no events and no delta', () => {
    fc.assert(
      fc.property(arbitraryState, (state) => {
        expect(diffClusterStates(state, state)).toEqual([]);
        expect(diffClusterState(state, state)).toBeNull();
      }),
    );
  });
});
