import { describe, expect, it } from 'vitest';

import {
  easeTowardTargets,
  FIXED_LAYOUT_THRESHOLD,
  FIXED_SPACING,
  fixedPositions,
  gridColumns,
  usesFixedLayout,
} from '@/lib/fixed-layout';

const mark = (name: string, group: number) => ({ id: `uid-${name}`, label: name, group });
const names = (count: number, prefix = 'myapp@10.0.0.') =>
  Array.from({ length: count }, (_, index) => `${prefix}${index + 1}`);

describe('fixed layout', () => {
  it('takes over from the force layout above the threshold', () => {
    expect(usesFixedLayout(FIXED_LAYOUT_THRESHOLD)).toBe(false);
    expect(usesFixedLayout(FIXED_LAYOUT_THRESHOLD + 1)).toBe(true);
    expect(gridColumns(1)).toBe(1);
    expect(gridColumns(600)).toBe(25);
  });

  it('lays a group out on a grid by name, whatever order the marks come in', () => {
    const nodes = names(9).map((name) => mark(name, 0));
    const positions = fixedPositions(nodes, [{ size: 9 }]);
    const shuffled = fixedPositions([...nodes].reverse(), [{ size: 9 }]);
    expect(shuffled).toEqual(positions);
    // Ranked by name: 1..9 fill a 3×3 grid row by row.
    const first = positions.get('uid-myapp@10.0.0.1')!;
    const second = positions.get('uid-myapp@10.0.0.2')!;
    const fourth = positions.get('uid-myapp@10.0.0.4')!;
    expect(second.x - first.x).toBe(FIXED_SPACING);
    expect(second.y).toBe(first.y);
    expect(fourth.x).toBe(first.x);
    expect(fourth.y - first.y).toBe(FIXED_SPACING);
  });

  it('keeps groups apart: no two marks of different groups closer than a grid cell', () => {
    const nodes = [
      ...names(600, 'a@10.0.1.').map((name) => mark(name, 0)),
      ...names(300, 'b@10.0.2.').map((name) => mark(name, 1)),
      ...names(100, 'c@10.0.3.').map((name) => mark(name, 2)),
    ];
    const positions = fixedPositions(nodes, [{ size: 600 }, { size: 300 }, { size: 100 }]);
    expect(positions.size).toBe(1000);
    const boxes = [0, 1, 2].map((group) => {
      const points = nodes
        .filter((node) => node.group === group)
        .map((node) => positions.get(node.id)!);
      return {
        minX: Math.min(...points.map((p) => p.x)),
        maxX: Math.max(...points.map((p) => p.x)),
        minY: Math.min(...points.map((p) => p.y)),
        maxY: Math.max(...points.map((p) => p.y)),
      };
    });
    for (let a = 0; a < boxes.length; a += 1) {
      for (let b = a + 1; b < boxes.length; b += 1) {
        const apart =
          boxes[a]!.maxX + FIXED_SPACING < boxes[b]!.minX ||
          boxes[b]!.maxX + FIXED_SPACING < boxes[a]!.minX ||
          boxes[a]!.maxY + FIXED_SPACING < boxes[b]!.minY ||
          boxes[b]!.maxY + FIXED_SPACING < boxes[a]!.minY;
        expect(apart).toBe(true);
      }
    }
  });

  it('moves only the marks ranked after a member that leaves', () => {
    const before = names(400).map((name) => mark(name, 0));
    const after = before.filter((node) => node.label !== 'myapp@10.0.0.300');
    const a = fixedPositions(before, [{ size: 400 }]);
    const b = fixedPositions(after, [{ size: 399 }]);
    const moved = after.filter((node) => {
      const p = a.get(node.id)!;
      const q = b.get(node.id)!;
      return p.x !== q.x || p.y !== q.y;
    });
    expect(moved.map((node) => node.label)).toEqual(
      names(400)
        .slice(300)
        .map((name) => name),
    );
  });

  it('eases marks to their targets over a few steps, then reports them still', () => {
    const marks = [
      { x: 0, y: 0, target: { x: 100, y: -40 } },
      { x: 5, y: 5 },
    ];
    let steps = 0;
    while (easeTowardTargets(marks)) steps += 1;
    expect(steps).toBeGreaterThan(3);
    expect(marks[0]).toMatchObject({ x: 100, y: -40 });
    expect(marks[1]).toEqual({ x: 5, y: 5 });
  });
});
