import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { buildMesh, hasLink, isWholeMesh, MeshBuilder, meshLinks, partitionsOf } from '@/lib/mesh';
import { compareNames } from '@/lib/names';

describe('buildMesh', () => {
  it('counts a link reported by either side and flags the one-sided ones', () => {
    const mesh = buildMesh([
      { node: 'a@h', sees: ['b@h', 'c@h'] },
      { node: 'b@h', sees: ['a@h'] },
      { node: 'c@h', sees: [] },
      { node: 'd@h', sees: null },
    ]);
    expect(mesh.nodes).toEqual(['a@h', 'b@h', 'c@h']);
    expect(hasLink(mesh, 'c@h', 'a@h')).toBe(true);
    expect(hasLink(mesh, 'b@h', 'c@h')).toBe(false);
    expect(meshLinks(mesh)).toEqual([
      ['a@h', 'b@h'],
      ['a@h', 'c@h'],
    ]);
    expect(mesh.asymmetric).toEqual([{ from: 'a@h', to: 'c@h' }]);
  });

  it('updated from the previous mesh, equals one built from scratch, step after step', () => {
    // A builder updates its last mesh when few lists changed: check it against the definition.
    const names = Array.from({ length: 16 }, (_, index) => `n${index}@h`);
    const list = fc.subarray(names);
    const reference = (views: Array<{ node: string; sees: string[] | null }>) => {
      const sets = new Map<string, Set<string>>();
      for (const view of views) {
        if (view.sees) sets.set(view.node, new Set(view.sees.filter((peer) => peer !== view.node)));
      }
      const nodes = new Set<string>();
      const asymmetric: Array<{ from: string; to: string }> = [];
      for (const [node, sees] of sets) {
        nodes.add(node);
        for (const peer of sees) {
          nodes.add(peer);
          if (sets.has(peer) && !sets.get(peer)!.has(node))
            asymmetric.push({ from: node, to: peer });
        }
      }
      asymmetric.sort((x, y) => compareNames(x.from, y.from) || compareNames(x.to, y.to));
      return { nodes: [...nodes].sort(compareNames), asymmetric };
    };
    fc.assert(
      fc.property(
        fc.array(list, { minLength: 16, maxLength: 16 }),
        fc.array(fc.tuple(fc.nat(15), fc.option(list, { freq: 4 })), { maxLength: 12 }),
        (initial, steps) => {
          const views = names.map((node, index) => ({ node, sees: initial[index] ?? null }));
          const meshes = new MeshBuilder();
          meshes.build(views);
          for (const [index, sees] of steps) {
            views[index] = { node: names[index]!, sees };
            const mesh = meshes.build([...views]);
            const expected = reference(views);
            expect(mesh.nodes).toEqual(expected.nodes);
            expect(mesh.asymmetric).toEqual(expected.asymmetric);
            expect([...mesh.views.keys()].sort()).toEqual(
              views
                .filter((view) => view.sees)
                .map((view) => view.node)
                .sort(),
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('does not call a link asymmetric when the other side has not reported', () => {
    const mesh = buildMesh([{ node: 'a@h', sees: ['b@h'] }]);
    expect(mesh.nodes).toEqual(['a@h', 'b@h']);
    expect(mesh.asymmetric).toEqual([]);
  });
});

/** A mesh given as undirected links, each reported by its first node only. */
function fromLinks(nodes: string[], links: Array<[string, string]>) {
  const views = new Map<string, Set<string>>();
  for (const [a, b] of links) {
    const set = views.get(a) ?? new Set<string>();
    set.add(b);
    views.set(a, set);
  }
  return { nodes, views };
}

describe('partitionsOf', () => {
  it('finds connected components, largest first, ties by the smallest name', () => {
    const partitions = partitionsOf(
      fromLinks(
        ['e', 'a', 'b', 'c', 'd', 'f'],
        [
          ['c', 'd'],
          ['a', 'b'],
          ['e', 'f'],
          ['d', 'e'],
        ],
      ),
    );
    expect(partitions).toEqual([
      ['c', 'd', 'e', 'f'],
      ['a', 'b'],
    ]);
    expect(partitionsOf(fromLinks(['z', 'y'], []))).toEqual([['y'], ['z']]);
    expect(partitionsOf(fromLinks([], []))).toEqual([]);
  });

  it('gives the same answer whatever the order of the input', () => {
    const links: Array<[string, string]> = [
      ['a', 'b'],
      ['c', 'd'],
    ];
    const forward = partitionsOf(fromLinks(['a', 'b', 'c', 'd'], links));
    const backward = partitionsOf(
      fromLinks(
        ['d', 'c', 'b', 'a'],
        [...links].reverse().map(([a, b]): [string, string] => [b, a]),
      ),
    );
    expect(backward).toEqual(forward);
    expect(forward[0]).toEqual(['a', 'b']);
  });

  it('tells a whole mesh from its sizes, and agrees with a walk of the links (property)', () => {
    const names = Array.from({ length: 6 }, (_, index) => `n${index}@h`);
    const others = (node: string) => names.filter((name) => name !== node);
    // Mostly whole meshes, some nodes silent or seeing fewer: the fast path and the walk meet.
    const view = (node: string) =>
      fc.oneof(
        { arbitrary: fc.constant(others(node)), weight: 4 },
        { arbitrary: fc.subarray(others(node)), weight: 1 },
        { arbitrary: fc.constant(null), weight: 1 },
      );
    const components = (mesh: ReturnType<typeof buildMesh>) => {
      const seen = new Set<string>();
      const out: string[][] = [];
      for (const start of mesh.nodes) {
        if (seen.has(start)) continue;
        const group = [start];
        seen.add(start);
        for (let index = 0; index < group.length; index += 1) {
          for (const next of mesh.nodes) {
            if (!seen.has(next) && hasLink(mesh, group[index]!, next)) {
              seen.add(next);
              group.push(next);
            }
          }
        }
        out.push(group.sort(compareNames));
      }
      return out.sort((x, y) => y.length - x.length || compareNames(x[0]!, y[0]!));
    };
    let whole = 0;
    fc.assert(
      fc.property(fc.tuple(...names.map(view)), (lists) => {
        const mesh = buildMesh(names.map((node, index) => ({ node, sees: lists[index]! })));
        if (isWholeMesh(mesh)) whole += 1;
        expect(partitionsOf(mesh)).toEqual(components(mesh));
      }),
      { numRuns: 500 },
    );
    // Both paths were taken.
    expect(whole).toBeGreaterThan(0);
    expect(whole).toBeLessThan(500);
  });

  // Millions of names to build: seconds on a busy machine, not a time asserted.
  it('finds a 2,000-node whole mesh to be one component', { timeout: 60_000 }, () => {
    const nodes = Array.from({ length: 2000 }, (_, index) => `n${index}@h`);
    const mesh = buildMesh(nodes.map((node) => ({ node, sees: nodes.filter((n) => n !== node) })));
    expect(isWholeMesh(mesh)).toBe(true);
    expect(partitionsOf(mesh)).toEqual([[...nodes].sort(compareNames)]);
  });
});
