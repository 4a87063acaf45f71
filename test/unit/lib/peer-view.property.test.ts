import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import type { BeamSide } from '@/lib/cluster-state';
import { type Mesh, MeshBuilder, type MeshView, partitionsOf } from '@/lib/mesh';
import { compareNames } from '@/lib/names';
import { NodeTable, RelativePeers } from '@/lib/peer-view';

import { n, pod, side, stateOf } from './fixtures';

/**
 * The compact mesh (views relative to a node table, facts read from what they miss) against the
 * definition: every list as a plain set, every fact from a walk of every pair.
 */
function fullMesh(views: readonly MeshView[]): Mesh {
  const lists = new Map<string, readonly string[]>();
  const sets = new Map<string, Set<string>>();
  for (const view of views) {
    if (!view.sees) continue;
    lists.set(view.node, view.sees);
    sets.set(view.node, new Set(view.sees.filter((peer) => peer !== view.node)));
  }
  const nodes = new Set<string>();
  const asymmetric: Array<{ from: string; to: string }> = [];
  for (const [node, sees] of sets) {
    nodes.add(node);
    for (const peer of sees) {
      nodes.add(peer);
      if (sets.has(peer) && !sets.get(peer)!.has(node)) asymmetric.push({ from: node, to: peer });
    }
  }
  asymmetric.sort((x, y) => compareNames(x.from, y.from) || compareNames(x.to, y.to));
  return { nodes: [...nodes].sort(compareNames), lists, views: sets, asymmetric };
}

/** A builder that builds the full mesh, for a state derived the long way. */
class FullMeshes extends MeshBuilder {
  override build(views: readonly MeshView[]): Mesh {
    return fullMesh(views);
  }
}

const NODES = 10;
const indexes = Array.from({ length: NODES }, (_, index) => index + 1);
const others = (index: number) => indexes.filter((other) => other !== index);

/** One node's `nodes()` answer in one step of a random history. */
const arbitraryList = (index: number, step: number) =>
  fc.oneof(
    // The whole mesh, and a netsplit's side (a node sees its own half).
    { arbitrary: fc.constant(others(index).map(n)), weight: 4 },
    {
      arbitrary: fc.constant(
        others(index)
          .filter((o) => o % 2 === index % 2)
          .map(n),
      ),
      weight: 2,
    },
    // Any part of it (one-sided links), in any order, with itself or a repeat in it.
    { arbitrary: fc.shuffledSubarray(others(index)).map((peers) => peers.map(n)), weight: 2 },
    {
      arbitrary: fc
        .subarray(indexes)
        .map((peers) => [...peers, ...peers.slice(0, 1)].map(n).sort(compareNames)),
      weight: 1,
    },
    // Peers beamscope does not track (ghosts), and an absurd list of names never seen again.
    {
      arbitrary: fc
        .subarray(others(index))
        .map((peers) => [...peers.map(n), 'ghost@10.9.9.1', 'other-app@10.9.9.2']),
      weight: 1,
    },
    {
      arbitrary: fc.constant(
        Array.from({ length: 90 }, (_, junk) => `junk-${step}-${index}-${junk}@nowhere`),
      ),
      weight: 1,
    },
    { arbitrary: fc.constant(null), weight: 1 },
  );

/**
 * Which nodes keep the very same list array as the step before: any, or all but one (a poll
 * that changed one list, which the builder takes from the last mesh instead of rebuilding).
 */
const keepArbitrary = fc.oneof(
  fc.array(fc.boolean(), { minLength: NODES, maxLength: NODES }),
  fc.nat(NODES - 1).map((changed) => indexes.map((_, index) => index !== changed)),
);

/** A history of a few steps; a node's list is sometimes the very same array as the step before. */
const arbitraryHistory = fc
  .array(fc.tuple(fc.nat(), keepArbitrary), {
    minLength: 1,
    maxLength: 6,
  })
  .chain((steps) =>
    fc.tuple(
      ...steps.map((_, step) => fc.tuple(...indexes.map((index) => arbitraryList(index, step)))),
      fc.constant(steps.map(([, keep]) => keep)),
    ),
  )
  .map((parts) => {
    const keeps = parts.pop() as boolean[][];
    const lists = parts as Array<Array<string[] | null>>;
    for (let step = 1; step < lists.length; step += 1) {
      for (let node = 0; node < NODES; node += 1) {
        if (keeps[step]![node]) lists[step]![node] = lists[step - 1]![node]!;
      }
    }
    return lists;
  });

/**
 * The nodes a caller expects (its pods' nodes): none (no set), some, or ones that never report
 * (a ghost's name, a pod whose node is gone); their names join the table as lists name them.
 */
const arbitraryExpected = fc.option(
  fc
    .tuple(fc.subarray(indexes), fc.subarray(['ghost@10.9.9.1', 'gone@10.9.9.3']))
    .map(([some, others]) => new Set([...some.map(n), ...others])),
  { nil: undefined },
);

const sorted = (names: Iterable<string>) => [...names].sort(compareNames);

