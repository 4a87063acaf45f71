import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  ADJACENCY_CELLS,
  buildAdjacency,
  cellState,
  describeCell,
  type AdjacencyCell,
  type AdjacencyModel,
} from '@/lib/adjacency';
import type { ClusterState } from '@/lib/cluster-state';
import { MeshBuilder } from '@/lib/mesh';

import { fullMesh, ip, n, pod, side, stateOf } from './fixtures';

/** The cell of every pair read one lookup at a time, as the model's fast paths must agree with. */
function slowCell(state: ClusterState, model: AdjacencyModel, row: number, col: number) {
  const views = new MeshBuilder().ofState(state).views;
  const a = model.members[row]!;
  const b = model.members[col]!;
  if (row === col) return 'self';
  const aView = a.node === null ? undefined : views.get(a.node);
  const bView = b.node === null ? undefined : views.get(b.node);
  if (!aView || !bView) return 'unknown';
  const out = aView.has(b.node!);
  const into = bView.has(a.node!);
  if (out && into) return 'link';
  if (out) return 'one-sided-out';
  if (into) return 'one-sided-in';
  return a.block === b.block && model.blocks[a.block]!.kind === 'partition' ? 'missing' : 'split';
}

function everyCell(model: AdjacencyModel): AdjacencyCell[][] {
  return model.members.map((_, row) => model.members.map((_, col) => cellState(model, row, col)));
}

