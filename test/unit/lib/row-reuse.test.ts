import { describe, expect, it } from 'vitest';

import { applyClusterDelta, diffClusterState } from '@/lib/cluster-diff';
import { membershipRows, partitionLabel, sortRows } from '@/lib/membership';
import { MeshBuilder } from '@/lib/mesh';
import { MemberRowCache, reuseRows, RowKeeper, sameRow } from '@/lib/row-reuse';

import { fullMesh, ip, n, pod, side, stateOf, swarm } from './fixtures';

const nodes = Array.from({ length: 50 }, (_, index) => index + 1);

describe('the membership table’s rows across deltas', () => {
  it('keeps every row object when a state reads the same', () => {
    const keeper = new RowKeeper();
    const first = keeper.keep(
      membershipRows(
        stateOf(
          nodes.map((i) => pod(ip(i))),
          fullMesh(nodes),
        ),
      ),
    );
    const second = keeper.keep(
      membershipRows(
        stateOf(
          nodes.map((i) => pod(ip(i))),
          fullMesh(nodes),
          2000,
        ),
      ),
    );
    expect(second).toBe(first);
  });

  it('hands back a new object only for the rows a delta touched', () => {
    const meshes = new MeshBuilder();
    const sides = fullMesh(nodes).map((entry) => ({ ...entry, registries: [swarm(100, 2)] }));
    const keeper = new RowKeeper();
    const before = keeper.keep(
      membershipRows(
        stateOf(
          nodes.map((i) => pod(ip(i))),
          sides,
          1,
          meshes,
        ),
      ),
    );
    // Node 7 hosts one more name; pod 20 goes unready.
    const touched = sides.map((entry) =>
      entry.node === n(7) ? { ...entry, registries: [swarm(100, 3)] } : entry,
    );
    const pods = nodes.map((i) => pod(ip(i), i === 20 ? { ready: false } : {}));
    const after = keeper.keep(membershipRows(stateOf(pods, touched, 2, meshes)));
    const renewed = after.filter((row, index) => row !== before[index]);
    expect(renewed.map((row) => row.node)).toEqual([n(7), n(20)]);
    // What a memoised row compares: every other row's props are the very same objects.
    expect(after.filter((row) => before.includes(row))).toHaveLength(48);
  });

  it('tells rows apart by every field, the registries entry by entry', () => {
    const [row] = membershipRows(
      stateOf([pod(ip(1))], [side(n(1), [], { registries: [swarm(5, 1)] })]),
    );
    expect(sameRow(row!, { ...row! })).toBe(true);
    expect(sameRow(row!, { ...row!, registries: [...row!.registries] })).toBe(true);
    expect(sameRow(row!, { ...row!, uptimeMs: 1 })).toBe(false);
    expect(sameRow(row!, { ...row!, registries: [{ ...row!.registries[0]!, hosted: 2 }] })).toBe(
      false,
    );
    expect(reuseRows([row!], [])).toEqual([]);
  });

  it('shows and sorts by partition, the main one marked', () => {
    const state = stateOf(
      [1, 2, 3, 4, 5, 6].map((i) => pod(ip(i))),
      [
        ...fullMesh([1, 2, 3]),
        ...fullMesh([4, 5]),
        side(n(6), null, { connection: { status: 'unreachable', since: 1 } }),
      ],
    );
    const rows = membershipRows(state);
    expect(rows.map(partitionLabel)).toEqual(['1 (main)', '1 (main)', '1 (main)', '2', '2', null]);
    const sorted = sortRows(rows, { column: 'partition', direction: 'descending' });
    expect(sorted.map((row) => row.node)).toEqual([n(4), n(5), n(1), n(2), n(3), n(6)]);
  });
});

describe('MemberRowCache', () => {
  it('builds rows equal to membershipRows, and again only for the members a delta replaced', () => {
    const meshes = new MeshBuilder();
    const sides = fullMesh(nodes).map((entry) => ({ ...entry, registries: [swarm(100, 2)] }));
    const pods = nodes.map((i) => pod(ip(i)));
    const before = stateOf(pods, sides, 1, meshes);
    const cache = new MemberRowCache();
    const first = cache.rowsOf(before);
    expect(first).toEqual(membershipRows(before));
    // Node 7's process count moves; the page applies the delta, which keeps the other members.
    const touched = sides.map((entry) =>
      entry.node === n(7) ? { ...entry, processCount: entry.processCount! + 5 } : entry,
    );
    const next = stateOf(pods, touched, 2, meshes);
    const applied = applyClusterDelta(before, diffClusterState(before, next)!);
    const second = cache.rowsOf(applied);
    expect(second).toEqual(membershipRows(applied));
    const renewed = second.filter((row, index) => row !== first[index]);
    expect(renewed.map((row) => row.node)).toEqual([n(7)]);
    expect(renewed[0]!.processes).toBe(first[6]!.processes! + 5);
  });

  it('builds every row again when what rows read of the whole state changed', () => {
    const meshes = new MeshBuilder();
    const pods = nodes.map((i) => pod(ip(i)));
    const whole = stateOf(pods, fullMesh(nodes), 1, meshes);
    const cache = new MemberRowCache();
    const first = cache.rowsOf(whole);
    // The same member objects under another main partition: every row's state may differ.
    const moved = { ...whole, mainPartition: null };
    const second = cache.rowsOf(moved);
    expect(second).toEqual(membershipRows(moved));
    expect(second.every((row, index) => row !== first[index])).toBe(true);
    expect(second.every((row) => row.state !== 'clustered')).toBe(true);
  });
});