describe('the compact mesh', () => {
  // Hundreds of random histories: seconds on a busy machine, not a time asserted.
  it(
    'holds the same views and derives the same facts as the full one (property)',
    { timeout: 60_000 },
    () => {
      fc.assert(
        fc.property(arbitraryHistory, arbitraryExpected, (history, expected) => {
          // One builder across the steps, as a collector holds one: its table grows, views built
          // at different steps cover different prefixes, and absurd lists make it start afresh.
          const meshes = new MeshBuilder();
          for (const lists of history) {
            const views = indexes.map((index) => ({ node: n(index), sees: lists[index - 1]! }));
            const compact = meshes.build(views, expected);
            const full = fullMesh(views);
            expect(compact.nodes).toEqual(full.nodes);
            expect(compact.asymmetric).toEqual(full.asymmetric);
            expect(sorted(compact.views.keys())).toEqual(sorted(full.views.keys()));
            const asHeld = (views: Mesh['views']) =>
              [...views].map(([node, view]) => ({
                node,
                size: view.size,
                names: sorted(view),
                has: full.nodes.map((name) => view.has(name)),
              }));
            expect(asHeld(compact.views).sort((x, y) => compareNames(x.node, y.node))).toEqual(
              asHeld(full.views).sort((x, y) => compareNames(x.node, y.node)),
            );
            expect(partitionsOf(compact)).toEqual(partitionsOf(full));
          }
        }),
        { numRuns: 300 },
      );
    },
  );

  it(
    'gives the same cluster state: partitions, one-sided links, unclustered, ghosts (property)',
    { timeout: 60_000 },
    () => {
      fc.assert(
        fc.property(arbitraryHistory, fc.subarray(indexes), (history, pods) => {
          const meshes = new MeshBuilder();
          for (const lists of history) {
            const sides = indexes.map((index): BeamSide =>
              lists[index - 1] === null
                ? side(n(index), null, { connection: { status: 'unreachable', since: 1 } })
                : side(n(index), lists[index - 1]!),
            );
            const members = pods.map((index) => pod(`10.0.0.${index}`));
            const compact = stateOf(members, sides, 1000, meshes);
            const full = stateOf(members, sides, 1000, new FullMeshes());
            expect(compact).toEqual(full);
          }
        }),
        { numRuns: 200 },
      );
    },
  );

  it('holds a whole mesh of 2,000 nodes without a set entry per link', () => {
    const names = Array.from({ length: 2000 }, (_, index) => `myapp@10.0.${index >> 8}.${index}`);
    const mesh = new MeshBuilder().build(
      names.map((node) => ({ node, sees: names.filter((peer) => peer !== node) })),
    );
    const views = [...mesh.views.values()] as RelativePeers[];
    expect(views.every((view) => view instanceof RelativePeers && view.missing.size === 0)).toBe(
      true,
    );
    expect(views.every((view) => view.size === 1999)).toBe(true);
    expect(mesh.asymmetric).toEqual([]);
    expect(mesh.nodes).toHaveLength(2000);
  });

  it('builds the views of the first reporters again once the table has stopped growing', () => {
    // A start: the nodes report one poll at a time, each listing the whole mesh, so the first
    // ones list hundreds of nodes not yet in the table (held one by one in `extra`).
    const names = Array.from({ length: 300 }, (_, index) => `myapp@10.0.${index >> 8}.${index}`);
    const lists = names.map((node) => names.filter((peer) => peer !== node));
    const meshes = new MeshBuilder();
    for (let reported = 1; reported <= names.length; reported += 1) {
      meshes.build(
        names.map((node, index) => ({ node, sees: index < reported ? lists[index]! : null })),
      );
    }
    const all = names.map((node, index) => ({ node, sees: lists[index]! }));
    const extras = (mesh: Mesh) =>
      [...mesh.views.values()].reduce((sum, view) => sum + (view as RelativePeers).extra.size, 0);
    expect(extras(meshes.build(all))).toBeGreaterThan(0);
    // The same lists, the table settled: views built again, no name held one by one.
    const settled = meshes.build(all);
    expect(extras(settled)).toBe(0);
    const full = fullMesh(all);
    expect(settled.nodes).toEqual(full.nodes);
    expect(settled.asymmetric).toEqual(full.asymmetric);
    for (const [node, view] of settled.views) {
      expect(sorted(view)).toEqual(sorted(full.views.get(node)!));
      expect(view.size).toBe(full.views.get(node)!.size);
    }
    // And then reused as it is.
    expect(meshes.build(all)).toBe(settled);
  });

  it('a view covers only the names met before it: a later joiner is not listed', () => {
    const table = new NodeTable();
    const early = RelativePeers.of(table, 'a@h', ['b@h']);
    const late = RelativePeers.of(table, 'c@h', ['a@h', 'b@h']);
    expect(early.has('c@h')).toBe(false);
    expect([...early]).toEqual(['b@h']);
    expect(late.has('a@h') && late.has('b@h') && !late.has('c@h')).toBe(true);
    expect(late.missing.size).toBe(0);
  });
});