describe('buildAdjacency', () => {
  it('sorts members by partition then name, and draws a whole mesh as one block of links', () => {
    const state = stateOf(
      [3, 1, 2, 10].map((i) => pod(ip(i))),
      fullMesh([3, 1, 2, 10]),
    );
    const model = buildAdjacency(state);
    expect(model.members.map((member) => member.node)).toEqual([n(1), n(2), n(3), n(10)]);
    expect(model.blocks).toEqual([
      { label: 'mesh · 4', kind: 'partition', main: true, start: 0, size: 4 },
    ]);
    expect(everyCell(model)).toEqual(
      [0, 1, 2, 3].map((row) => [0, 1, 2, 3].map((col) => (row === col ? 'self' : 'link'))),
    );
    expect(model.counts).toMatchObject({ self: 4, link: 12, split: 0, missing: 0 });
    expect(model.trouble).toEqual([]);
    expect(model.rowOfNode.get(n(10))).toBe(3);
  });

  it('draws two partitions as two blocks, split from each other', () => {
    const state = stateOf(
      [1, 2, 3, 4, 5].map((i) => pod(ip(i))),
      [...fullMesh([1, 2, 3]), ...fullMesh([4, 5])],
    );
    const model = buildAdjacency(state);
    expect(
      model.blocks.map(({ kind, main, start, size }) => ({ kind, main, start, size })),
    ).toEqual([
      { kind: 'partition', main: true, start: 0, size: 3 },
      { kind: 'partition', main: false, start: 3, size: 2 },
    ]);
    expect(model.blocks[0]!.label).toBe('partition 1 (main) · 3');
    expect(cellState(model, 0, 1)).toBe('link');
    expect(cellState(model, 0, 3)).toBe('split');
    expect(cellState(model, 4, 2)).toBe('split');
    expect(cellState(model, 3, 4)).toBe('link');
    expect(model.counts).toMatchObject({ self: 5, link: 6 + 2, split: 12 });
    expect(describeCell(model, 0, 3)).toBe(
      `${n(1)} | ${n(4)}: in different partitions (partition 1 (main) · 3 and partition 2 · 2)`,
    );
  });

  it('marks one-sided links by direction and missing links inside a partition', () => {
    // 1 lists 2, 2 does not list 1; 3 and 4 are in the mesh through 2 but do not see each other.
    const state = stateOf(
      [1, 2, 3, 4].map((i) => pod(ip(i))),
      [
        side(n(1), [n(2), n(3), n(4)]),
        side(n(2), [n(3), n(4)]),
        side(n(3), [n(1), n(2)]),
        side(n(4), [n(1), n(2)]),
      ],
    );
    const model = buildAdjacency(state);
    expect(cellState(model, 0, 1)).toBe('one-sided-out');
    expect(cellState(model, 1, 0)).toBe('one-sided-in');
    expect(cellState(model, 2, 3)).toBe('missing');
    expect(cellState(model, 3, 2)).toBe('missing');
    expect(model.trouble).toEqual([
      { row: 0, col: 1, cell: 'one-sided-out' },
      { row: 1, col: 0, cell: 'one-sided-in' },
      { row: 2, col: 3, cell: 'missing' },
      { row: 3, col: 2, cell: 'missing' },
    ]);
    expect(describeCell(model, 0, 1)).toBe(
      `${n(1)} → ${n(2)}: one-sided, ${n(1)} lists ${n(2)} but ${n(2)} does not list ${n(1)}`,
    );
    expect(describeCell(model, 2, 3)).toContain('missing');
  });

  it('puts members outside the mesh in a last block whose cells are unknown', () => {
    const state = stateOf(
      [1, 2, 3].map((i) => pod(ip(i))),
      [
        ...fullMesh([1, 2]),
        side(n(3), null, { connection: { status: 'unreachable', since: 1, reason: 'refused' } }),
      ],
    );
    const model = buildAdjacency(state);
    expect(model.blocks.map((block) => block.kind)).toEqual(['partition', 'outside']);
    expect(model.members[2]!.node).toBe(n(3));
    expect(model.members[2]!.peersKnown).toBe(false);
    expect(cellState(model, 2, 0)).toBe('unknown');
    expect(cellState(model, 0, 2)).toBe('unknown');
    expect(cellState(model, 2, 2)).toBe('self');
    expect(describeCell(model, 0, 2)).toBe(
      `${n(1)} · ${n(3)}: unknown, the peers of ${n(3)} are not known`,
    );
    expect(cellState(model, 5, 0)).toBe('unknown');
    expect(describeCell(model, 5, 0)).toBeNull();
  });

  it('caps the listed trouble cells but keeps every cell', () => {
    // Nobody lists anybody but node 1: every pair among 2..6 is missing.
    const nodes = [1, 2, 3, 4, 5, 6];
    const state = stateOf(
      nodes.map((i) => pod(ip(i))),
      nodes.map((i) => side(n(i), i === 1 ? nodes.filter((j) => j !== 1).map(n) : [n(1)])),
    );
    const model = buildAdjacency(state, { maxTrouble: 3 });
    expect(model.trouble).toHaveLength(3);
    expect(model.troubleTruncated).toBe(true);
    expect(model.counts.missing).toBe(20);
  });

  it('agrees with a pair-by-pair reading on random meshes', () => {
    const nodes = [1, 2, 3, 4, 5, 6, 7];
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.subarray(nodes), { nil: null }), {
          minLength: nodes.length,
          maxLength: nodes.length,
        }),
        fc.array(fc.boolean(), { minLength: nodes.length, maxLength: nodes.length }),
        (lists, podded) => {
          const state = stateOf(
            nodes
              .filter((_, index) => podded[index] || lists[index] === null)
              .map((i) => pod(ip(i))),
            nodes.map((i, index) => {
              const list = lists[index];
              return list === null
                ? side(n(i), null, { connection: { status: 'unreachable', since: 1 } })
                : side(n(i), list!.filter((j) => j !== i).map(n));
            }),
          );
          const model = buildAdjacency(state);
          const counts = Object.fromEntries(ADJACENCY_CELLS.map((cell) => [cell, 0]));
          for (let row = 0; row < model.size; row += 1) {
            for (let col = 0; col < model.size; col += 1) {
              const cell = cellState(model, row, col);
              expect(cell).toBe(slowCell(state, model, row, col));
              counts[cell]! += 1;
            }
          }
          expect(model.counts).toEqual(counts);
          expect(model.size).toBe(state.members.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps the cells of the model before when the peer lists and the rows did not change', () => {
    const meshes = new MeshBuilder();
    const sides = fullMesh([1, 2, 3]);
    const pods = [1, 2, 3].map((i) => pod(ip(i)));
    const first = buildAdjacency(stateOf(pods, sides, 1, meshes));
    const loadChanged = sides.map((entry) => ({ ...entry, processCount: 999 }));
    const second = buildAdjacency(stateOf(pods, loadChanged, 2, meshes), {
      previous: first,
    });
    expect(second.cells).toBe(first.cells);
    const split = [...fullMesh([1, 2]), side(n(3), [])];
    const third = buildAdjacency(stateOf(pods, split, 3, meshes), { previous: second });
    expect(third.cells).not.toBe(first.cells);
    expect(third.blocks).toHaveLength(2);
  });

  it('hands back the model before itself when nothing it shows changed', () => {
    const meshes = new MeshBuilder();
    const sides = fullMesh([1, 2, 3]);
    const pods = [1, 2, 3].map((i) => pod(ip(i)));
    const first = buildAdjacency(stateOf(pods, sides, 1, meshes));
    // A delta of load figures: the same model, so the view has nothing to render again.
    const loadChanged = sides.map((entry) => ({ ...entry, processCount: 999 }));
    const second = buildAdjacency(stateOf(pods, loadChanged, 2, meshes), {
      previous: first,
    });
    expect(second).toBe(first);
    // A pod going away from its node's state (terminating) changes a row's state: a new model
    // that keeps the cells.
    const terminating = [pod(ip(1), { terminating: true }), ...pods.slice(1)];
    const third = buildAdjacency(stateOf(terminating, loadChanged, 3, meshes), {
      previous: second,
    });
    expect(third).not.toBe(second);
    expect(third.cells).toBe(first.cells);
    expect(third.members[0]!.state).toBe('terminating');
  });
});
